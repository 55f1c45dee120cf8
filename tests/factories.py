"""factory-boy factories for real-shaped Telegram Updates."""

from __future__ import annotations

from typing import Any

import factory

SUPERGROUP_ID = -1001987654321098


class UserFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: 6_000_000_000 + n)
    is_bot = False
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    username = factory.LazyAttribute(lambda u: f"{u.first_name.lower()}_{u.id % 1000}")


class ChatFactory(factory.DictFactory):
    id = SUPERGROUP_ID
    title = "Factory Crew"
    type = "supergroup"


class MessageFactory(factory.DictFactory):
    message_id = factory.Sequence(lambda n: n + 1)
    date = factory.Sequence(lambda n: 1_780_000_000 + n * 7)
    chat = factory.SubFactory(ChatFactory)
    text = factory.Faker("sentence")

    from_ = factory.SubFactory(UserFactory)

    class Meta:
        rename = {"from_": "from"}


class UpdateFactory(factory.DictFactory):
    update_id = factory.Sequence(lambda n: 800_000_000 + n)
    message = factory.SubFactory(MessageFactory)


def edited(update: dict[str, Any], *, edit_date: int, text: str) -> dict[str, Any]:
    """An edited_message update for the message in ``update``."""
    message = dict(update["message"], edit_date=edit_date, text=text)
    return {"update_id": update["update_id"] + 10_000, "edited_message": message}
