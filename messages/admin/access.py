"""Who may read what in the admin: one decision, made here and nowhere else.

Every admin page that shows a chat's plaintext (titles, names, text, files, thumbnails,
exports) asks ``may_read``. Today that is the decrypt permission; a per-chat grant would be
added here, and every page would follow."""

from __future__ import annotations

from django.http import HttpRequest

# The model permission (messages.models.ArchiveAccess); the API checks the same one.
DECRYPT_PERMISSION = "archive.view_decrypted"


def may_read(request: HttpRequest, chat_id: int | None = None) -> bool:
    """Whether the signed-in user may see ``chat_id``'s plaintext (any chat's, when None)."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.has_perm(DECRYPT_PERMISSION))
