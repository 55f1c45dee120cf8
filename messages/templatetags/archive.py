from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()

# One format for every date a person reads (groupie/formats/en/formats.py says the same).
FORMAT = "j M Y, H:i"


@register.filter
def tgdate(value: int | None) -> str:
    """A Telegram unix date as "6 Dec 2026, 18:41" in the viewer's time zone."""
    if not value:
        return "—"
    return date_format(timezone.localtime(datetime.fromtimestamp(value, tz=UTC)), FORMAT)


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
