"""groupie settings: one module, driven by the environment.

Defaults are the production-safe ones. A secret with no safe default (the Django secret key, the
webhook secret) must be given, either directly or as a ``*_FILE`` path to a mounted secret, and
start-up fails with a message naming it when it is not. ``make run`` sets the development
conveniences (debug, a generated secret) explicitly; nothing here guesses that it is a laptop.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import environ
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from groupie.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def secret(name: str, *, default: str | None = None) -> str:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Cloud Run mounts)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
        if not value:
            raise ImproperlyConfigured(f"{name}_FILE={path} is empty.")
        return value
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is not None:
        return default
    raise ImproperlyConfigured(
        f"Set the {name} environment variable (or {name}_FILE, a path to a file holding it). "
        "It has no default because it is a secret; `make run` generates one for development."
    )


def secret_list(name: str) -> list[str]:
    """Earlier values of a rotated secret, comma-separated in ``NAME`` or one a line in the
    file named by ``NAME_FILE``; none by default. They are accepted, never used to sign."""
    value = secret(name, default="")
    return [item.strip() for item in re.split(r"[,\n]", value) if item.strip()]


DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = secret("DJANGO_SECRET_KEY")
# Rotating Django's key without logging everybody out or breaking signed cursors: the new key
# signs, the fallbacks still verify until the next release drops them (docs/deploy.md).
SECRET_KEY_FALLBACKS = secret_list("DJANGO_SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Set DJANGO_ALLOWED_HOSTS (comma-separated host names this service answers to)."
    )

# Telegram. The webhook secret is what Telegram echoes in X-Telegram-Bot-Api-Secret-Token (and
# the path segment of the legacy route). Telegram allows 1-256 characters of A-Z a-z 0-9 _ -.
WEBHOOK_SECRET = secret("WEBHOOK_SECRET")
# While the secret is rotated, Telegram may still send the previous one until set_webhook has
# told it the new one: both are accepted for that window, then the fallback is dropped.
WEBHOOK_SECRET_FALLBACKS = secret_list("WEBHOOK_SECRET_FALLBACKS")
for _name, _value in [("WEBHOOK_SECRET", WEBHOOK_SECRET)] + [
    ("WEBHOOK_SECRET_FALLBACKS", value) for value in WEBHOOK_SECRET_FALLBACKS
]:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", _value):
        raise ImproperlyConfigured(
            f"{_name} must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)."
        )
TELEGRAM_TOKEN = secret("TELEGRAM_TOKEN", default="")
# The Bot API's base URL: Telegram's, unless pointed at a local Bot API server (or the tests'
# loopback peer).
TELEGRAM_API_URL = env.str("TELEGRAM_API_URL", default="https://api.telegram.org")
# A local Bot API server in --local mode answers getFile with a path on its disk: its --dir,
# mounted here. Files are read only inside it.
TELEGRAM_BOT_API_FILES = env.str("TELEGRAM_BOT_API_FILES", default="")
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024

GCP_PROJECT_ID = env.str("GCP_PROJECT_ID", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "messages.apps.ArchiveConfig",
    "webhooks",
]

MIDDLEWARE = [
    # First: a request id, trace and access line for every answer, redirects included.
    "groupie.middleware.RequestObservationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Dates shown in the signed-in viewer's own time zone (messages/admin/timezones.py).
    "messages.admin.timezones.ViewerTimeZoneMiddleware",
    # Writes the audit log of decrypted views once the response has rendered well.
    "messages.audit.AuditOnSuccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The Content-Security-Policy below, on every answer that has none of its own.
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "groupie.urls"
WSGI_APPLICATION = "groupie.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "messages.signin.context.sign_in",
            ],
        },
    },
]

# Database: SQLite under var/ by default, PostgreSQL (or anything Django speaks) via DATABASE_URL.
# It holds the database password, so it may come from a mounted file too (DATABASE_URL_FILE).
DATABASES = {
    "default": env.db_url_config(
        secret("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'groupie.db'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend, keeping the database and its -wal/-shm files owner-only.
    DATABASES["default"]["ENGINE"] = "groupie.sqlite3"
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at BEGIN so
    # concurrent webhook transactions queue on busy_timeout instead of failing to upgrade a
    # read lock half way (SQLITE_BUSY). synchronous=FULL keeps a 200 durable across power loss.
    # secure_delete=ON zeroes deleted rows and freed pages (shred_chat; FAST leaves the latter).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
            "PRAGMA secure_delete=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One date format in the admin, in the viewer's time zone (groupie/formats/en/formats.py).
FORMAT_MODULE_PATH = ["groupie.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Serve static files straight from the apps (no collectstatic) in development and tests; the
# container runs collectstatic at build time and serves the hashed, compressed copies.
STATIC_FROM_FINDERS = env.bool("DJANGO_STATIC_FROM_FINDERS", default=DEBUG)
STATIC_ROOT = None if STATIC_FROM_FINDERS else env.path("DJANGO_STATIC_ROOT", VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if STATIC_FROM_FINDERS
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = STATIC_FROM_FINDERS
# Pages link the hashed names only: collectstatic need not keep the originals beside them.
WHITENOISE_KEEP_ONLY_HASHED_FILES = not STATIC_FROM_FINDERS
WHITENOISE_AUTOREFRESH = DEBUG

# How many proxies in front of the service append to X-Forwarded-For (Cloud Run: 1). The audit
# log records the address the outermost trusted proxy saw; 0 trusts no header.
GROUPIE_TRUSTED_PROXIES = env.int("GROUPIE_TRUSTED_PROXIES", default=0)

# Who may read /metrics (public on Cloud Run otherwise): a bearer token, or a port of its own
# that only a sidecar in the same instance reaches (then /metrics on PORT answers 404).
GROUPIE_METRICS_TOKEN = secret("GROUPIE_METRICS_TOKEN", default="")
GROUPIE_METRICS_PORT = env.int("GROUPIE_METRICS_PORT", default=0)

# The read API. Programs use Bearer API keys; staff use their admin session in the browsable API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an anonymous request is a 401 with WWW-Authenticate: Bearer, not a 403.
        "messages.api.auth.BearerApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["messages.api.auth.CanReadArchive"],
    "DEFAULT_THROTTLE_CLASSES": ["messages.api.auth.PerKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"archive": env.str("GROUPIE_API_RATE", default="1200/min")},
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["messages.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "messages.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "groupie API",
    "DESCRIPTION": (
        "Read the archive of Telegram conversations, decrypted. Authenticate with "
        "`Authorization: Bearer <key>` (create one with `manage.py create_api_key`)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package's static files: no CDN. (No ReDoc page: the image
    # leaves out its bundle.)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Security. Production defaults; behind Cloud Run's TLS-terminating proxy.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Health probes and Telegram come over plain HTTP inside the platform; never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) for the admin, the browsable API and Swagger UI: every
# script, style sheet, image and font from this site only, so a message text that slipped
# past escaping could run nothing. Scripts: our own files, or an inline one carrying the
# request's nonce ({{ CSP_NONCE }}; the nonce is in the header only on pages that use it).
# Styles allow inline ones: the admin's and our templates' style attributes, which a nonce
# cannot cover (a nonce beside 'unsafe-inline' would turn it off). Images: Swagger UI's icons
# are data: URIs. Media files are served with a stricter policy of their own
# (messages/media/serving.py: default-src 'none'; sandbox), which this one never replaces.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:"],
        "media-src": [csp.SELF],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    },
}
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a one-way door for the whole domain; it is the operator's decision.
    "security.W021",
]

# Signing in to the admin (docs/access.md). Single sign-on with OpenID Connect when an issuer
# is set: its endpoints are discovered from {issuer}/.well-known/openid-configuration on first
# use (a provider that is down never stops the service from starting); the authorization code
# flow with PKCE, state and nonce; ID tokens verified RS256 against the provider's JWKS.
GROUPIE_OIDC_ISSUER = env.str("GROUPIE_OIDC_ISSUER", default="").rstrip("/")
GROUPIE_OIDC_CLIENT_ID = env.str("GROUPIE_OIDC_CLIENT_ID", default="")
GROUPIE_OIDC_CLIENT_SECRET = secret("GROUPIE_OIDC_CLIENT_SECRET", default="")
# A claim listing the user's groups at the provider: each one that names an existing Django
# group makes the user a member; membership is set again at every sign-in. Unset: untouched.
GROUPIE_OIDC_GROUPS_CLAIM = env.str("GROUPIE_OIDC_GROUPS_CLAIM", default="")
GROUPIE_OIDC_SCOPES = env.str("GROUPIE_OIDC_SCOPES", default="openid email profile")
# The button's words: "Sign in with <name>" (default: the issuer's host name).
GROUPIE_OIDC_PROVIDER_NAME = env.str("GROUPIE_OIDC_PROVIDER_NAME", default="")
if GROUPIE_OIDC_ISSUER:
    _oidc_missing = [
        name
        for name, value in (
            ("GROUPIE_OIDC_CLIENT_ID", GROUPIE_OIDC_CLIENT_ID),
            ("GROUPIE_OIDC_CLIENT_SECRET", GROUPIE_OIDC_CLIENT_SECRET),
        )
        if not value
    ]
    if _oidc_missing:
        raise ImproperlyConfigured(
            f"GROUPIE_OIDC_ISSUER is set: also set {', '.join(_oidc_missing)}."
        )
    if not re.match(
        r"https://|http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", GROUPIE_OIDC_ISSUER
    ):
        raise ImproperlyConfigured(
            f"GROUPIE_OIDC_ISSUER={GROUPIE_OIDC_ISSUER!r} must be an https:// URL "
            "(plain http only on this machine's loopback address, for tests)."
        )
# Who may still sign in with a password: all (no single sign-on), superusers (the break-glass
# account, the default with single sign-on), or off.
_form_login = env.str(
    "GROUPIE_ADMIN_PASSWORD_LOGIN", default="superusers" if GROUPIE_OIDC_ISSUER else "all"
)
if _form_login not in ("all", "superusers", "off"):
    raise ImproperlyConfigured(
        f"GROUPIE_ADMIN_PASSWORD_LOGIN={_form_login!r}: use all, superusers or off."
    )
if _form_login == "off" and not GROUPIE_OIDC_ISSUER:
    raise ImproperlyConfigured(
        "GROUPIE_ADMIN_PASSWORD_LOGIN=off needs GROUPIE_OIDC_ISSUER: nobody could sign in."
    )
GROUPIE_ADMIN_PASSWORD_LOGIN = _form_login
AUTHENTICATION_BACKENDS = [
    "messages.signin.backends.PasswordBackend",
    "messages.signin.backends.OIDCBackend",
]
# mozilla-django-oidc's own settings; the endpoints, client and scopes come from the above.
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TOKEN_USE_BASIC_AUTH = True  # client_secret_basic, every provider's default
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?sso=failed"
# Sessions (staff only: the admin and the browsable API; API keys and Telegram use none). A
# session ends after this many minutes without a request: every request saves it again with
# a fresh expiry, and the database refuses an expired one whatever the browser keeps.
GROUPIE_ADMIN_SESSION_MINUTES = env.int("GROUPIE_ADMIN_SESSION_MINUTES", default=30)
if GROUPIE_ADMIN_SESSION_MINUTES < 1:
    raise ImproperlyConfigured("GROUPIE_ADMIN_SESSION_MINUTES must be at least 1.")
SESSION_COOKIE_AGE = GROUPIE_ADMIN_SESSION_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True

# Backends, chosen like STORAGES/CACHES. The environment shortcuts name the built-in ones; a
# dotted path is taken as a BACKEND as it is.
STORE_SHORTCUTS = {
    "orm": "messages.stores.orm.ORMStore",
    "firestore": "messages.stores.firestore.FirestoreStore",
}
KEYRING_SHORTCUTS = {
    "local": "crypto.keyrings.local.LocalKeyring",
    "cloudkms": "crypto.keyrings.cloudkms.CloudKMSKeyring",
}


def backend_setting(name: str, shortcuts: dict[str, str], default: str) -> str:
    value = env.str(name, default=default)
    if value in shortcuts:
        return shortcuts[value]
    if "." in value:
        return value
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a known backend; use one of {', '.join(shortcuts)} "
        "or a dotted path to a backend class."
    )


_store_backend = backend_setting("GROUPIE_STORE", STORE_SHORTCUTS, "orm")
GROUPIE_STORE: dict[str, Any] = {
    "BACKEND": _store_backend,
    "OPTIONS": (
        {
            "project": GCP_PROJECT_ID,
            "database": env.str("FIRESTORE_DATABASE", default="(default)"),
        }
        if _store_backend == STORE_SHORTCUTS["firestore"]
        else {}
    ),
}
# Tests only: points Cloud KMS clients (the keyring, import_telegramgroupie) at a loopback peer.
KMS_ENDPOINT = env.str("KMS_ENDPOINT", default="")
_keyring_backend = backend_setting("GROUPIE_KEYRING", KEYRING_SHORTCUTS, "local")
_keyring_options: dict[str, Any] = {}
if _keyring_backend == KEYRING_SHORTCUTS["local"]:
    _keyring_options = {
        "path": env.str("LOCAL_KEYRING_PATH", default=str(VAR_DIR / "keyring.json"))
    }
elif _keyring_backend == KEYRING_SHORTCUTS["cloudkms"]:
    # KMS_ENDPOINT is for tests only: it points the client at a loopback peer, insecurely.
    _keyring_options = {
        "key_name": env.str("KMS_KEY_NAME", default=""),
        "endpoint": env.str("KMS_ENDPOINT", default=""),
        # The EC_SIGN_ED25519 CryptoKeyVersion that signs the archive log's checkpoints.
        "signing_key_name": env.str("KMS_SIGNING_KEY_NAME", default=""),
    }
GROUPIE_KEYRING: dict[str, Any] = {"BACKEND": _keyring_backend, "OPTIONS": _keyring_options}
# Unwrapped chat keys stay in process memory this long, at most this many: KMS is then called
# about once per chat per TTL per process, not once per message. The size should exceed the
# chats active within a TTL: a smaller cache evicts keys still in use and pays a KMS call for
# each (groupie_chat_key_cache_evictions_total). Measured: about 500 bytes per cached chat,
# so the default 20,000 costs about 10 MB per process (docs/performance.md).
GROUPIE_CHAT_KEY_CACHE = {
    "TTL_SECONDS": env.int("GROUPIE_CHAT_KEY_CACHE_TTL", default=600),
    "MAX_KEYS": env.int("GROUPIE_CHAT_KEY_CACHE_SIZE", default=20_000),
}

# Media: files of archived messages, fetched from the Bot API off the request path, sealed
# under their chat's key and kept in a blob store (docs/media.md). GROUPIE_FETCH_MEDIA=0 keeps
# only the message (with its file_id), as before.
GROUPIE_FETCH_MEDIA = env.bool("GROUPIE_FETCH_MEDIA", default=True)
MEDIA_STORE_SHORTCUTS = {
    "local": "messages.media.blobs.local.LocalBlobStore",
    "gcs": "messages.media.blobs.gcs.GCSBlobStore",
}
_media_backend = backend_setting("GROUPIE_MEDIA_STORE", MEDIA_STORE_SHORTCUTS, "local")
_media_options: dict[str, Any] = {}
if _media_backend == MEDIA_STORE_SHORTCUTS["local"]:
    _media_options = {"path": env.str("GROUPIE_MEDIA_PATH", default=str(VAR_DIR / "media"))}
elif _media_backend == MEDIA_STORE_SHORTCUTS["gcs"]:
    _media_options = {
        "bucket": env.str("GROUPIE_MEDIA_BUCKET", default=""),
        "project": GCP_PROJECT_ID,
    }
    if not _media_options["bucket"]:
        raise ImproperlyConfigured("GROUPIE_MEDIA_STORE=gcs needs GROUPIE_MEDIA_BUCKET.")
GROUPIE_MEDIA_STORE: dict[str, Any] = {"BACKEND": _media_backend, "OPTIONS": _media_options}
# Telegram lets a bot download files up to 20 MB; a local Bot API server (TELEGRAM_API_URL
# pointing elsewhere) lifts the limit, up to its own 2,000 MB.
TELEGRAM_BOT_API_FILE_LIMIT = 20 * 1024 * 1024
GROUPIE_MEDIA_MAX_BYTES = env.int(
    "GROUPIE_MEDIA_MAX_BYTES",
    default=(
        TELEGRAM_BOT_API_FILE_LIMIT
        if TELEGRAM_API_URL.rstrip("/") == "https://api.telegram.org"
        else 2000 * 1024 * 1024
    ),
)
# A download must end within GROUPIE_MEDIA_FETCH_SECONDS plus its size at
# GROUPIE_MEDIA_MIN_RATE bytes a second (a 20 MB file: 60 + 320 s), or it is given up and
# retried later: a peer that drips bytes cannot hold a worker for good (docs/media.md).
GROUPIE_MEDIA_FETCH_SECONDS = env.float("GROUPIE_MEDIA_FETCH_SECONDS", default=60.0)
GROUPIE_MEDIA_MIN_RATE = env.int("GROUPIE_MEDIA_MIN_RATE", default=64 * 1024)
# The database task worker (manage.py run_tasks): tasks run at a time, and how long a task may
# run before a worker on another host presumes its worker dead and queues it again (one on
# this host is seen dead at once).
GROUPIE_TASK_CONCURRENCY = env.int("GROUPIE_TASK_CONCURRENCY", default=4)
GROUPIE_TASK_LEASE_SECONDS = env.int("GROUPIE_TASK_LEASE_SECONDS", default=3600)
_positive = {
    "GROUPIE_MEDIA_FETCH_SECONDS": GROUPIE_MEDIA_FETCH_SECONDS,
    "GROUPIE_MEDIA_MIN_RATE": GROUPIE_MEDIA_MIN_RATE,
    "GROUPIE_TASK_CONCURRENCY": GROUPIE_TASK_CONCURRENCY,
    "GROUPIE_TASK_LEASE_SECONDS": GROUPIE_TASK_LEASE_SECONDS,
}
for _name, _value in _positive.items():
    if not _value > 0:
        raise ImproperlyConfigured(f"{_name}={_value}: it must be greater than 0.")

# The archive log (docs/transparency.md): its checkpoints' origin line (and signing key's
# name), and where the publishing task writes them: a directory, or gs://BUCKET (a bucket with
# a retention lock), somewhere the database's administrators cannot rewrite. Empty: not
# published (checkpoints are still made and kept in the database).
GROUPIE_LOG_ORIGIN = env.str("GROUPIE_LOG_ORIGIN", default="groupie.invalid/archive-log")
GROUPIE_CHECKPOINT_STORE = env.str("GROUPIE_CHECKPOINT_STORE", default="")
# The publishing task queues its next run this many minutes on (0: it does not reschedule).
GROUPIE_CHECKPOINT_MINUTES = env.int("GROUPIE_CHECKPOINT_MINUTES", default=10)

# Search (docs/search.md): how long each process trusts what it read of whether a chat is
# indexed. A build waits this long (and a few seconds) after turning a chat's index on.
GROUPIE_SEARCH_INDEX_CACHE_SECONDS = env.int("GROUPIE_SEARCH_INDEX_CACHE_SECONDS", default=30)

# Background work (media fetching), with Django's task framework (the django-tasks backport).
# database: a table in DATABASE_URL and `manage.py run_tasks` beside the web server (one box);
# cloudtasks: a Cloud Tasks queue that calls back POST /internal/tasks/ with an OIDC token.
TASKS_SHORTCUTS = {
    "database": "django_tasks_db.DatabaseBackend",
    "cloudtasks": "groupie.cloudtasks.CloudTasksBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
_tasks_backend = backend_setting("GROUPIE_TASKS", TASKS_SHORTCUTS, "database")
_tasks_options: dict[str, Any] = {}
if _tasks_backend == TASKS_SHORTCUTS["cloudtasks"]:
    _tasks_options = {
        # projects/P/locations/L/queues/Q
        "queue": env.str("CLOUD_TASKS_QUEUE", default=""),
        # The service's own URL: tasks call back {url}/internal/tasks/.
        "url": env.str("GROUPIE_TASKS_URL", default=""),
        # The identity Cloud Tasks signs its OIDC tokens as; the endpoint accepts no other.
        "service_account": env.str("CLOUD_TASKS_SERVICE_ACCOUNT", default=""),
        # Tests only: a loopback Cloud Tasks peer and its token-signing certificates.
        "endpoint": env.str("CLOUD_TASKS_ENDPOINT", default=""),
        "certs_url": env.str("GROUPIE_OIDC_CERTS_URL", default=""),
    }
    _missing = [
        name
        for name, key in (
            ("CLOUD_TASKS_QUEUE", "queue"),
            ("GROUPIE_TASKS_URL", "url"),
            ("CLOUD_TASKS_SERVICE_ACCOUNT", "service_account"),
        )
        if not _tasks_options[key]
    ]
    if _missing:
        raise ImproperlyConfigured(f"GROUPIE_TASKS=cloudtasks needs {', '.join(_missing)}.")
TASKS: dict[str, Any] = {
    "default": {"BACKEND": _tasks_backend, "QUEUES": ["default"], "OPTIONS": _tasks_options}
}

# Logging: one line per record to stderr (Cloud Run collects it). Message text, names and keys
# are never logged; the legacy webhook path carries a secret and is redacted by a filter.
LOG_LEVEL = env.str("GROUPIE_LOG_LEVEL", default="INFO")
# json: Cloud Logging's structured lines (production); text: readable lines (`make run`).
LOG_FORMAT = env.str("GROUPIE_LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"GROUPIE_LOG_FORMAT={LOG_FORMAT!r}: use json or text.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL, project=GCP_PROJECT_ID)
