"""Who may read what in the admin: one decision, made here and nowhere else.

Every admin page that shows a chat's plaintext (titles, names, text, files, thumbnails,
exports) asks ``may_read``. Today that is the decrypt permission; a per-chat grant would be
added here, and every page would follow."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from django.http import HttpRequest

# The model permission (messages.models.ArchiveAccess); the API checks the same one.
DECRYPT_PERMISSION = "archive.view_decrypted"


def may_read(request: HttpRequest, chat_id: int | None = None) -> bool:
    """Whether the signed-in user may see ``chat_id``'s plaintext (any chat's, when None)."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.has_perm(DECRYPT_PERMISSION))


class _EveryChat:
    def __contains__(self, chat_id: object) -> bool:
        return True


def readable_chats(user: Any) -> Container[int]:
    """The chats whose plaintext ``user`` may see, to ask with ``chat_id in ...`` (a page of
    many chats decides once, not per row). The same rule as ``may_read``."""
    if user is not None and user.is_active and user.has_perm(DECRYPT_PERMISSION):
        return _EveryChat()
    return frozenset()
