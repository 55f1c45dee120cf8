"""One date format across the admin: the archive's own pages show ISO 8601 in UTC
(2026-03-14T10:15:07Z), so Django's lists and forms (audit log, API keys, users) do too."""

DATETIME_FORMAT = r"Y-m-d\TH:i:s\Z"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
