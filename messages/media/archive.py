"""This archive's id (``ArchiveIdentity``), the first part of every media file's name.

Why an id of the archive, not a hash of each sealed file: Cloud Storage needs an object's name
before a resumable upload starts (a hash is known only at its end, and renaming there is a
copy), and shred, purge and verify must tell this archive's files from another's in a shared
store by a prefix: a content hash under ``chats/<chat_id>/`` would still mix both archives'
files of the same chat there. The id lives in the database beside the media records it goes
with; a copy of the database (a restore) is the same archive and rightly keeps it.
"""

from __future__ import annotations

import secrets

from messages.models import ArchiveIdentity


def archive_id() -> str:
    """The id, made (128 random bits, hex) by whichever process first needs it; two making it
    at once agree on one (the row's key is fixed). Read each time, not cached: a process
    must never name files with the id of a database it is no longer pointed at."""
    row, _ = ArchiveIdentity.objects.get_or_create(
        id=1, defaults={"archive_id": secrets.token_hex(16)}
    )
    return row.archive_id
