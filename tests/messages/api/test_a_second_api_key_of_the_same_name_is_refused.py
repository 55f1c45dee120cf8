"""create_api_key refuses a second key of a name already used, unless asked for one."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messages.models import ApiKey


def test_a_second_key_of_the_same_name_is_refused_unless_asked_for(db: None) -> None:
    def create(*args: str) -> str:
        out = StringIO()
        call_command("create_api_key", "--name", "reporting", *args, stdout=out, stderr=StringIO())
        return out.getvalue().strip()

    first = create()
    with pytest.raises(CommandError, match="already named 'reporting'"):
        create()
    second = create("--allow-duplicate-name")
    assert first != second
    assert ApiKey.objects.filter(name="reporting").count() == 2
