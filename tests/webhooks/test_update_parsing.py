"""Telegram Updates become IncomingMessage, IgnoredUpdate, or an InvalidUpdate error."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.telegram import KINDS, IncomingMessage
from messages.telegram_events import IncomingEvent
from tests.conftest import FIXTURES, load_update
from webhooks.updates import ARCHIVED_UPDATES, IgnoredUpdate, InvalidUpdate, parse_update

# Every fixture that carries a message groupie archives, with the kind it must get.
ARCHIVED = {
    "animation": "animation",  # carries a document too: animation wins
    "anonymous_admin_message": "text",
    "audio": "audio",
    "business_message": "text",
    "channel_post": "text",
    "contact": "contact",
    "dice": "dice",
    "document": "document",
    "edited_channel_post": "text",
    "edited_message": "text",
    "edited_message_second": "text",
    "forum_topic_created": "service",
    "forum_topic_message": "text",
    "left_chat_member": "service",
    "location": "location",
    "media_group_photo_1": "photo",
    "media_group_photo_2": "photo",
    "migrate_from_chat_id": "service",
    "migrate_to_chat_id": "service",
    "new_chat_members": "service",
    "new_chat_title": "service",
    "photo_with_caption": "photo",
    "pinned_message": "service",
    "poll": "poll",
    "private_message": "text",
    "reply_message": "text",
    "sticker": "sticker",
    "text_message": "text",
    "text_message_cyrillic_emoji": "text",
    "venue": "venue",  # carries a location too: venue wins
    "video": "video",
    "video_note": "video_note",
    "voice": "voice",
}

# Every fixture groupie acknowledges and ignores, with the kind it is counted as.
IGNORED = {
    "callback_query": "callback_query",
    "inline_query": "inline_query",
    "poll_answer": "poll_answer",
    "poll_state": "poll",
}

INVALID = sorted(p.stem for p in (FIXTURES / "invalid").glob("*.json"))


def load_invalid(name: str) -> Any:
    return json.loads((FIXTURES / "invalid" / f"{name}.json").read_text(encoding="utf-8"))


def message_of(update: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [field] = [f for f in ARCHIVED_UPDATES if f in update]
    return field, update[field]


def parse_message(update: object) -> IncomingMessage:
    result = parse_update(update)
    assert isinstance(result, IncomingMessage)
    return result


# Chat events archived (messages.telegram_events): each fixture is named after its kind.
EVENTS = ("message_reaction", "message_reaction_count", "chat_member", "my_chat_member")


def test_every_fixture_is_in_one_of_the_tables() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == set(ARCHIVED) | set(IGNORED) | set(EVENTS)
    assert not set(ARCHIVED) & set(IGNORED)
    assert INVALID


@pytest.mark.parametrize(("name", "kind"), sorted(ARCHIVED.items()))
def test_an_archived_fixture_gets_its_kind(name: str, kind: str) -> None:
    parsed = parse_message(load_update(name))
    assert parsed.kind == kind
    assert parsed.kind in KINDS


@pytest.mark.parametrize("name", sorted(ARCHIVED))
def test_an_archived_fixture_yields_the_fields_in_its_json(name: str) -> None:
    update = load_update(name)
    field, message = message_of(update)
    parsed = parse_message(update)

    sender = message.get("sender_chat") or message.get("from")
    reply = message.get("reply_to_message")
    assert parsed.update_id == update["update_id"]
    assert parsed.update_kind == field
    assert parsed.chat_id == message["chat"]["id"]
    assert parsed.chat_type == message["chat"]["type"]
    assert parsed.message_id == message["message_id"]
    assert parsed.date == message["date"]
    assert parsed.edit_date == message.get("edit_date", 0)
    assert parsed.thread_id == message.get("message_thread_id")
    assert parsed.sender_id == (sender["id"] if sender else None)
    assert parsed.reply_to_message_id == (reply["message_id"] if reply else None)
    assert parsed.media_group_id == message.get("media_group_id")
    assert parsed.migrate_to_chat_id == message.get("migrate_to_chat_id")
    assert parsed.migrate_from_chat_id == message.get("migrate_from_chat_id")
    assert parsed.raw == message


def test_a_text_message_yields_its_ids_and_dates() -> None:
    parsed = parse_message(load_update("text_message"))
    assert parsed.update_id == 512340001
    assert parsed.update_kind == "message"
    assert parsed.chat_id == -1001234567890123
    assert parsed.chat_type == "supergroup"
    assert parsed.chat_title == "Quillfeather Release Crew"
    assert parsed.message_id == 4127
    assert parsed.date == 1773483307
    assert parsed.edit_date == 0
    assert parsed.sender_id == 7123456789
    assert parsed.thread_id is None
    assert parsed.reply_to_message_id is None
    assert parsed.media_group_id is None


def test_the_raw_message_is_the_whole_message_object() -> None:
    update = load_update("photo_with_caption")
    parsed = parse_message(copy.deepcopy(update))
    assert parsed.raw == update["message"]
    assert "update_id" not in parsed.raw
    assert parsed.raw["photo"] == update["message"]["photo"]


@pytest.mark.parametrize("name", ["edited_message", "edited_message_second", "edited_channel_post"])
def test_an_edit_carries_its_edit_date(name: str) -> None:
    update = load_update(name)
    parsed = parse_message(update)
    assert parsed.edit_date > 0
    assert parsed.edit_date == message_of(update)[1]["edit_date"]
    assert parsed.edit_date > parsed.date


def test_two_edits_of_one_message_share_its_ids_and_differ_in_revision() -> None:
    first = parse_message(load_update("edited_message"))
    second = parse_message(load_update("edited_message_second"))
    original = parse_message(load_update("text_message"))
    assert {(m.chat_id, m.message_id) for m in (first, second, original)} == {
        (-1001234567890123, 4127)
    }
    assert original.edit_date < first.edit_date < second.edit_date


def test_a_channel_post_is_sent_by_the_channel() -> None:
    parsed = parse_message(load_update("channel_post"))
    assert parsed.update_kind == "channel_post"
    assert parsed.sender_id == -1002718281828459
    assert parsed.sender_id == parsed.chat_id
    assert parsed.chat_type == "channel"


def test_an_anonymous_admin_is_recorded_as_the_group_not_the_bot() -> None:
    parsed = parse_message(load_update("anonymous_admin_message"))
    assert parsed.sender_id == -1001234567890123
    assert parsed.sender_id != 1087968824  # GroupAnonymousBot


def test_a_private_chat_is_titled_with_the_persons_name() -> None:
    parsed = parse_message(load_update("private_message"))
    assert parsed.chat_type == "private"
    assert parsed.chat_title == "Marguerite Quillfeather"


def test_a_business_chat_is_titled_with_the_customers_name() -> None:
    parsed = parse_message(load_update("business_message"))
    assert parsed.update_kind == "business_message"
    assert parsed.chat_title == "Дмитрий Соколов"
    assert parsed.sender_id == 5874102296


def test_a_private_chat_with_only_a_first_name_is_titled_with_it() -> None:
    update = load_update("private_message")
    del update["message"]["chat"]["last_name"]
    assert parse_message(update).chat_title == "Marguerite"


def test_a_chat_without_title_or_name_has_no_title() -> None:
    update = load_update("private_message")
    chat = update["message"]["chat"]
    del chat["first_name"], chat["last_name"]
    assert parse_message(update).chat_title is None


def test_a_forum_message_yields_its_topic_and_reply() -> None:
    parsed = parse_message(load_update("forum_topic_message"))
    assert parsed.thread_id == 201
    assert parsed.reply_to_message_id == 201
    assert parsed.kind == "text"


def test_a_reply_names_the_message_it_answers() -> None:
    assert parse_message(load_update("reply_message")).reply_to_message_id == 4127


def test_an_album_shares_one_media_group_id() -> None:
    one = parse_message(load_update("media_group_photo_1"))
    two = parse_message(load_update("media_group_photo_2"))
    assert one.media_group_id == two.media_group_id == "13912587446019283"
    assert one.message_id != two.message_id


def test_a_migration_names_both_chats() -> None:
    to = parse_message(load_update("migrate_to_chat_id"))
    came_from = parse_message(load_update("migrate_from_chat_id"))
    assert (to.chat_id, to.migrate_to_chat_id) == (-4012345678, -1009876543210987)
    assert (came_from.chat_id, came_from.migrate_from_chat_id) == (-1009876543210987, -4012345678)


def test_an_edited_business_message_is_archived_as_an_edit() -> None:
    update = load_update("business_message")
    message = update.pop("business_message")
    update["edited_business_message"] = {**message, "edit_date": message["date"] + 60}
    parsed = parse_message(update)
    assert parsed.update_kind == "edited_business_message"
    assert parsed.edit_date == message["date"] + 60


def _with_ids(value: int) -> dict[str, Any]:
    text = json.dumps(load_update("reply_message"))
    text = text.replace("-1001234567890123", str(value)).replace("5298317764", str(value))
    result: dict[str, Any] = json.loads(text)
    return result


@pytest.mark.parametrize(
    "value",
    [-(2**53) + 1, -(2**52) - 1, 2**52 + 1, 2**53 - 1],
    ids=["-2^53+1", "below-minus-2^52", "above-2^52", "2^53-1"],
)
def test_ids_of_up_to_53_bits_survive_intact(value: int) -> None:
    parsed = parse_message(_with_ids(value))
    assert parsed.chat_id == value
    assert parsed.sender_id == value
    assert type(parsed.chat_id) is int


@pytest.mark.parametrize(
    "value",
    [-(2**63), -(2**53), 2**53, 2**63 - 1],
    ids=["int64-min", "-2^53", "2^53", "int64-max"],
)
def test_ids_beyond_what_telegram_sends_are_refused(value: int) -> None:
    # Telegram's ids have at most 52 significant bits; more cannot be from Telegram, and not
    # every store holds it (Firestore's emulator stops at 2^53, PostgreSQL's bigint at 2^63).
    with pytest.raises(InvalidUpdate, match="out of range"):
        parse_update(_with_ids(value))


@pytest.mark.parametrize(("name", "kind"), sorted(IGNORED.items()))
def test_an_ignored_fixture_is_acknowledged_with_its_kind(name: str, kind: str) -> None:
    update = load_update(name)
    result = parse_update(update)
    assert result == IgnoredUpdate(update_id=update["update_id"], kind=kind)


def test_a_callback_query_is_ignored_although_it_quotes_a_message() -> None:
    result = parse_update(load_update("callback_query"))
    assert isinstance(result, IgnoredUpdate)


def test_an_update_with_an_unknown_field_counts_as_other() -> None:
    assert parse_update({"update_id": 7, "brand_new_thing": {"x": 1}}) == IgnoredUpdate(7, "other")


def test_an_update_with_only_its_id_counts_as_other() -> None:
    assert parse_update({"update_id": 7}) == IgnoredUpdate(7, "other")


def test_a_sender_cannot_choose_the_ignored_kind() -> None:
    result = parse_update({"update_id": 7, "kind": "message_reaction", "evil_label": 1})
    assert result == IgnoredUpdate(7, "other")


def test_a_message_with_no_known_content_is_kind_other() -> None:
    update = load_update("text_message")
    del update["message"]["text"], update["message"]["entities"]
    update["message"]["future_content"] = {"x": 1}
    assert parse_message(update).kind == "other"


@pytest.mark.parametrize("name", INVALID)
def test_an_invalid_fixture_is_rejected(name: str) -> None:
    with pytest.raises(InvalidUpdate):
        parse_update(load_invalid(name))


@pytest.mark.parametrize("name", INVALID)
def test_a_rejection_names_the_field_not_its_value(name: str) -> None:
    with pytest.raises(InvalidUpdate) as caught:
        parse_update(load_invalid(name))
    message = str(caught.value)
    assert "Quillfeather" not in message
    assert "ZEBRA" not in message
    assert "4127" not in message
    assert "True" not in message


@pytest.mark.parametrize("field", ["edited_message", "edited_channel_post"])
def test_an_edit_without_an_edit_date_is_invalid(field: str) -> None:
    update = load_update(field)
    del update[field]["edit_date"]
    with pytest.raises(InvalidUpdate, match="edit_date"):
        parse_update(update)


@pytest.mark.parametrize("edit_date", [0, None, -5])
def test_an_edit_with_a_meaningless_edit_date_is_invalid(edit_date: int | None) -> None:
    update = load_update("edited_message")
    update["edited_message"]["edit_date"] = edit_date
    with pytest.raises(InvalidUpdate, match="edit_date"):
        parse_update(update)


def _set(update: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    *parents, last = path.split(".")
    target: Any = update
    for key in parents:
        target = target[key]
    target[last] = value
    return update


ID_PATHS = [
    "update_id",
    "message.message_id",
    "message.chat.id",
    "message.from.id",
    "message.date",
    "message.reply_to_message.message_id",
]


@pytest.mark.parametrize("path", ID_PATHS)
@pytest.mark.parametrize("value", [True, False])
def test_a_bool_where_an_integer_belongs_is_rejected(path: str, value: bool) -> None:
    update = _set(load_update("reply_message"), path, value)
    with pytest.raises(InvalidUpdate, match="integer"):
        parse_update(update)


@pytest.mark.parametrize("path", [*ID_PATHS, "message.message_thread_id"])
@pytest.mark.parametrize("value", ["4127", 4127.0, [4127], {"id": 4127}])
def test_a_non_integer_where_an_integer_belongs_is_rejected(path: str, value: object) -> None:
    update = _set(load_update("reply_message"), path, value)
    with pytest.raises(InvalidUpdate):
        parse_update(update)


@pytest.mark.parametrize("path", ID_PATHS)
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_an_id_beyond_int64_is_rejected(path: str, value: int) -> None:
    update = _set(load_update("reply_message"), path, value)
    with pytest.raises(InvalidUpdate, match=r"out of range|integer"):
        parse_update(update)


def test_a_bool_thread_id_is_rejected() -> None:
    update = _set(load_update("forum_topic_message"), "message.message_thread_id", True)
    with pytest.raises(InvalidUpdate):
        parse_update(update)


@pytest.mark.parametrize(("path", "value"), [("message.message_id", 0), ("message.date", -1)])
def test_a_message_id_or_date_below_its_minimum_is_rejected(path: str, value: int) -> None:
    with pytest.raises(InvalidUpdate, match="out of range"):
        parse_update(_set(load_update("text_message"), path, value))


@pytest.mark.parametrize(
    "body", [None, [], "update", 42, True, {"message": {}}, {"update_id": "1"}]
)
def test_a_body_that_is_not_an_update_is_rejected(body: object) -> None:
    with pytest.raises(InvalidUpdate):
        parse_update(body)


@pytest.mark.parametrize("message", [None, [], "hi", 1])
def test_a_message_that_is_not_an_object_is_rejected(message: object) -> None:
    with pytest.raises(InvalidUpdate, match="not an object"):
        parse_update({"update_id": 1, "message": message})


@pytest.mark.parametrize("chat_type", [None, "", 5, ["group"]])
def test_a_chat_without_a_type_is_rejected(chat_type: object) -> None:
    update = _set(load_update("text_message"), "message.chat.type", chat_type)
    with pytest.raises(InvalidUpdate, match="type"):
        parse_update(update)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
MUTABLE_PATHS = [
    *ID_PATHS,
    "message.chat",
    "message.chat.type",
    "message.chat.title",
    "message.from",
    "message.reply_to_message",
    "message.media_group_id",
    "message.message_thread_id",
    "message.edit_date",
    "message.migrate_to_chat_id",
    "message",
]


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(MUTABLE_PATHS), value=json_values)
def test_any_json_in_any_field_parses_or_raises_invalid_update(path: str, value: object) -> None:
    update = _set(load_update("reply_message"), path, value)
    try:
        result = parse_update(update)
    except InvalidUpdate:
        return
    assert isinstance(result, (IncomingMessage, IgnoredUpdate))
    if isinstance(result, IncomingMessage):
        assert -(2**63) <= result.chat_id < 2**63
        assert result.message_id >= 1
        assert result.kind in KINDS


@settings(max_examples=200, deadline=None)
@given(body=json_values)
def test_any_json_body_parses_or_raises_invalid_update(body: object) -> None:
    try:
        result = parse_update(body)
    except InvalidUpdate:
        return
    assert isinstance(result, (IncomingMessage, IgnoredUpdate))


@pytest.mark.parametrize("name", EVENTS)
def test_an_event_fixture_is_read_with_its_plain_index_fields(name: str) -> None:
    update = load_update(name)
    event = parse_update(update)
    assert isinstance(event, IncomingEvent)
    assert (event.kind, event.update_id) == (name, update["update_id"])
    assert event.chat_id == -1001234567890123
    assert event.message_id == (4127 if name.startswith("message_reaction") else 0)
    assert event.raw == update[name]


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("message_reaction", ("new_reaction",), "👍"),
        ("message_reaction", ("user",), None),
        ("message_reaction_count", ("message_id",), 0),
        ("chat_member", ("new_chat_member", "status"), "overlord"),
        ("my_chat_member", ("from",), None),
        ("chat_member", ("chat", "id"), 2**60),
    ],
)
def test_an_event_missing_what_telegram_always_sends_is_refused(
    name: str, path: tuple[str, ...], value: object
) -> None:
    update = load_update(name)
    target = update[name]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(InvalidUpdate):
        parse_update(update)
