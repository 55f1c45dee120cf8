"""An import holds each message to the webhook's rules: what the webhook would refuse is
skipped, named by chat and id with the reason (never its content), and counted; a file that
is not an export is refused with one line and nothing archived."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.importing import Tally
from messages.stores import get_store

CHAT = -1004242  # the export's supergroup 4242, as the Bot API names it
MARKER = "CONTENT-MARKER-7f3a"  # content: never in any line the command prints


def exported(message_id: Any, **fields: Any) -> dict[str, Any]:
    message = {
        "id": message_id,
        "type": "message",
        "date_unixtime": str(1740819600 + (message_id if isinstance(message_id, int) else 0)),
        "from": "Marguerite",
        "from_id": "user7123456789",
        "text": f"{MARKER} {message_id}",
    }
    message.update(fields)
    return message


def export(tmp_path: Path, *messages: str) -> Path:
    """One chat's result.json holding ``messages`` (JSON texts, as written)."""
    path = tmp_path / "result.json"
    path.write_text(
        '{"name": "Crew", "type": "private_supergroup", "id": 4242, "messages": ['
        + ", ".join(messages)
        + "]}",
        encoding="utf-8",
    )
    return path


def run(path: Path) -> tuple[str, str]:
    """(stdout's summary line, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("import_telegram_export", str(path), stdout=out, stderr=err)
    assert MARKER not in out.getvalue() + err.getvalue()
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def stored(message_id: int) -> bool:
    return get_store().get_message(CHAT, message_id) is not None


def skipped_once(tmp_path: Path, bad: str, reason: str, *, named: str = "message 2") -> None:
    """Message 1 is archived; ``bad`` (message 2) is skipped, named, with ``reason``."""
    summary, errors = run(export(tmp_path, json.dumps(exported(1)), bad))
    assert summary == "import_telegram_export: 1 chat, 1 imported, 0 already present, 1 skipped"
    assert errors.splitlines() == [f"  skipped chat {CHAT}, {named}: {reason}"]
    assert stored(1)
    assert not stored(2)


def test_a_message_with_a_key_twice_is_skipped(db: None, tmp_path: Path) -> None:
    bad = json.dumps(exported(2)).replace('"text":', '"text": "x", "text":')
    skipped_once(tmp_path, bad, "an object has the same key twice")


def test_a_message_nested_5000_deep_is_skipped(db: None, tmp_path: Path) -> None:
    bad = json.dumps(exported(2, extra="DEEP")).replace('"DEEP"', "[" * 5000 + "]" * 5000)
    skipped_once(tmp_path, bad, "nested deeper than 31 levels")


def test_a_message_whose_type_holds_nul_is_skipped(db: None, tmp_path: Path) -> None:
    bad = json.dumps(exported(2, type="mess\x00age"))
    skipped_once(tmp_path, bad, "its type is neither message nor service")


def test_a_media_path_with_a_line_break_is_skipped(db: None, tmp_path: Path) -> None:
    bad = json.dumps(exported(2, photo="photos/a\r\nb.jpg"))
    skipped_once(tmp_path, bad, "its media path holds control characters")


def test_a_text_larger_than_the_webhook_accepts_is_skipped(db: None, tmp_path: Path) -> None:
    text = MARKER * (2 * 1024 * 1024 // len(MARKER))
    bad = json.dumps(exported(2, text=text, text_entities=[{"type": "plain", "text": text}]))
    skipped_once(
        tmp_path, bad, "2,097,366 bytes, more than the 1,048,576 the webhook accepts in an update"
    )


def test_a_text_that_text_entities_leave_out_is_skipped(db: None, tmp_path: Path) -> None:
    # Kept, the message would be archived without its text.
    bad = json.dumps(exported(2, text_entities=[]))
    skipped_once(tmp_path, bad, "its text and text_entities differ")


def test_an_id_beyond_2_53_is_skipped_by_its_place(db: None, tmp_path: Path) -> None:
    bad = json.dumps(exported(2**53 + 1))
    skipped_once(
        tmp_path,
        bad,
        "message.message_id is out of range",
        named="message #2 in the file (no id)",
    )


def test_a_message_that_is_not_an_object_is_skipped(db: None, tmp_path: Path) -> None:
    skipped_once(tmp_path, "17", "not a JSON object", named="message #2 in the file (no id)")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[1, 2, 3]", "not a Telegram Desktop JSON export: it is not a JSON object"),
        ('"text"', "not a Telegram Desktop JSON export: it is not a JSON object"),
        ("{}", "not a Telegram Desktop JSON export: no messages list"),
        ('{"chats": {"about": "x"}}', "not a Telegram Desktop JSON export: no messages list"),
        (
            '{"name": "Crew", "type": "private_supergroup", "id": 4242, '
            '"messages": {"a": {"id": 1, "type": "message", "date_unixtime": "1740819601"}}}',
            "not a Telegram Desktop JSON export: messages is not a list",
        ),
        ('{"chats": {"list": {"a": 1}}}', "not a Telegram Desktop JSON export: chats.list is not"),
        (
            '{"name": "Crew", "type": "private_supergroup", "id": 4242, "id": 4243, '
            '"messages": [{"id": 1, "type": "message", "date_unixtime": "1740819601"}]}',
            "the file has the same key twice",
        ),
        (
            '{"name": "Crew", "type": "private_supergroup", "id": 9007199254740993, '
            '"messages": [{"id": 1, "type": "message", "date_unixtime": "1740819601"}]}',
            "the chat's id is out of range",
        ),
    ],
)
def test_a_file_that_is_not_an_export_is_refused_and_nothing_archived(
    db: None, tmp_path: Path, content: str, said: str
) -> None:
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        run(path)
    message = str(refused.value)
    assert said in message
    assert message.endswith("Nothing was imported.")
    assert "\n" not in message
    assert get_store().list_chats() == []


def test_the_prototype_s_message_larger_than_the_webhook_accepts_is_skipped(db: None) -> None:
    """What import_telegramgroupie archives each document through (its Firestore reading is
    tested in test_import_telegramgroupie.py): a text that JSON-escapes past the webhook's
    limit, as a prototype document's could, is skipped and named, never cut or stored."""
    tally = Tally()
    message = {
        "message_id": 5,
        "date": 1735732800,
        "chat": {"id": CHAT, "type": "supergroup", "title": "Old Crew"},
        "text": "\x01" * 200_000,  # 200 kB of text, 1.2 MB as JSON
        "groupie_import": {"source": "telegramgroupie"},
    }
    assert tally.archive(message, "document messages/abc", dry_run=False) is None
    assert tally.counted(dry_run=False) == "0 imported, 0 already present, 1 skipped"
    assert tally.skipped_lines() == [
        "  skipped document messages/abc: 1,200,152 bytes, more than the 1,048,576 the webhook "
        "accepts in an update"
    ]
    assert not stored(5)
