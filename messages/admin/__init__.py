"""Admin registrations: the archive browser, API keys, the audit log, retention periods,
search indexes, chat access grants and legal holds."""

from django.contrib import admin

from messages.admin import apikeys, auditlog, browser, grants, retention, searchindex

admin.site.site_header = "groupie"
admin.site.site_title = "groupie"
admin.site.index_title = "Archive administration"

__all__ = ["apikeys", "auditlog", "browser", "grants", "retention", "searchindex"]
