"""grant_chat_access: grants and revocations audited; a refusal is one line, exits non-zero
and changes nothing; migration 0016 grants every chat to today's view_decrypted holders."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.access import ALL_CHATS, readable_chats
from messages.management.commands.grant_chat_access import Command as GrantCommand
from messages.models import AuditEntry, ChatAccess

TEAM = -1001234567890123
FORUM = -1003141592653589


def _reader(name: str) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_decrypted"))
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached on it


def test_a_user_is_granted_chats_then_every_chat_then_revoked(demo: None) -> None:
    user = _reader("ada")
    assert readable_chats(user) == frozenset()
    out = StringIO()
    call_command("grant_chat_access", "ada", str(TEAM), str(FORUM), stdout=out)
    assert out.getvalue() == "user ada: may read 2 chats\n"
    assert readable_chats(user) == {TEAM, FORUM}
    call_command("grant_chat_access", "ada", "--all-chats", stdout=StringIO())
    assert readable_chats(user) == ALL_CHATS
    call_command("grant_chat_access", "ada", "--all-chats", "--revoke", stdout=StringIO())
    call_command("grant_chat_access", "ada", str(FORUM), "--revoke", stdout=StringIO())
    assert readable_chats(user) == {TEAM}
    entries = AuditEntry.objects.filter(action__endswith="_chat_access").order_by("id")
    assert [(e.action, e.chat_id, e.filters["to"]) for e in entries] == [
        ("grant_chat_access", FORUM, "user ada"),  # in order of chat id
        ("grant_chat_access", TEAM, "user ada"),
        ("grant_chat_access", None, "user ada"),
        ("revoke_chat_access", None, "user ada"),
        ("revoke_chat_access", FORUM, "user ada"),
    ]
    assert all(e.channel == AuditEntry.COMMAND for e in entries)


def test_a_group_grant_reaches_its_members(demo: None) -> None:
    user = _reader("bea")
    group = Group.objects.create(name="legal")
    user.groups.add(group)
    call_command("grant_chat_access", "--group", "legal", str(TEAM), stdout=StringIO())
    assert readable_chats(user) == {TEAM}
    assert ChatAccess.objects.get().group == group


def test_a_grant_without_the_decrypt_permission_reads_nothing(demo: None) -> None:
    User.objects.create_user("cy", password="pw", is_staff=True)
    call_command("grant_chat_access", "cy", str(TEAM), stdout=StringIO())
    assert readable_chats(User.objects.get(username="cy")) == frozenset()


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["nobody", str(TEAM)], "no user named 'nobody'"),
        (["--group", "nobody", str(TEAM)], "no group named 'nobody'"),
        (["ada", str(TEAM), "-1009999999999999"], "no chat -1009999999999999 in the archive"),
        (["ada", "general"], "'general' is not a chat id"),
        (["ada"], "give one or more chat ids, or --all-chats"),
        (["ada", str(TEAM), "--all-chats"], "not both"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(
    demo: None, arguments: list[str], words: str
) -> None:
    _reader("ada")
    with pytest.raises(CommandError) as refused:
        call_command("grant_chat_access", *arguments, stdout=StringIO())
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)
    assert refused.value.returncode == 1  # manage.py's exit status
    assert not ChatAccess.objects.exists()
    assert not AuditEntry.objects.filter(action__endswith="_chat_access").exists()


def test_the_help_says_how_to_grant_to_a_group() -> None:
    command = GrantCommand()
    text = " ".join(command.create_parser("manage.py", "grant_chat_access").format_help().split())
    assert "grant_chat_access --group NAME CHAT_ID..." in text
    assert "With --group every positional argument is a chat id" in text


def test_the_migration_grants_every_chat_to_todays_readers(db: None) -> None:
    reading = Permission.objects.get(codename="view_decrypted")
    direct = User.objects.create_user("direct", is_staff=True)
    direct.user_permissions.add(reading)
    readers = Group.objects.create(name="readers")
    readers.permissions.add(reading)
    member = User.objects.create_user("member", is_staff=True)
    member.user_permissions.add(reading)  # directly and through the group
    member.groups.add(readers)
    User.objects.create_user("metadata-only", is_staff=True)
    Group.objects.create(name="others")
    ChatAccess.objects.all().delete()
    migration = importlib.import_module("messages.migrations.0016_chat_access_and_legal_hold")
    migration.grant_all_chats_to_readers(apps, None)
    migration.grant_all_chats_to_readers(apps, None)  # again: nothing twice
    grants = {
        (g.user and g.user.username, g.group and g.group.name, g.chat_id)
        for g in ChatAccess.objects.all()
    }
    assert grants == {("direct", None, None), ("member", None, None), (None, "readers", None)}
    assert ChatAccess.objects.count() == 3
    for name in ("direct", "member"):
        assert readable_chats(User.objects.get(username=name)) == ALL_CHATS
    assert readable_chats(User.objects.get(username="metadata-only")) == frozenset()
