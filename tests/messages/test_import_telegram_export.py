"""Backfill from Telegram Desktop's JSON export: one chat's and the whole account's, streamed,
idempotent with what the webhook archived, on both store backends."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.stores import get_store
from tests.conftest import FIXTURES, Webhook
from webhooks.demo_data import DEMO_MEDIA

EXPORTS = FIXTURES.parent / "telegram_export"
CHAT = -1002087654321  # the export's 2087654321, as the Bot API names a supergroup


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_telegram_export", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture(params=["orm", "firestore"])
def backend(request: pytest.FixtureRequest, db: None) -> str:
    if request.param == "firestore":
        request.getfixturevalue("cloud")
    return str(request.param)


def test_a_chat_export_is_archived_once_with_its_text_entities_and_media(
    backend: str, api: Any, tmp_path: Path
) -> None:
    # The export's directory as Telegram Desktop writes it: result.json beside the files it
    # kept (here the photo; the voice message was left out by the export's settings).
    (tmp_path / "result.json").write_bytes((EXPORTS / "result.json").read_bytes())
    (tmp_path / "photos").mkdir()
    photo = (DEMO_MEDIA / "whiteboard.jpg").read_bytes()
    (tmp_path / "photos" / "photo_1@01-03-2025_09-03-00.jpg").write_bytes(photo)
    said = run(str(tmp_path / "result.json"))
    assert said == (
        "import_telegram_export: 1 chat, 7 imported, 0 already present, 0 skipped; "
        "files: 1 sealed, 0 already kept, 1 not in the export"
    )
    media = api.get(f"/api/v1/messages/{CHAT}:14/media/")
    assert b"".join(media.streaming_content) == photo
    assert media["Content-Type"] == "image/jpeg"
    chat = get_store().get_chat(CHAT)
    assert chat is not None
    assert chat.message_count == 7
    results = api.get(f"/api/v1/messages/?chat={CHAT}&ordering=date").json()["results"]
    by_id = {m["message_id"]: m for m in results}
    first = by_id[12]
    assert first["text"] == "Code freeze tonight 🚀 see https://example.org/plan"
    # UTF-16 offsets: the rocket counts two.
    assert first["entities"] == [
        {"type": "bold", "offset": 12, "length": 7},
        {"type": "url", "offset": 27, "length": 24},
    ]
    assert first["imported_from"] == "telegram-desktop-export"
    assert first["sender"]["id"] == 7123456789
    assert by_id[13]["edit_date"] == "2025-03-01T09:05:00Z"
    assert by_id[13]["reply_to_message_id"] == 12
    assert (by_id[14]["kind"], by_id[14]["text"]) == ("photo", "the board")
    assert by_id[15]["kind"] == "voice"
    assert by_id[16]["kind"] == "poll"
    detail = api.get(f"/api/v1/messages/{CHAT}:14/").json()
    assert detail["raw"]["groupie_import"]["file"].startswith("photos/photo_1@")
    # Again: nothing added.
    again = run(str(tmp_path / "result.json"))
    assert again == (
        "import_telegram_export: 1 chat, 0 imported, 7 already present, 0 skipped; "
        "files: 0 sealed, 1 already kept, 1 not in the export"
    )


def test_what_the_webhook_archived_is_not_archived_twice(webhook: Webhook) -> None:
    live = {
        "update_id": 1,
        "message": {
            "message_id": 12,
            "date": 1740819660,
            "chat": {"id": CHAT, "type": "supergroup", "title": "Quillfeather Release Crew"},
            "from": {"id": 7123456789, "is_bot": False, "first_name": "Marguerite"},
            "text": "Code freeze tonight 🚀 see https://example.org/plan",
        },
    }
    assert webhook.post(live).json()["outcome"] == "created"
    said = run(str(EXPORTS / "result.json"))
    assert "6 imported, 1 already present, 0 skipped; files: 0 sealed" in said


def test_the_account_export_and_one_chat_of_it(db: None) -> None:
    account = str(EXPORTS / "account_result.json")
    assert run(account, "--chat", "5550001111", "--dry-run").endswith(
        "1 chat, 1 would be imported, 0 already present, 0 skipped"
    )
    assert get_store().get_chat(5550001111) is None  # a dry run archives nothing
    assert "2 chats, 8 imported, 0 already present, 0 skipped;" in run(account)
    assert get_store().get_chat(5550001111) is not None  # a private chat keeps its id


def test_a_truncated_export_names_the_file_and_a_rerun_completes_it(
    db: None, tmp_path: Path
) -> None:
    whole = (EXPORTS / "result.json").read_bytes()
    cut = tmp_path / "result.json"
    cut.write_bytes(whole[: whole.index(b'"id": 15')])
    with pytest.raises(CommandError, match=r"result\.json.*run again"):
        run(str(cut))
    stored = get_store().get_chat(CHAT)
    assert stored is not None
    assert stored.message_count == 4  # what came before the cut
    cut.write_bytes(whole)
    assert "3 imported, 4 already present, 0 skipped;" in run(str(cut))


def test_not_an_export(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "missing.json"))
    other = tmp_path / "other.json"
    other.write_text('{"messages": [{"id": 1}]}')
    with pytest.raises(CommandError, match="without its id or type"):
        run(str(other))


def test_an_export_naming_a_file_outside_its_directory_keeps_nothing(
    db: None, tmp_path: Path
) -> None:
    from messages.telegram import parse_message
    from webhooks.media import keep_exported_file

    (tmp_path / "export").mkdir()
    (tmp_path / "secret.txt").write_text("not the export's")
    message = {
        "message_id": 1,
        "date": 1740819780,
        "chat": {"id": CHAT, "type": "supergroup", "title": "t"},
        "document": {"file_id": "", "file_unique_id": ""},
    }
    incoming = parse_message(0, "message", message, is_edit=False)
    assert keep_exported_file(incoming, "../secret.txt", tmp_path / "export") == "missing"
    assert keep_exported_file(incoming, "/etc/hostname", tmp_path / "export") == "missing"
