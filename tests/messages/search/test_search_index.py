"""Search over the sealed archive with the blind index, end to end on both store backends:
messages in through the webhook, the index built by build_search_index, searched through the
API (and exported), and kept right through edits, key rotation, re-encryption, purges, shreds
and turning it off."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from google.cloud.firestore_v1.base_query import FieldFilter

from crypto.blindindex import Search, index_key, token
from messages import sealing
from messages.models import AuditEntry, SearchIndex, SearchToken
from messages.stores import get_store, orm
from messages.stores.firestore import FirestoreStore
from tests.conftest import Webhook
from tests.factories import ChatFactory, MessageFactory, UpdateFactory, edited

A, B, C = -1001000000000101, -1001000000000202, -1001000000000303
PHOTO = [{"file_id": "AgACAgIAAxkBAAIB", "file_unique_id": "AQADdQ", "width": 90, "height": 67}]

# (chat, message_id, text or caption); a photo's caption is searched as its text.
BEFORE_BUILD = [
    (A, 1, "The release checklist for build 4.2 is ready"),
    (A, 2, "Проверьте релиз до пятницы, пожалуйста"),
    (A, 3, "東京オフィスの会議は明日です"),
    (A, 4, "مرحبا بالفريق، الإصدار جاهز"),
    (A, 5, "Deploy went fine 🎉🎉"),
    (A, 6, "photo: Whiteboard from the RELEASE retro"),
    (B, 1, "The release checklist is ready for review"),
    (B, 2, "Lunch? 🍕"),
    (C, 1, "release party in chat C, never indexed"),
]
AFTER_BUILD = [
    (A, 7, "Release notes: the Straße is closed"),
    (A, 8, "会議室は三階"),
    (B, 3, "пятницы не будет"),
]
EDIT = (A, 1, "The launch checklist for build 4.3 is ready")
QUERIES = [
    "release",
    "checklist",
    "ready checklist",
    "релиз",
    "ПЯТНИЦЫ",
    "東京",
    "会議",
    "الإصدار",
    "🎉",
    "whiteboard",
    "strasse",
    "launch",
    '"release checklist"',
    '"checklist release"',
    "build ready",
    "pizza",
]


@pytest.fixture(params=["default", "cloud"])
def backends(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "cloud":
        request.getfixturevalue("cloud")
    return str(request.param)


def post(webhook: Webhook, chat_id: int, message_id: int, text: str) -> None:
    chat = ChatFactory(id=chat_id, title=f"Chat {chat_id}")
    if text.startswith("photo: "):
        message = MessageFactory(chat=chat, message_id=message_id, text=None)
        del message["text"]
        message.update(photo=PHOTO, caption=text.removeprefix("photo: "))
    else:
        message = MessageFactory(chat=chat, message_id=message_id, text=text)
    assert webhook.post(UpdateFactory(message=message)).status_code == 200


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def found(api: Any, search: str, **params: Any) -> list[str]:
    """Every id the API's search returns, walking its pages (newest first)."""
    response = api.get("/api/v1/messages/", {"search": search, "page_size": 2, **params})
    assert response.status_code == 200, response.content
    ids = []
    while True:
        body = response.json()
        ids += [item["id"] for item in body["results"]]
        if not body["next"]:
            return ids
        response = api.get(body["next"])


def expected(texts: dict[tuple[int, int], str], search: str, chats: set[int]) -> set[str]:
    parsed = Search.parse(search)
    return {f"{c}:{m}" for (c, m), text in texts.items() if c in chats and parsed.matches(text)}


@pytest.fixture
def archived(backends: str, webhook: Webhook) -> dict[tuple[int, int], str]:
    """The corpus: some messages before A and B are indexed, some after, and an edit."""
    for chat_id, message_id, text in BEFORE_BUILD:
        post(webhook, chat_id, message_id, text)
    out = run("build_search_index", "--chat", str(A), "--chat", str(B))
    assert f"chat {A}: index built: 6 message versions indexed" in out
    assert f"chat {B}: index built: 2 message versions indexed" in out
    for chat_id, message_id, text in AFTER_BUILD:
        post(webhook, chat_id, message_id, text)
    chat_id, message_id, text = EDIT
    original = UpdateFactory(message=MessageFactory(chat=ChatFactory(id=A), message_id=1))
    assert webhook.post(edited(original, edit_date=1_790_000_000, text=text)).status_code == 200
    latest = {(c, m): t.removeprefix("photo: ") for c, m, t in BEFORE_BUILD + AFTER_BUILD}
    latest[A, 1] = text
    return latest


