from __future__ import annotations

from django import template

from messages.reading.fields import iso_date

register = template.Library()


@register.filter
def tgdate(value: int | None) -> str:
    """A Telegram unix date as ISO 8601 UTC."""
    return iso_date(value) if value else "—"
