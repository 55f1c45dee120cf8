"""Input that could be stored but never shown again is refused with a 400, storing nothing."""

from __future__ import annotations

import json

import pytest

from messages.models import Message
from tests.conftest import Webhook, load_update


def test_a_lone_surrogate_in_the_text_is_a_400(webhook: Webhook) -> None:
    body = json.dumps(load_update("text_message")).replace("Release", "\\ud83d Release")
    response = webhook.post(body)
    assert response.status_code == 400
    assert not Message.objects.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_a_400(webhook: Webhook, constant: str) -> None:
    body = json.dumps(load_update("text_message")).replace('"offset": 0', f'"offset": {constant}')
    assert constant in body
    assert webhook.post(body).status_code == 400
    assert not Message.objects.exists()


@pytest.mark.parametrize("field", ["date", "edit_date"])
def test_a_date_beyond_year_9999_is_a_400(webhook: Webhook, field: str) -> None:
    update = load_update("edited_message")
    update["edited_message"][field] = 10**15
    assert webhook.post(update).status_code == 400
    assert not Message.objects.exists()
