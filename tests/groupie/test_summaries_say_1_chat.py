"""Command summaries count in the singular for one ("1 chat", never "1 chats"), through one
helper; the commands' own tests assert their lines (purge_messages, verify_archive, the
imports)."""

from __future__ import annotations

from groupie.commands import counted


def test_one_is_singular_and_the_rest_plural() -> None:
    assert counted(1, "chat") == "1 chat"
    assert counted(0, "chat") == "0 chats"
    assert counted(1234, "chat") == "1,234 chats"
    assert counted(1, "chat index", "chat indexes") == "1 chat index"
    assert counted(2, "chat index", "chat indexes") == "2 chat indexes"
