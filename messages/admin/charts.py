"""Bar charts as SVG, drawn on the server: no script, nothing fetched, so they work under the
site's Content-Security-Policy and in a page saved offline. Colours come from the admin's CSS
variables, so dark mode follows."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

HEIGHT = 160
LABEL = 18


def bars(points: list[tuple[str, int]], *, title: str, every: int = 1) -> SafeString:
    """A bar chart of (label, value) points, scaled to the largest; every ``every``-th label
    printed under its bar. Each bar has a tooltip (<title>) with its label and value."""
    if not points:
        return mark_safe('<p class="help">Nothing to chart.</p>')
    width = max(len(points) * 12, 240)
    slot = width / len(points)
    top = max(v for _, v in points) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {HEIGHT + LABEL}" '
        f'aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    ]
    for index, (label, value) in enumerate(points):
        height = round(HEIGHT * value / top, 1)
        x = round(index * slot + slot * 0.1, 1)
        parts.append(
            f'<rect class="bar" x="{x}" y="{HEIGHT - height}" width="{round(slot * 0.8, 1)}" '
            f'height="{height}"><title>{escape(label)}: {value}</title></rect>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{round(x + slot * 0.4, 1)}" y="{HEIGHT + LABEL - 4}" '
                f'text-anchor="middle">{escape(label[-5:])}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # every value above is escaped or a number
