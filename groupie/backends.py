"""Pluggable backends resolved from settings the way Django resolves STORAGES and CACHES.

A setting is ``{"BACKEND": "dotted.path.Class", "OPTIONS": {...}}``. The handler imports the
class, checks OPTIONS against the constructor's keyword arguments, builds one instance and keeps
it until the setting changes (so ``override_settings`` works in tests).
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Generic, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

T = TypeVar("T")


class BackendHandler(Generic[T]):
    def __init__(self, setting_name: str, base_class: type) -> None:
        # ``type``, not ``type[T]``: the base classes are abstract, which mypy refuses there.
        self.setting_name = setting_name
        self.base_class = base_class
        self._instance: T | None = None
        self._lock = threading.Lock()
        setting_changed.connect(self._on_setting_changed, weak=False)

    def get(self) -> T:
        instance = self._instance
        if instance is None:
            with self._lock:
                if self._instance is None:
                    self._instance = self.create(getattr(settings, self.setting_name))
                instance = self._instance
        return instance

    def reset(self) -> None:
        with self._lock:
            self._instance = None

    def create(self, config: dict[str, Any]) -> T:
        name = self.setting_name
        unknown_keys = set(config) - {"BACKEND", "OPTIONS"}
        if unknown_keys:
            raise ImproperlyConfigured(
                f"{name} has unknown keys: {', '.join(sorted(unknown_keys))}"
            )
        path = config.get("BACKEND")
        if not path:
            raise ImproperlyConfigured(f"{name} needs a BACKEND (a dotted path to a class).")
        try:
            backend_class = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{name} BACKEND {path!r} cannot be imported: {exc}"
            ) from exc
        if not (inspect.isclass(backend_class) and issubclass(backend_class, self.base_class)):
            raise ImproperlyConfigured(
                f"{name} BACKEND {path!r} is not a {self.base_class.__name__} subclass."
            )
        options = dict(config.get("OPTIONS") or {})
        accepted = _keyword_arguments(backend_class)
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ImproperlyConfigured(
                f"{name} OPTIONS has unknown keys for {path}: {', '.join(unknown)} "
                f"(accepted: {', '.join(sorted(accepted)) or 'none'})."
            )
        required = _required_arguments(backend_class) - set(options)
        if required:
            raise ImproperlyConfigured(
                f"{name} OPTIONS for {path} is missing: {', '.join(sorted(required))}."
            )
        return cast(T, backend_class(**options))

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self.setting_name:
            self.reset()


def _keyword_arguments(cls: type) -> set[str]:
    parameters = inspect.signature(cls).parameters.values()
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _required_arguments(cls: type) -> set[str]:
    parameters = inspect.signature(cls).parameters.values()
    return {
        p.name
        for p in parameters
        if p.default is p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
