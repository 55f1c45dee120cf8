"""export_messages: NDJSON, and Telegram Desktop's layout that imports back into a fresh
groupie with nothing lost (each message's latest version; see LOSSY for what the layout
cannot hold)."""

from __future__ import annotations

import json
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from messages.reading import as_api, opening
from messages.stores import get_store
from messages.stores.records import MessageQuery
from tests.conftest import FIXTURES, Webhook

# Service messages whose specifics Telegram Desktop's layout holds in shapes groupie does
# not read back (members joined or left, migrations, topic creation): they round-trip as
# service messages with their date and sender, without those details.
LOSSY = {
    "new_chat_members",
    "left_chat_member",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "forum_topic_created",
    "contact",
    "dice",
    "venue",
}
COMPARED = ("text", "entities", "date", "edit_date", "reply_to_message_id", "thread_id", "kind")


def archived_fixtures(webhook: Webhook) -> list[str]:
    names = []
    for path in sorted(FIXTURES.glob("*.json")):
        if path.stem in LOSSY:
            continue
        response = webhook.post(json.loads(path.read_text()))
        if response.status_code == 200 and response.json().get("outcome") in ("created", "revised"):
            names.append(path.stem)
    return names


def heads() -> dict[tuple[int, int], dict[str, Any]]:
    items = get_store().query(MessageQuery(limit=10_000)).items
    return {
        (m["chat_id"], m["message_id"]): m
        for m in (as_api.message(o) for o in opening.open_messages(items))
    }


def test_ndjson_is_the_api_s_export_in_a_private_file(webhook: Webhook, tmp_path: Path) -> None:
    archived_fixtures(webhook)
    out = tmp_path / "all.ndjson"
    call_command("export_messages", "--output", str(out), stdout=StringIO(), stderr=StringIO())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(m["chat_id"], m["message_id"]) for m in lines} == set(heads())
    with pytest.raises(CommandError, match="never overwrites"):
        call_command("export_messages", "--output", str(out), stdout=StringIO())
    with pytest.raises(CommandError, match="not in the archive: chat 42"):
        call_command("export_messages", "--output", str(tmp_path / "x"), "--chat", "42")


def test_the_telegram_layout_imports_into_a_fresh_groupie_with_nothing_lost(
    webhook: Webhook, tmp_path: Path, cloud: Any, firestore_project: str
) -> None:
    # The source: the ORM store (the cloud fixture is overridden back for this part).
    with override_settings(
        GROUPIE_STORE={"BACKEND": "messages.stores.orm.ORMStore", "OPTIONS": {}}
    ):
        names = archived_fixtures(webhook)
        assert len(names) > 20
        before = heads()
        out = tmp_path / "result.json"
        said = StringIO()
        call_command("export_messages", "--output", str(out), "--format", "telegram", stdout=said)
        assert f"{len(before)} messages" in said.getvalue()
    # The fresh groupie: an empty Firestore project.
    assert get_store().list_chats() == []
    call_command("import_telegram_export", str(out), stdout=StringIO(), stderr=StringIO())
    after = heads()
    assert set(after) == set(before)
    for key, original in before.items():
        again = after[key]
        for field in COMPARED:
            assert again[field] == original[field], (key, field)
        assert (again["sender"] or {}).get("id") == (original["sender"] or {}).get("id"), key
        assert again["imported_from"] == "telegram-desktop-export"


def test_the_api_exports_the_telegram_layout_for_the_chats_a_key_may_read(
    webhook: Webhook, make_api_client: Any
) -> None:
    archived_fixtures(webhook)
    chats = {chat_id for chat_id, _ in heads()}
    one = sorted(chats)[0]
    everything = make_api_client().get("/api/v1/messages/export/?format=telegram")
    assert everything.status_code == 200
    assert everything["Content-Type"].startswith("application/json")
    layout = json.loads(b"".join(everything.streaming_content))
    exported = layout["chats"]["list"]
    assert len(exported) == len(chats)
    assert sum(len(c["messages"]) for c in exported) == len(heads())
    limited = make_api_client(one).get("/api/v1/messages/export/?format=telegram")
    only = json.loads(b"".join(limited.streaming_content))
    assert "messages" in only  # a single chat's layout
    assert len(only["messages"]) == len([k for k in heads() if k[0] == one])
    bad = make_api_client().get("/api/v1/messages/export/?format=csv")
    assert bad.status_code in (400, 404)


def test_the_command_takes_the_api_s_filters(webhook: Webhook, tmp_path: Path) -> None:
    archived_fixtures(webhook)
    everything = heads()
    photos = [k for k, m in everything.items() if m["kind"] == "photo"]
    assert photos
    out = tmp_path / "photos.ndjson"
    call_command("export_messages", "--output", str(out), "--kind", "photo", stdout=StringIO())
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((m["chat_id"], m["message_id"]) for m in got) == sorted(photos)
    with pytest.raises(CommandError, match="is not a date"):
        call_command("export_messages", "--output", str(tmp_path / "y"), "--since", "March")
