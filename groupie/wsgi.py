from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupie.settings")
application = get_wsgi_application()

from groupie.checks import static_manifest_problem  # noqa: E402  (needs the settings loaded)

if problem := static_manifest_problem():
    raise ImproperlyConfigured(problem)