@pytest.mark.parametrize("rare", [2000, 0], ids=["from-rare-terms", "heads-newest-first"])
def test_every_match_and_nothing_else_in_any_script(
    api: Any, archived: dict[Any, str], rare: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ORM store starts from a rare term's entries, or reads the heads newest first with
    # an EXISTS per term: both plans answer alike (Firestore has one plan).
    monkeypatch.setattr(orm, "RARE_TERM_ENTRIES", rare)
    for search in QUERIES:
        ids = found(api, search)
        assert set(ids) == expected(archived, search, {A, B}), search
        assert len(ids) == len(set(ids)), search  # once each, across pages
    # What the matcher says, spelled out for a few: case, script, CJK within a word, the edit.
    assert set(found(api, "release")) == {f"{A}:6", f"{A}:7", f"{B}:1"}
    assert set(found(api, "launch")) == {f"{A}:1"}  # the edit is indexed; "release" is gone
    assert set(found(api, "会議")) == {f"{A}:3", f"{A}:8"}
    assert set(found(api, "ПЯТНИЦЫ")) == {f"{A}:2", f"{B}:3"}
    assert set(found(api, "strasse")) == {f"{A}:7"}
    assert found(api, '"release checklist"') == [f"{B}:1"]
    # Combined with the other filters and orderings, and in one chat.
    assert found(api, "release", chat=B) == [f"{B}:1"]
    oldest_first = found(api, "release", ordering="date")
    assert oldest_first == list(reversed(found(api, "release")))
    assert found(api, "release", kind="photo") == [f"{A}:6"]


def test_export_takes_the_same_search(api: Any, archived: dict[Any, str]) -> None:
    response = api.get("/api/v1/messages/export/", {"search": "checklist"})
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert {item["id"] for item in lines} == {f"{A}:1", f"{B}:1"}
    # The audit log says a search of one word was made, never the word.
    entry = AuditEntry.objects.filter(action="message-export").latest("at")
    assert entry.filters == {"ordering": "-date", "search_terms": 1}
    response = api.get("/api/v1/messages/export/", {"search": "会議", "format": "telegram"})
    exported = json.loads(b"".join(response.streaming_content))
    # Both indexed chats, in chat id order (B's id is the lower): only A's two match.
    per_chat = [[m["id"] for m in chat["messages"]] for chat in exported["chats"]["list"]]
    assert per_chat == [[], [3, 8]]


def test_a_limited_key_learns_nothing_of_other_chats(
    archived: dict[Any, str], make_api_client: Any
) -> None:
    only_a = make_api_client(A)
    assert found(only_a, "lunch") == []  # only in B
    assert set(found(only_a, "release")) == {f"{A}:6", f"{A}:7"}
    response = only_a.get("/api/v1/messages/", {"search": "lunch", "chat": B})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_bad_and_unindexed_searches_are_400(api: Any, archived: dict[Any, str]) -> None:
    response = api.get("/api/v1/messages/", {"search": "a ? !"})
    assert response.status_code == 400
    assert "nothing to search for" in response.json()["search"][0]
    response = api.get("/api/v1/messages/", {"search": "release", "chat": C})
    assert response.status_code == 400
    assert f"Chat {C} has no search index yet" in response.json()["search"][0]
    # Without a chat named, only indexed chats are searched: C's party is not found.
    assert f"{C}:1" not in found(api, "party")


def stored_tokens(chat_id: int) -> set[bytes]:
    """The chat's tokens as the store holds them, whichever the backend."""
    store = get_store()
    if isinstance(store, FirestoreStore):
        heads = store.messages.where(filter=FieldFilter("chat_id", "==", chat_id)).stream()
        return {bytes(e)[4:] for h in heads for e in (h.to_dict() or {}).get("search_tokens", [])}
    rows = SearchToken.objects.filter(chat_id=chat_id).values_list("token", flat=True)
    return {token.to_bytes(8, "big", signed=True) for token in rows}


def test_the_tokens_are_keyed_per_chat_and_hold_no_term(archived: dict[Any, str]) -> None:
    store = get_store()
    counts = {chat: store.count_search_tokens(chat) for chat in (A, B, C)}
    assert set(counts[A]) == {1}
    assert counts[A][1] >= len(stored_tokens(A)) > 20  # a term in two messages: two entries
    assert counts[C] == {}  # never turned on
    # "release", "checklist", "ready", "the", "is", "пятницы" are in both: not one token is.
    assert stored_tokens(B)
    assert not stored_tokens(A) & stored_tokens(B)
    # Each is the 8-byte HMAC of a term under the chat's index key, not the term.
    key = index_key(sealing.chat_keys().key(A, 1))
    assert token(key, "会議") in stored_tokens(A)
    assert all(len(t) == 8 for t in stored_tokens(A))
    assert "会議".encode() not in b"".join(stored_tokens(A))


def test_rotation_keeps_the_index_readable_and_reencryption_rekeys_it(
    api: Any, archived: dict[Any, str], webhook: Webhook
) -> None:
    store = get_store()
    run("rotate_chat_keys", "--chat", str(A))
    post(webhook, A, 9, "release train after the rotation")
    assert set(store.count_search_tokens(A)) == {1, 2}  # old messages' under v1, new under v2
    assert set(found(api, "release")) == {f"{A}:6", f"{A}:7", f"{A}:9", f"{B}:1"}
    out = run("reencrypt_messages", "--chat", str(A))
    assert "1 key version retired" in out
    assert set(store.count_search_tokens(A)) == {2}  # re-keyed: none left under the retired v1
    assert set(found(api, "release")) == {f"{A}:6", f"{A}:7", f"{A}:9", f"{B}:1"}
    assert set(found(api, "会議")) == {f"{A}:3", f"{A}:8"}


def test_purge_shred_and_disable_delete_the_tokens(
    api: Any, archived: dict[Any, str], webhook: Webhook
) -> None:
    store = get_store()
    before = sum(store.count_search_tokens(A).values())
    post(webhook, A, 10, "ancient release")
    old = MessageFactory(chat=ChatFactory(id=A), message_id=11, date=1_400_000_000, text="zebra")
    assert webhook.post(UpdateFactory(message=old)).status_code == 200
    assert found(api, "zebra") == [f"{A}:11"]
    run("purge_messages", "--older-than", "3650", "--chat", str(A))
    assert found(api, "zebra") == []
    assert sum(store.count_search_tokens(A).values()) == before + 2  # "ancient", "release" v1
    run("shred_chat", str(B), "--yes")
    assert store.count_search_tokens(B) == {}
    assert not SearchIndex.objects.filter(chat_id=B).exists()
    out = run("build_search_index", "--chat", str(A), "--disable")
    assert f"chat {A}: index off" in out
    assert store.count_search_tokens(A) == {}
    assert api.get("/api/v1/messages/", {"search": "release", "chat": A}).status_code == 400


def test_a_build_resumes_where_it_stopped(
    backends: str, webhook: Webhook, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from messages.search import index

    for message_id in range(1, 8):
        post(webhook, A, message_id, f"note number {message_id} about kites")
    monkeypatch.setattr(index, "BATCH", 3)
    index.turn_on(A)
    steps = []

    def stop_after_first_batch(count: int) -> None:
        steps.append(count)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index.build(A, step=stop_after_first_batch)
    row = SearchIndex.objects.get(chat_id=A)
    assert (row.state, row.revisions_indexed, row.resume_message_id) == ("building", 3, 3)
    response = api.get("/api/v1/messages/", {"search": "kites", "chat": A})
    assert response.status_code == 400  # not ready: its answer would be partial
    out = run("build_search_index", "--chat", str(A))
    assert "4 message versions indexed in this run" in out
    assert SearchIndex.objects.get(chat_id=A).revisions_indexed == 7
    assert len(found(api, "kites")) == 7
    assert "already built" in run("build_search_index", "--chat", str(A))


def test_the_command_refuses_what_it_cannot_do(db: None) -> None:
    with pytest.raises(CommandError, match="say which chats"):
        run("build_search_index")
    with pytest.raises(CommandError, match="not both"):
        run("build_search_index", "--all", "--chat", str(A))
    with pytest.raises(CommandError, match=f"not in the archive: chat {A}"):
        run("build_search_index", "--chat", str(A))
    assert not SearchIndex.objects.exists()


def test_a_dry_run_changes_nothing_and_an_index_already_off_is_said_so(
    db: None, webhook: Webhook
) -> None:
    post(webhook, A, 1, "first words")
    post(webhook, B, 1, "second words")
    out = run("build_search_index", "--all", "--dry-run")
    assert "2 chats would be indexed (2 message versions), 0 already built; dry run" in out
    assert not SearchIndex.objects.exists()
    out = run("build_search_index", "--chat", str(A), "--disable")
    assert f"chat {A}: the index is already off" in out
    assert out.strip().endswith("0 chat indexes turned off")
    out = run("build_search_index", "--all")
    assert out.strip().splitlines()[-1] == (
        "build_search_index: 2 chats indexed (2 message versions, 4 tokens), "
        "0 already built, 0 failed"
    )
    assert set(SearchIndex.objects.values_list("state", flat=True)) == {SearchIndex.READY}
