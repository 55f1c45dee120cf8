"""The API's chat says whether it is under legal hold, with the reason, since when, by whom;
null when it is not. A key that may not read the chat learns nothing of it."""

from __future__ import annotations

from typing import Any

from messages.legal_hold import do_release_legal_hold, do_set_legal_hold

TEAM = -1001234567890123
FORUM = -1003141592653589


def test_a_held_chat_shows_its_hold_and_others_null(demo: None, make_api_client: Any) -> None:
    api = make_api_client()
    hold = do_set_legal_hold(TEAM, "Subpoena 7")
    body = api.get(f"/api/v1/chats/{TEAM}/").json()
    assert body["legal_hold"] == {
        "reason": "Subpoena 7",
        "since": hold.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "by": hold.by,
    }
    listed = {c["id"]: c["legal_hold"] for c in api.get("/api/v1/chats/").json()["results"]}
    assert listed[TEAM]["reason"] == "Subpoena 7"
    assert listed[FORUM] is None
    assert api.get(f"/api/v1/chats/{FORUM}/").json()["legal_hold"] is None
    # A key limited to another chat: the held chat does not exist for it.
    assert make_api_client(FORUM).get(f"/api/v1/chats/{TEAM}/").status_code == 404
    do_release_legal_hold(TEAM)
    assert api.get(f"/api/v1/chats/{TEAM}/").json()["legal_hold"] is None


def test_the_schema_documents_the_hold(demo: None, api: Any) -> None:
    schema = api.get("/api/schema/?format=json").json()
    assert "legal_hold" in schema["components"]["schemas"]["Chat"]["properties"]
