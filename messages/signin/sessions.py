"""Sessions that end with their user: deactivating a user (or deleting one) deletes every
session they signed in with, at once, on every device.

Django stores no user-to-session link (a session row holds the user id inside its encoded
data), so finding a user's sessions would mean decoding every session of the site. Instead
``UserSession`` indexes them: a row when a user signs in, gone when they sign out; the work
of logging someone out is then that user's own sessions. Rows of sessions that simply
expired are pruned at the user's next sign-in (``clearsessions`` removes the sessions).

The idle timeout itself is in the settings (GROUPIE_ADMIN_SESSION_MINUTES): every request
saves the session with a fresh expiry, and the session store refuses an expired one."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Model
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _index() -> type[Model]:
    # Looked up when used: the app's ready() connects these receivers before models load.
    return apps.get_model("archive", "UserSession")


def _store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key)
    return store


def remember(sender: object, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """A user_logged_in receiver: indexes the session (already given a new key by login())."""
    key = request.session.session_key if request is not None else None
    if not key:
        return
    known = list(_index()._default_manager.filter(user=user).values_list("session_key", flat=True))
    gone = [old for old in known if not _store().exists(old)]
    if gone:
        _index()._default_manager.filter(session_key__in=gone).delete()
    _index()._default_manager.get_or_create(session_key=key, defaults={"user": user})


def forget(sender: object, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    """A user_logged_out receiver (logout() flushes the session itself)."""
    key = request.session.session_key if request is not None else None
    if key:
        _index()._default_manager.filter(session_key=key).delete()


def end_sessions_of(user: User) -> int:
    """Deletes every session the user signed in with; returns how many were indexed."""
    keys = list(_index()._default_manager.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        _store(key).delete()
    _index()._default_manager.filter(session_key__in=keys).delete()
    return len(keys)


def user_saved(sender: object, instance: User, **kwargs: Any) -> None:
    """A post_save receiver on User: an inactive user keeps no session."""
    if not instance.is_active:
        end_sessions_of(instance)


def user_deleting(sender: object, instance: User, **kwargs: Any) -> None:
    """A pre_delete receiver on User (the index rows go with the user by cascade)."""
    end_sessions_of(instance)
