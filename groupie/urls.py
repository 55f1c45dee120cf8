from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from groupie import cloudtasks, metrics
from messages import health
from webhooks.views import legacy_webhook, telegram_webhook

# An outage of ours (database, store, keyring) that escapes a view or a middleware is a 503.
handler500 = "messages.outage.server_error"

urlpatterns = [
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    # The prototype registered /webhook/<secret> with no trailing slash; accept one too.
    re_path(r"^webhook/(?P<secret>[^/]+)/?$", legacy_webhook, name="legacy-webhook"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # Cloud Tasks calls back here (GROUPIE_TASKS=cloudtasks); a 404 otherwise.
    path("internal/tasks/", cloudtasks.run_task, name="run-task"),
    path("api/v1/", include("messages.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (at ?script) instead of
    # inline, so it runs under the Content-Security-Policy without 'unsafe-inline'.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    # Single sign-on for the admin (404 unless GROUPIE_OIDC_ISSUER is set).
    path("oidc/", include("messages.signin.urls")),
    # The browsable API's log in and log out links (who may read stays the API's rules).
    path("api-auth/", include("rest_framework.urls")),
    # The site is the admin and the API: the root (and the admin's "View site") leads there.
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
]
