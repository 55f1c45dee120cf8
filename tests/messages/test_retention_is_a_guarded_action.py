"""A retention period schedules a chat's deletion, so changing one is an operator action:
it takes its own permission in the admin (the model's permissions are not enough), every
change from the admin or the command is audited and counted, and a period out of range is
refused the same way by both, changing nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.models import AuditEntry, ChatRetention
from tests.conftest import Webhook, staff_client
from tests.factories import ChatFactory, MessageFactory, UpdateFactory
from tests.groupie.test_metrics_complete import Delta

CHAT = -1001000000000801


@pytest.fixture(autouse=True)
def archived_chat(db: None, webhook: Webhook) -> None:
    """The admin's form picks among the archive's chats: CHAT is one of them."""
    message = MessageFactory(chat=ChatFactory(id=CHAT), message_id=1)
    assert webhook.post(UpdateFactory(message=message)).status_code == 200


ADD = "/admin/archive/chatretention/add/"


def every_retention_permission_but_manage() -> tuple[str, ...]:
    """Every permission on the model that is not the one that lets staff change periods: the
    model's own (view, and add/change/delete where they exist) and the decrypt one beside."""
    found = Permission.objects.filter(content_type__model="chatretention")
    return tuple(p.codename for p in found if p.codename != "manage_retention")


def test_staff_with_the_model_permissions_cannot_schedule_a_deletion(db: None) -> None:
    perms = every_retention_permission_but_manage()
    assert "view_chatretention" in perms
    staff = staff_client(decrypt=True, perms=perms)
    assert staff.post(ADD, {"chat_id": str(CHAT), "days": "1"}).status_code == 403
    ChatRetention.objects.create(chat_id=CHAT, days=30)
    change = f"/admin/archive/chatretention/{CHAT}/change/"
    assert staff.post(change, {"days": "1"}).status_code == 403
    delete = f"/admin/archive/chatretention/{CHAT}/delete/"
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    assert ChatRetention.objects.get(chat_id=CHAT).days == 30
    assert staff.get("/admin/archive/chatretention/").status_code == 200  # may still look
    assert not AuditEntry.objects.exclude(action="chat-titles").exists()


def test_a_period_set_changed_and_cleared_in_the_admin_is_audited(db: None) -> None:
    staff = staff_client(decrypt=False, perms=("manage_retention",))
    counted = Delta("groupie_retention_changes_total", channel="admin", change="set")
    assert staff.post(ADD, {"chat_id": str(CHAT), "days": "365"}).status_code == 302
    change = f"/admin/archive/chatretention/{CHAT}/change/"
    changed = staff.post(change, {"days": "30"})
    assert changed.status_code == 302, changed.context["adminform"].form.errors
    delete = f"/admin/archive/chatretention/{CHAT}/delete/"
    assert staff.post(delete, {"post": "yes"}).status_code == 302
    assert not ChatRetention.objects.exists()
    entries = list(AuditEntry.objects.exclude(action="chat-titles").order_by("id"))
    assert [(e.channel, e.actor, e.action, e.chat_id, e.filters) for e in entries] == [
        ("admin", "staffFalseFalse1", "set_retention", CHAT, {"days": 365, "before": "forever"}),
        ("admin", "staffFalseFalse1", "set_retention", CHAT, {"days": 30, "before": 365}),
        ("admin", "staffFalseFalse1", "clear_retention", CHAT, {"days": "forever", "before": 30}),
    ]
    assert counted.change == 2


@pytest.mark.parametrize("days", ["0", "36501", "99999999999"])
def test_a_period_out_of_range_is_refused_by_both_channels(db: None, days: str) -> None:
    staff = staff_client(decrypt=False, superuser=True)
    response = staff.post(ADD, {"chat_id": str(CHAT), "days": days})
    assert response.status_code == 200  # the form again, with the error
    assert "a retention period is 1 to 36500 days" in response.content.decode()
    with pytest.raises(CommandError, match=r"a retention period is 1 to 36500 days"):
        call_command("set_retention", str(CHAT), days, stdout=StringIO())
    assert not ChatRetention.objects.exists()
    assert not AuditEntry.objects.exclude(action="chat-titles").exists()


def test_the_command_is_audited_through_the_same_action(db: None) -> None:
    counted = Delta("groupie_retention_changes_total", channel="command", change="cleared")
    call_command("set_retention", str(CHAT), "90", stdout=StringIO())
    call_command("set_retention", str(CHAT), "forever", stdout=StringIO())
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.channel, e.action, e.filters) for e in entries] == [
        ("command", "set_retention", {"days": 90, "before": "forever"}),
        ("command", "clear_retention", {"days": "forever", "before": 90}),
    ]
    assert counted.change == 1
