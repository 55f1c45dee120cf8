"""manage.py bot_status against the loopback Bot API: privacy mode from getMe, the bot's
membership per archived chat from getChatMember, blind and removed chats failing --check,
the same facts as metrics, and the gaps in update_id."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from groupie import metrics
from messages.models import AuditEntry, ReceivedUpdate
from tests.conftest import Webhook, load_update
from webhooks import bot_status, gaps
from webhooks.loopback import BOT_ID

GROUP = -1001234567890123  # text_message's chat
PRIVATE = 7123456789  # private_message's chat, if archived


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("bot_status", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def archived(webhook: Webhook) -> None:
    assert webhook.post_fixture("text_message").status_code == 200


def test_a_member_bot_with_privacy_mode_on_is_blind_and_check_fails(
    bot_api: Any, archived: None
) -> None:
    bot_api.members[(GROUP, BOT_ID)] = "member"
    code, out = run("--json", "--check")
    assert code == 1
    report = json.loads(out)
    assert report["can_read_all_group_messages"] is False
    [chat] = report["chats"]
    assert chat == {
        "chat_id": GROUP,
        "title": "Quillfeather Release Crew",
        "bot_status": "member",
        "sees_all_messages": False,
        "last_update": chat["last_update"],
    }
    assert chat["last_update"].startswith("20")
    assert {"pending_update_count", "update_gaps"} <= report.keys()
    assert AuditEntry.objects.filter(action="bot-status").count() == 1


def test_an_administrator_sees_all_and_check_passes(bot_api: Any, archived: None) -> None:
    bot_api.members[(GROUP, BOT_ID)] = "administrator"
    code, out = run("--check")
    assert code == 0
    assert "sees all" in out
    assert out.rstrip().endswith("1 chat(s), 0 blind or without the bot")


def test_privacy_mode_off_sees_all_as_a_plain_member(bot_api: Any, archived: None) -> None:
    bot_api.me["can_read_all_group_messages"] = True
    bot_api.members[(GROUP, BOT_ID)] = "member"
    assert run("--check")[0] == 0
    assert [c.method for c in bot_api.calls][:1] == ["getMe"]


@pytest.mark.parametrize("answer", ["kicked", None])  # a 403, or a chat Telegram cannot find
def test_a_removed_bot_fails_check(bot_api: Any, archived: None, answer: str | None) -> None:
    bot_api.me["can_read_all_group_messages"] = True
    if answer is not None:
        bot_api.members[(GROUP, BOT_ID)] = answer
    code, out = run("--json", "--check")
    assert code == 1
    assert json.loads(out)["chats"][0]["bot_status"] == ("kicked" if answer else "left")


def test_a_wrong_token_is_a_clear_error(bot_api: Any, archived: None, settings: Any) -> None:
    settings.TELEGRAM_TOKEN = "999:wrong"
    with pytest.raises(CommandError, match="TELEGRAM_TOKEN"):
        call_command("bot_status", stdout=StringIO())


def test_the_metrics_say_the_same_from_the_archived_reports(bot_api: Any, webhook: Webhook) -> None:
    webhook.post_fixture("text_message")
    removed = load_update("my_chat_member")
    removed["update_id"] += 1000
    removed["my_chat_member"]["date"] += 60
    removed["my_chat_member"]["new_chat_member"]["status"] = "kicked"
    webhook.post_fixture("my_chat_member")  # promoted, then removed
    webhook.post(removed)
    bot_status.reset()
    bot_status.refresh_if_stale(bot_status.BotApi())
    label = str(GROUP)
    assert metrics.CHAT_BOT_MEMBER.labels(label)._value.get() == 0
    assert metrics.CHAT_SEES_ALL_MESSAGES.labels(label)._value.get() == 0
    assert metrics.BOT_READS_ALL_MESSAGES._value.get() == 0
    assert metrics.CHAT_LAST_UPDATE.labels(label)._value.get() > 0
    calls = len(bot_api.calls)
    bot_status.refresh_if_stale(bot_status.BotApi())  # within the minute: nothing asked
    assert len(bot_api.calls) == calls
    bot_status.reset()


def test_gaps_count_missing_update_ids_once_settled(db: None) -> None:
    now = 1_000_000_000
    for update_id, at in ((10, now - 900), (11, now - 900), (14, now - 800), (15, now - 10)):
        ReceivedUpdate.objects.create(update_id=update_id, received_at=at)
    ReceivedUpdate.objects.create(update_id=17, received_at=now - 5)  # 16 may be in flight
    ReceivedUpdate.objects.create(update_id=5_000_000, received_at=now - 700)  # renumbered
    assert gaps.count(now) == 2  # 12 and 13
    ReceivedUpdate.objects.create(update_id=1, received_at=now - 4 * 24 * 3600)
    assert gaps.forget_old(now) == 1


def test_a_redelivered_update_is_noted_once(webhook: Webhook) -> None:
    webhook.post_fixture("callback_query")  # ignored kinds count too: they explain their ids
    webhook.post_fixture("callback_query")
    webhook.post_fixture("chat_member")
    assert ReceivedUpdate.objects.count() == 2
