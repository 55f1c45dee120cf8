"""One date format across the admin, in the viewer's own time zone (the time-zone link at the
top of every page; stored dates stay UTC): "6 Dec 2026, 18:41", on the archive's pages and in
Django's lists and forms (audit log, API keys, users) alike."""

DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = DATE_FORMAT
