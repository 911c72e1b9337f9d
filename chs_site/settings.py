"""CHS settings, read from the environment.

With nothing set, CHS runs on a SQLite file under ``var/`` and executes Celery tasks
in-process, so ``make run`` works on a bare machine. Set ``DATABASE_URL`` and
``CELERY_BROKER_URL`` to run on PostgreSQL with real workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from chs_site import queues
from chs_site.formatting import check_money_settings
from chs_site.identifiers import EXTERNAL_ID_MAX_LENGTH, EXTERNAL_ID_PATTERN

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


# --- typed helpers ---------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}."
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}.") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, Any]:
    """Parse DATABASE_URL; only SQLite and PostgreSQL are supported."""
    if not url.startswith(("sqlite:", "postgres://", "postgresql://", "pgsql://")):
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with sqlite:/// or postgresql://; got {url.split(':', 1)[0]!r}."
        )
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    )
    if config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
        config["CONN_HEALTH_CHECKS"] = True
    else:
        config["CONN_MAX_AGE"] = 0
        # SQLite: wait for a writer instead of failing at once; WAL lets readers go on.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


def upload_storage(environ: Mapping[str, str]) -> dict[str, Any]:
    """The uploads' storage: local disk (MEDIA_ROOT) for one machine, an S3-compatible
    bucket (AWS S3, MinIO, Ceph…) shared by web and workers on several. S3 when
    STORAGE_BACKEND=s3 or a bucket is named."""
    bucket = environ.get("AWS_STORAGE_BUCKET_NAME", "")
    backend = environ.get("STORAGE_BACKEND", "s3" if bucket else "local").lower()
    if backend == "local":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if backend != "s3":
        raise ImproperlyConfigured(f"STORAGE_BACKEND must be local or s3; got {backend!r}.")
    if not bucket:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME.")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            # Unset: boto3's own chain (environment, instance role, ~/.aws).
            "access_key": environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,  # MinIO and others
            "region_name": environ.get("AWS_S3_REGION_NAME") or None,
            "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE") or None,
            "location": environ.get("AWS_LOCATION", ""),  # a key prefix inside the bucket
            # Private objects, never replaced: two uploads named data.csv stay two files.
            "default_acl": None,
            "file_overwrite": False,
        },
    }


# --- core ------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", default=False)
# Under pytest: fast password hashing, a private Celery queue, no secure cookies.
TESTING = env_bool("CHS_TESTING", default="pytest" in sys.modules)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-dev-key-only-for-debug-and-tests"  # noqa: S105
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "csp",  # system checks that refuse django-csp's pre-4.0 settings
    "axes",  # login throttling and lockout (state in the database, shared by every worker)
    "chs_site",  # the project's own commands (seed_demo, bench) that run every app
    "accounts",
    "scoring",
    "surveys",
    "connectors",  # beside playbooks: imports accounts and scoring, nothing imports it
    "playbooks",
    "outbound",  # webhooks and REST hooks: the top of the stack, nothing imports it
    "bi",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.AuditOriginMiddleware",
    # Last: turns a sign-in refused for too many failures into the login page's lockout.
    "axes.middleware.AxesMiddleware",
]

# First: every log line of the request, including the other middleware's, carries its id.
MIDDLEWARE.insert(0, "chs_site.request_id.RequestIdMiddleware")

if not (DEBUG or TESTING):
    # In production static files come from `collectstatic` output, served by WhiteNoise;
    # in development runserver and the test live server serve them from the apps.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "chs_site.urls"
WSGI_APPLICATION = "chs_site.wsgi.application"

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
                "chs_site.navigation.navigation",
                "playbooks.context_processors.notifications",
            ],
            # The formatting layer's filters (money, num, when, exact) on every page.
            "builtins": ["chs_site.templatetags.chs_format"],
        },
    }
]

_DEFAULT_SQLITE = VAR_DIR / "chs.sqlite3"
DATABASES = {"default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{_DEFAULT_SQLITE}"))}
if DATABASES["default"]["NAME"] == str(_DEFAULT_SQLITE):
    VAR_DIR.mkdir(exist_ok=True)  # a clean clone has no var/ yet
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/today/"
LOGOUT_REDIRECT_URL = "/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A password reset link works this long (Django's default is three days).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_MINUTES", 60) * 60
if TESTING:
    # Hashing is most of the cost of creating a user; tests create hundreds.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
# Money on the pages: the ISO 4217 code of the currency amounts are in (CHS stores amounts
# without one) and the Babel locale that writes them and other numbers ("en_US": $12,300;
# "de_DE" with EUR: 12.300 €). Checked here so a typo fails at start, not on a page.
CHS_CURRENCY = env_str("CHS_CURRENCY", "USD").strip().upper()
CHS_LOCALE = env_str("CHS_LOCALE", "en_US").strip()
check_money_settings(CHS_CURRENCY, CHS_LOCALE)
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploads (CSV imports and their error reports) are read and written only through Django's
# storage API, so a worker on another machine reads what a web process stored.
STORAGES = {
    "default": upload_storage(os.environ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Uploaded CSV files are streamed to disk, never held whole in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)

# --- HTTPS and browser security --------------------------------------------------------

# With DEBUG=0 CHS assumes it is served over HTTPS (directly or behind a proxy that
# terminates TLS): plain HTTP is redirected, cookies are Secure and browsers are told to
# stay on HTTPS. Serving plain HTTP on loopback (make serve, the test servers) turns the
# redirect and the Secure cookies off with SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0.
_HTTPS_BY_DEFAULT = not DEBUG and not TESTING
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=_HTTPS_BY_DEFAULT)
# Load balancers and orchestrators probe /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Behind a proxy that terminates TLS: the header it sets to "https", as Django's META key
# (SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO). Only when the proxy always sets it:
# a client could otherwise send it and pass as HTTPS.
_PROXY_SSL_HEADER = env_str("SECURE_PROXY_SSL_HEADER").strip()
SECURE_PROXY_SSL_HEADER = (_PROXY_SSL_HEADER, "https") if _PROXY_SSL_HEADER else None
# HSTS is sent on HTTPS responses only. A year, as the preload list asks; subdomains and
# preload commit every host under the domain to HTTPS, so they are the operator's choice.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if _HTTPS_BY_DEFAULT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env_str("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=_HTTPS_BY_DEFAULT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The header a trusted reverse proxy puts the client's address in (X-Forwarded-For,
# X-Real-IP), read for the audit log; blank = REMOTE_ADDR, as it is when nothing proxies.
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER", "")
X_FRAME_OPTIONS = "DENY"

# --- content security policy -----------------------------------------------------------
# Scripts, styles and images come from CHS's own origin only: no page carries an inline
# script, style or event handler (charts turn their stylesheet into SVG attributes, see
# chs_site/svg_styles.py; htmx is told not to inject its indicator style). The API docs
# loosen it for Swagger UI alone (chs_site/urls.py). django-csp 4 names its own settings
# CSP_*, so the environment's CSP_REPORT_ONLY and CSP_REPORT_URI are read into other names.
# CSP_REPORT_ONLY=1 sends the same policy as Content-Security-Policy-Report-Only (browsers
# report, nothing is blocked) for a team rolling it out; CSP_REPORT_URI is where browsers
# post violation reports (a path on this site or an http(s) URL).
_csp_report_uri = env_str("CSP_REPORT_URI")
if _csp_report_uri and not re.fullmatch(r"(https?://[^/\s;,]+)?/[^\s;,]*", _csp_report_uri):
    raise ImproperlyConfigured(
        f"CSP_REPORT_URI must be a path such as /csp-report/ or an http(s) URL without "
        f"spaces, commas or semicolons; got {_csp_report_uri!r}."
    )
_csp_policy = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        # Same-origin forms only. The login form posts here; a sign-in that then redirects
        # to an identity provider is a redirect after a same-origin POST, which Chromium
        # allows (Firefox and the CSP 3 text also check the redirect's target).
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": [_csp_report_uri] if _csp_report_uri else None,
    }
}
if env_bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp_policy
else:
    CONTENT_SECURITY_POLICY = _csp_policy

# --- sign-in ---------------------------------------------------------------------------

_LOCKOUT_KEYS = {"username", "ip_address", "user_agent"}


def lockout_parameters(raw: str) -> list[str | list[str]]:
    """``AXES_LOCKOUT_PARAMETERS`` from the environment: comma-separated keys, each a
    name or names joined by ``+`` (counted together): ``username+ip_address`` counts the
    failures of one username from one address; ``username,ip_address`` counts each apart."""
    parsed: list[str | list[str]] = []
    for item in (part.strip() for part in raw.split(",")):
        names = [name.strip() for name in item.split("+") if name.strip()]
        unknown = [name for name in names if name not in _LOCKOUT_KEYS]
        if not names or unknown:
            raise ImproperlyConfigured(
                f"AXES_LOCKOUT_PARAMETERS: {item!r} is not one of "
                f"{', '.join(sorted(_LOCKOUT_KEYS))} (join with + to count them together)."
            )
        parsed.append(names if len(names) > 1 else names[0])
    return parsed


# django-axes: after AXES_FAILURE_LIMIT failed sign-ins for one username from one address,
# that pair is refused for AXES_COOLOFF_MINUTES; a failure meanwhile restarts the wait. The
# attempts are rows in the database, so the count holds across web processes and machines.
# Admins unlock a user from the user's admin list (or delete the attempts under "Axes").
# API keys never go through authenticate(), so they are not counted or locked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "accounts.sso.OIDCBackend",  # answers only an SSO callback, and only when SSO is on
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = lockout_parameters(
    env_str("AXES_LOCKOUT_PARAMETERS", "username+ip_address")
)
AXES_RESET_ON_SUCCESS = True
# axes' own start-up and attempt log lines; the chs.signin logger writes what matters.
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "accounts.signin.locked_out_response"
# Behind reverse proxies, the client's address is read from X-Forwarded-For, trusting
# exactly AXES_PROXY_COUNT proxies; without proxies the header is ignored (anyone can send it).
AXES_IPWARE_PROXY_COUNT = env_int("AXES_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Single sign-on through OpenID Connect (mozilla-django-oidc), on when OIDC_RP_CLIENT_ID is
# set. The provider's endpoints come from OIDC_OP_ISSUER's discovery document, or each
# from its own variable (which wins). A first sign-in creates the user, matched by email,
# with the role OIDC_ROLE_CLAIM maps to through OIDC_ROLE_MAP (default: the claim names a
# role); a value that maps to nothing gives the least privilege, a CSM.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
SSO_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", default=True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", 10)
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:sso_callback"
OIDC_ROLE_CLAIM = env_str("OIDC_ROLE_CLAIM", "chs_role")
# "claim value=role" pairs, comma-separated: OIDC_ROLE_MAP=chs-admins=admin,chs-leads=manager
OIDC_ROLE_MAP: dict[str, str] = {
    value.strip(): role.strip()
    for value, _, role in (pair.rpartition("=") for pair in env_list("OIDC_ROLE_MAP", []))
} or {"csm": "csm", "manager": "manager", "admin": "admin"}
SSO_BUTTON_LABEL = env_str("SSO_BUTTON_LABEL", "Sign in with SSO")
# Everyone but admins signs in through the provider (admins keep a password for when the
# provider is down).
SSO_REQUIRED = env_bool("SSO_REQUIRED", default=False)
if SSO_ENABLED:
    if not OIDC_RP_CLIENT_SECRET:
        raise ImproperlyConfigured("OIDC_RP_CLIENT_ID is set: set OIDC_RP_CLIENT_SECRET too.")
    _endpoints = (
        OIDC_OP_AUTHORIZATION_ENDPOINT,
        OIDC_OP_TOKEN_ENDPOINT,
        OIDC_OP_USER_ENDPOINT,
        OIDC_OP_JWKS_ENDPOINT,
    )
    if not OIDC_OP_ISSUER and not all(_endpoints):
        raise ImproperlyConfigured(
            "OIDC_RP_CLIENT_ID is set: set OIDC_OP_ISSUER (the provider's discovery is read "
            "from it) or all of OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, "
            "OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT."
        )
    _bad_pairs = [
        f"{value}={role}"
        for value, role in OIDC_ROLE_MAP.items()
        if not value or role not in {"csm", "manager", "admin"}
    ]
    if _bad_pairs:
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP: {', '.join(_bad_pairs)} is not 'claim value=role' with a role "
            "of csm, manager or admin."
        )
elif SSO_REQUIRED:
    raise ImproperlyConfigured("SSO_REQUIRED=1 needs single sign-on: set OIDC_RP_CLIENT_ID.")

# --- email -----------------------------------------------------------------------------

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "CHS <chs@localhost>")
# Surveys: nobody is surveyed twice within this many days (whichever campaign or playbook);
# the worker emails a campaign this many recipients per batch (one SMTP connection each).
SURVEY_THROTTLE_DAYS = env_int("SURVEY_THROTTLE_DAYS", 90)
SURVEY_BATCH_SIZE = env_int("SURVEY_BATCH_SIZE", 100)

# --- celery ----------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
# No broker configured: run tasks in-process, right away (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60 * 60}
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with a fix for workers exiting on a Redis restart.
    CELERY_BROKER_TRANSPORT = "chs_site.broker:Transport"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Four queues (chs_site.queues), one worker or more on each, so a long import never delays
# a recompute. CELERY_QUEUE prefixes their names: tests and benchmarks use a namespace of
# their own so a developer's running worker never eats their tasks; production has none
# (workers run `celery worker -Q recompute` and so on).
CELERY_QUEUE_NAMESPACE = env_str("CELERY_QUEUE", f"chs-test-{os.getpid()}" if TESTING else "")
# What a worker serving every queue passes to -Q (the test and bench helpers do).
CELERY_QUEUE_NAMES = queues.queue_names(CELERY_QUEUE_NAMESPACE)
CELERY_TASK_ROUTES = queues.task_routes(CELERY_QUEUE_NAMESPACE)
# A worker started without -Q (make worker) consumes all four. Each queue has its own
# exchange and key, as Celery makes for a queue it was not told of: with the defaults all
# four would share one binding and every message would land in each of them.
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in CELERY_QUEUE_NAMES]
# Every CHS task is routed (a test checks); Celery's own land on a queue always served.
CELERY_TASK_DEFAULT_QUEUE = queues.qualified(CELERY_QUEUE_NAMESPACE, queues.RECOMPUTE)
# Celery leaves the root logger (settings' LOGGING) alone: workers log as web does.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Consumers of scoring's score-event outbox. Each has a bit of ScoreEvent.pending, fixed for
# good (a retired consumer's bit is never reused: old events may still carry it), and a task
# nudged by name after each write (scoring never imports the apps above it); each task also
# runs on beat below as the safety net.
SCORE_EVENT_CONSUMERS: dict[str, dict[str, Any]] = {
    "playbooks": {"bit": 1, "task": "playbooks.process_score_events"},
    "webhooks": {"bit": 2, "task": "outbound.publish_events"},
    # Score changes written back to CRMs (connectors.writeback).
    "crm": {"bit": 4, "task": "connectors.write_back_scores"},
}
# Tasks that consume accounts' general outbox (tasks, firings, outcomes, imports), nudged
# by name the same way; each also runs on beat below.
OUTBOX_CONSUMERS = ["outbound.publish_events"]
# Webhook deliveries: how long a POST may take, and how long a worker holds a claimed
# delivery before another may send it (longer than the timeout: only a dead worker's
# claim runs out).
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_LEASE_SECONDS = env_float("WEBHOOK_LEASE_SECONDS", max(60.0, 3 * WEBHOOK_TIMEOUT_SECONDS))
# /healthz fails the worker check when no heartbeat (beat sends one a minute) is this old:
# three missed beats, so a worker restart or a busy minute is not an alarm.
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 180)
# A nightly chunk not done this long after the nightly started is left to the minute sweep
# (its worker died): ten times what the slowest of 20 chunks waits in the queue at 100 000
# accounts on two workers.
NIGHTLY_LEASE_SECONDS = env_int("NIGHTLY_LEASE_SECONDS", 600)
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # One heartbeat a minute on each queue: /healthz names a queue nobody consumes.
    **{
        f"worker-heartbeat-{queue}": {
            "task": queues.HEARTBEAT_TASK,
            "schedule": 60.0,
            "args": (queue,),
            "options": {"queue": queues.qualified(CELERY_QUEUE_NAMESPACE, queue)},
        }
        for queue in queues.QUEUES
    },
    # Score events whose nudge was lost (Redis down, a worker killed mid-run): served
    # within 20 s; a run that finds nothing costs one indexed query.
    "playbooks-process-score-events": {
        "task": "playbooks.process_score_events",
        "schedule": 20.0,
    },
    # Playbooks: renewal windows, missing activity, negative feedback; snooze reopen;
    # notification retries and the daily email digest.
    "playbooks-time-triggers": {"task": "playbooks.evaluate_time_triggers", "schedule": 300.0},
    "playbooks-reopen-snoozed": {"task": "playbooks.reopen_snoozed_tasks", "schedule": 900.0},
    "playbooks-retry-notifications": {
        "task": "playbooks.retry_failed_notifications",
        "schedule": 600.0,
    },
    "playbooks-digests": {"task": "playbooks.send_digests", "schedule": crontab(hour=7, minute=0)},
    # Slack: failed channel posts again, each team's renewals at risk, the Slack digests.
    "playbooks-retry-channel-posts": {
        "task": "playbooks.retry_failed_channel_posts",
        "schedule": 600.0,
    },
    "playbooks-renewal-risks": {
        "task": "playbooks.post_renewal_risks",
        "schedule": crontab(hour=8, minute=0),
    },
    "playbooks-slack-digests": {
        "task": "playbooks.send_slack_digests",
        "schedule": crontab(hour=7, minute=0),
    },
    # Webhooks: outbox rows whose nudge was lost become deliveries within 20 s; retries,
    # and deliveries whose worker died (lease run out), are sent within 15 s of being due.
    "outbound-publish-events": {"task": "outbound.publish_events", "schedule": 20.0},
    "outbound-send-deliveries": {"task": "outbound.send_deliveries", "schedule": 15.0},
    "outbound-prune": {"task": "outbound.prune", "schedule": crontab(hour=3, minute=45)},
    # Survey campaigns whose next batch message was lost.
    "surveys-resume-campaigns": {"task": "surveys.resume_campaigns", "schedule": 300.0},
    # Anything still dirty (a lost message, a Redis outage) is recomputed within a minute.
    "scoring-sweep-dirty": {"task": "scoring.tasks.sweep_dirty", "schedule": 60.0},
    # Time passing moves windows and makes data stale: every account, nightly, in chunks.
    "scoring-nightly-recompute": {
        "task": "scoring.tasks.nightly_recompute",
        "schedule": crontab(hour=2, minute=15),
    },
    # Processed score events are kept a week (to look into what fired), then dropped.
    "scoring-prune-score-events": {
        "task": "scoring.tasks.prune_score_events",
        "schedule": crontab(hour=3, minute=30),
    },
    # CRM write-back's sweep of the outbox (as the playbooks' above), then its push.
    "connectors-write-back-scores": {"task": "connectors.write_back_scores", "schedule": 20.0},
    # Connectors: queue a sync for each enabled connector whose interval has passed.
    "connectors-dispatch-due-syncs": {"task": "connectors.dispatch_due_syncs", "schedule": 60.0},
    # Segment events a lost nudge left staged are rolled up within a minute; message ids
    # past the dedupe window and old daily rows are pruned nightly.
    "scoring-rollup-segment": {"task": "scoring.tasks.rollup_segment", "schedule": 60.0},
    "scoring-prune-segment": {
        "task": "scoring.tasks.prune_segment",
        "schedule": crontab(hour=3, minute=45),
    },
    # Outcomes also arrive by API and CSV: refit the churn model when there are new ones.
    "scoring-refit-churn-model": {
        "task": "scoring.tasks.fit_churn_model",
        "schedule": 3600.0,
        "kwargs": {"only_if_new_outcomes": True},
    },
}

# --- the Today page --------------------------------------------------------------------
# What puts an account on a person's Today list (playbooks.selectors.attention): a score
# that fell by at least TODAY_DROP_POINTS from its high over the last TODAY_LOOKBACK_DAYS
# days, a red band entered or detractor feedback within that look-back, a renewal within
# TODAY_RENEWAL_DAYS days while not green (and any overdue task).
TODAY_DROP_POINTS = env_float("TODAY_DROP_POINTS", 10.0)
TODAY_LOOKBACK_DAYS = env_int("TODAY_LOOKBACK_DAYS", 14)
TODAY_RENEWAL_DAYS = env_int("TODAY_RENEWAL_DAYS", 60)
if min(TODAY_DROP_POINTS, TODAY_LOOKBACK_DAYS, TODAY_RENEWAL_DAYS) <= 0:
    raise ImproperlyConfigured(
        "TODAY_DROP_POINTS, TODAY_LOOKBACK_DAYS and TODAY_RENEWAL_DAYS must be above 0 "
        f"(got {TODAY_DROP_POINTS}, {TODAY_LOOKBACK_DAYS}, {TODAY_RENEWAL_DAYS})."
    )

# --- API -------------------------------------------------------------------------------

# Throttling counts live in the cache: per process by default, shared through Redis when
# CACHE_URL (or a redis:// broker) is set, so a token's limit holds across web processes.
# The cache is never needed for an answer: with Redis down, django-redis answers every read
# as a miss and drops every write (IGNORE_EXCEPTIONS), so pages and the API keep working,
# the throttle lets requests through, and /healthz names the broker. The short timeouts
# keep a Redis that hangs from adding more than half a second to a request.
_CACHE_URL = env_str("CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis://") else ""
)
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": _CACHE_URL,
            # A test run's keys never meet another run's (nor a developer's stack).
            "KEY_PREFIX": CELERY_QUEUE_NAMESPACE or "chs",
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.authentication.TokenScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.authentication.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("API_RATE_LIMIT", "1200/minute"),
        # Segment batches: 100 000 events a second at Segment's usual 100 per batch.
        "segment": env_str("SEGMENT_RATE_LIMIT", "60000/minute"),
    },
    "EXCEPTION_HANDLER": "chs_site.api_errors.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "chs_site.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ]

SPECTACULAR_SETTINGS = {
    # chs_site.converters: a row id (64-bit) and an account's external_id in a path.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "account_id": {
            "type": "string",
            "pattern": EXTERNAL_ID_PATTERN,
            "maxLength": EXTERNAL_ID_MAX_LENGTH,
        },
    },
    "TITLE": "CHS API",
    "DESCRIPTION": "Customer Health Score: accounts, metrics, scorecards, feedback, tasks, outcomes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status`; each choice set gets a stable name of its own.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "playbooks.models.TaskStatus",
        "EndpointKindEnum": "outbound.models.Endpoint.Kind",
    },
}

# --- secrets at rest ----------------------------------------------------------------------

# Encrypts the credentials CHS must use again (chs_site.secrets: connector credentials, the
# Slack bot token, webhook signing secrets): a Fernet key, or several comma-separated while
# rotating (the first encrypts). Development and tests use a fixed, public key; in
# production `manage.py check --deploy` fails without one of your own.
ENCRYPTION_DEV_KEY = "Y2hzLWRldi1lbmNyeXB0aW9uLWtleS1wdWJsaWMhISE="  # noqa: S105
ENCRYPTION_KEY = env_str("ENCRYPTION_KEY", ENCRYPTION_DEV_KEY if DEBUG or TESTING else "")
# Slack: the Web API's address (tests point a workspace at a local server instead).
SLACK_API_BASE = "https://slack.com/api/"

# --- connectors ----------------------------------------------------------------------

# Waiting on a vendor's 429s and 5xx: Retry-After when given, else base · 2^try seconds,
# never more than the cap per wait, at most this many tries per call.
CONNECTOR_BACKOFF_BASE_SECONDS = env_float("CONNECTOR_BACKOFF_BASE_SECONDS", 1.0)
CONNECTOR_BACKOFF_MAX_SECONDS = env_float("CONNECTOR_BACKOFF_MAX_SECONDS", 60.0)
CONNECTOR_MAX_ATTEMPTS = env_int("CONNECTOR_MAX_ATTEMPTS", 6)

# --- logging ---------------------------------------------------------------------------

# JSON lines (one object per record: time, level, logger, message, request_id, and the
# exception's traceback) for a log collector; plain text for a person at a terminal. The
# default follows DEBUG: production output goes to a collector, development to a person.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG or TESTING else "json").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json; got {LOG_FORMAT!r}.")
if LOG_FORMAT == "json":
    # Python's warnings too, so every line a collector reads is JSON.
    logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "chs_site.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"} if TESTING else {"level": "INFO"},
        # axes logs each successful sign-in's reset at INFO; chs.signin logs the sign-ins.
        "axes": {"level": "WARNING"},
    },
}

# --- error reporting -------------------------------------------------------------------

SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    from chs_site.error_reporting import init_error_reporting

    init_error_reporting(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        release=env_str("SENTRY_RELEASE") or None,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )
