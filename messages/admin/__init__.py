"""Admin registrations: the archive browser, API keys, the audit log, retention periods,
search indexes, chat access grants and legal holds."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from messages.admin import (
    apikeys,
    auditlog,
    browser,
    grants,
    overview,
    retention,
    searchindex,
)

admin.site.site_header = "groupie"
admin.site.site_title = "groupie"
admin.site.index_title = "Archive administration"

_site_index = admin.site.index


def index(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
    """Django's index (after its sign-in check), with where things stand on top
    (templates/admin/index.html)."""
    return _site_index(request, {**(extra_context or {}), "overview": overview.overview(request)})


# The site's URLs, built on first use, route its index here.
admin.site.index = index  # type: ignore[method-assign]

__all__ = ["apikeys", "auditlog", "browser", "grants", "retention", "searchindex"]
