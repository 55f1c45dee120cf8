"""An operator action is one ``do_*`` function whichever surface calls it, so the command and
the admin (or the API) leave the same audit entry: the same action and what it acted on, only
the channel and the actor differ. Also: actions that wrote no entry before now do."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.models import ApiKey, AuditEntry
from tests.conftest import FIXTURES, staff_client
from tests.groupie.test_metrics_complete import Delta

TEAM = -1001234567890123


def entry(action: str, channel: str) -> AuditEntry:
    return AuditEntry.objects.get(action=action, channel=channel)


def test_an_api_key_made_in_the_admin_and_by_the_command_is_audited_alike(db: None) -> None:
    staff = staff_client(decrypt=True, perms=("add_apikey",))
    counted = Delta("groupie_operator_actions_total", action="api-key-create", channel="admin")
    staff.post("/admin/archive/apikey/add/", {"name": "reports", "chat_ids": "-5, 7"})
    call_command(
        "create_api_key", "--name", "jobs", "--chat", "-5", "--chat", "7",
        stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    admin, command = entry("api-key-create", "admin"), entry("api-key-create", "command")
    made = {k.name: k.prefix for k in ApiKey.objects.all()}
    assert admin.filters == {"key": f"reports ({made['reports']})", "chats": [-5, 7]}
    assert command.filters == {"key": f"jobs ({made['jobs']})", "chats": [-5, 7]}
    assert admin.actor == "staffTrueFalse1"
    assert "@" in command.actor  # the OS user on this host
    assert counted.change == 1


def test_a_duplicate_name_is_refused_by_the_action_and_nothing_is_made(db: None) -> None:
    call_command("create_api_key", "--name", "jobs", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="already named 'jobs'"):
        call_command("create_api_key", "--name", "jobs", stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.count() == 1
    assert AuditEntry.objects.filter(action="api-key-create").count() == 1


def test_an_export_through_the_api_and_by_the_command_is_audited_alike(
    api: Any, demo: None, tmp_path: Path
) -> None:
    b"".join(api.get(f"/api/v1/messages/export/?chat={TEAM}&kind=photo").streaming_content)
    call_command(
        "export_messages", "--output", str(tmp_path / "out.ndjson"), "--chat", str(TEAM),
        "--kind", "photo", stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    through_api, by_command = entry("message-export", "api"), entry("message-export", "command")
    for kept in (through_api.filters, by_command.filters):
        assert kept["chat"] == [TEAM]
        assert kept["kind"] == "photo"
        assert "format" not in kept  # ndjson, the default
    assert through_api.api_key == api.key_record


def test_a_telegram_layout_export_says_its_format(demo: None, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    call_command(
        "export_messages", "--output", str(out), "--format", "telegram", stdout=StringIO(),
        stderr=StringIO(),
    )  # fmt: skip
    assert entry("message-export", "command").filters == {"format": "telegram"}


def test_importing_a_desktop_export_is_audited(db: None) -> None:
    export = FIXTURES.parent / "telegram_export" / "result.json"
    call_command("import_telegram_export", str(export), stdout=StringIO(), stderr=StringIO())
    imported = entry("import_telegram_export", "command")
    assert "imported" in imported.filters["summary"]


def test_a_dry_run_import_is_not_audited(db: None) -> None:
    export = FIXTURES.parent / "telegram_export" / "result.json"
    call_command(
        "import_telegram_export", str(export), "--dry-run", stdout=StringIO(), stderr=StringIO()
    )
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_search_index_turned_on_and_off_in_the_admin_and_by_the_command_is_audited_alike(
    demo: None, settings: Any
) -> None:
    settings.GROUPIE_SEARCH_INDEX_CACHE_SECONDS = 0
    staff = staff_client(decrypt=True, perms=("manage_search_index",))
    switch = f"/admin/archive/browsablechat/{TEAM}/search-index/"
    staff.post(switch, {"index": "on"})
    staff.post(switch, {"index": "off"})
    out = {"stdout": StringIO(), "stderr": StringIO()}
    call_command("build_search_index", "--chat", str(TEAM), "--no-progress", **out)
    call_command("build_search_index", "--chat", str(TEAM), "--disable", "--no-progress", **out)
    trail = AuditEntry.objects.order_by("id").values_list("channel", "action", "chat_id")
    assert list(trail) == [
        ("admin", "search-index-on", TEAM),
        ("admin", "search-index-off", TEAM),
        ("command", "search-index-on", TEAM),
        ("command", "search-index-off", TEAM),
    ]
