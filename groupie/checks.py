"""Deployment checks Django does not make itself.

With debug off, static files are served from ``collectstatic``'s output through whitenoise's
manifest. Without the manifest every page that links a stylesheet (the whole admin) answers
500, and nothing says why until a user looks. So the server refuses to start without it
(``groupie/wsgi.py``) and ``manage.py check --deploy`` reports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

MANIFEST = "staticfiles.json"


def static_manifest_problem() -> str | None:
    """What is wrong with the static files' manifest, or None."""
    if settings.STATIC_FROM_FINDERS or settings.STATIC_ROOT is None:
        return None
    manifest = Path(settings.STATIC_ROOT) / MANIFEST
    if manifest.is_file():
        return None
    return (
        f"the static files' manifest {manifest} is missing, so the admin would answer 500. "
        "Run `make static` (python manage.py collectstatic --noinput) with the same "
        "DJANGO_STATIC_ROOT, or set DJANGO_STATIC_FROM_FINDERS=1 to serve them uncollected. "
        "The container image collects them when it is built."
    )


@register(Tags.staticfiles, deploy=True)
def check_static_manifest(app_configs: Any, **kwargs: Any) -> list[Error]:
    problem = static_manifest_problem()
    return [Error(problem, id="groupie.E001")] if problem else []
