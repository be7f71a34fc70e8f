"""Estate settings: one module, driven by the environment (12-factor).

With nothing set, Estate runs on an embedded default: SQLite under var/ and Celery on
Kombu's filesystem transport. Set DATABASE_URL and REDIS_URL for PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ESTATE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str) -> str:
    """The secret from the environment, else one generated once and kept under var/.

    A file keeps sessions valid across restarts of the zero-setup default; a deployment with
    several web processes sets the variable so that they all share one key.
    """
    if os.environ.get(name):
        return os.environ[name]
    path = VAR_DIR / name.lower()
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
# Loopback only unless told otherwise: safe by default, and manage.py works with no environment.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "estate.access.admin_site.EstateAdminConfig",  # django.contrib.admin, closed to scoped roles
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "estate.core",
    "estate.audit",
    "estate.inventory",
    "estate.telemetry",
    "estate.outbox",
    "estate.notifications",
    "estate.patching",
    "estate.operations",
    "estate.runbooks",
    "estate.dashboard",
    "estate.access",
    "estate.catalog",
    "estate.discovery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "estate.core.context.RequestContextMiddleware",
    "estate.audit.middleware.AccessDeniedAuditMiddleware",  # every 403 is in the audit trail
    "estate.access.middleware.RoleRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "estate.core.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "estate.urls"
WSGI_APPLICATION = "estate.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- data stores ------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'estate.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    # Short OLTP queries: the JIT compiler's start-up costs more than it saves (tens of ms per page).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a web process and two worker processes at once: WAL lets readers
    # run beside the writer, IMMEDIATE takes the write lock when a transaction starts (no deadlock
    # upgrading a read lock) and a writer waits up to 20 s for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "estate.core.cache_backend.ResilientRedisCache",  # misses, not 500s, while Redis is down
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Estate-wide totals (dashboard, findings counts) are cached this long; any inventory write drops them.
ESTATE_FIGURES_CACHE_SECONDS = env_int("ESTATE_FIGURES_CACHE_SECONDS", 30)

# --- Celery: the database row is the truth, the message only a wake-up call -----------------
CELERY_FILESYSTEM_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, except that a lost connection no longer kills the worker (estate/celery.py).
    CELERY_BROKER_TRANSPORT = "estate.celery:RedisTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
    for folder in ("queue", "processed", "control"):
        (CELERY_FILESYSTEM_DIR / folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits out a broker outage of any length (Celery's default gives up after 100 tries, ~45 min).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    # telemetry
    "telemetry-evaluate-health": {"task": "estate.telemetry.tasks.evaluate_health", "schedule": 30.0},
    "telemetry-rollup-and-purge": {"task": "estate.telemetry.tasks.rollup_and_purge", "schedule": 300.0},
    # patching
    # operations
    "operations-sweep": {"task": "estate.operations.tasks.sweep_operations", "schedule": 30.0},
    "operations-evaluate-policies": {"task": "estate.operations.tasks.evaluate_policies", "schedule": 60.0},
    "patching-start-due": {"task": "estate.patching.tasks.start_due_occurrences", "schedule": 60.0},
    "patching-flag-overdue": {"task": "estate.patching.tasks.flag_overdue_occurrences", "schedule": 60.0},
    "patching-reminders": {"task": "estate.patching.tasks.send_reminders", "schedule": 60.0},
    "patching-extend-silences": {"task": "estate.patching.tasks.extend_silences", "schedule": 60.0},
    "patching-refresh-slots": {"task": "estate.patching.tasks.refresh_slots", "schedule": 3600.0},
    # deadlines set by others: end-of-life rows for today, proposals never searched or gone stale
    "patching-refresh-deadlines": {"task": "estate.patching.tasks.refresh_deadlines", "schedule": 3600.0},
    # outbox: retries whose time has come, and sends whose worker died
    "outbox-deliver-due": {"task": "estate.outbox.tasks.deliver_due", "schedule": 15.0},
    # discovery: sources whose interval has passed
    "discovery-queue-due": {"task": "estate.discovery.tasks.queue_due_syncs", "schedule": 60.0},
    # notifications: critical findings that were not there at the last look
    "notifications-critical-findings": {
        "task": "estate.notifications.tasks.notify_critical_findings",
        "schedule": 60.0,
    },
}

# --- e-mail (reminders) ---------------------------------------------------------------------
# Production relays through an SMTP server (a local MTA unless told otherwise); DEBUG logs mail instead.
EMAIL_SMTP_HOST = env_str("EMAIL_SMTP_HOST", "" if DEBUG else "localhost")
if EMAIL_SMTP_HOST:
    _mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": EMAIL_SMTP_HOST,
            "port": env_int("EMAIL_SMTP_PORT", 25),
            "username": env_str("EMAIL_SMTP_USER"),
            "password": env_str("EMAIL_SMTP_PASSWORD"),
            "use_tls": env_bool("EMAIL_SMTP_TLS", False),
            "timeout": 10,
        },
    }
else:
    _mailer = {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
MAILERS = {"default": _mailer}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "estate@localhost")

# --- auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Login attempts (POSTs) per client IP, and the lockout after repeated failures. Both live in the
# default cache, which is Redis when REDIS_URL is set, so every web process sees the same counts.
LOGIN_THROTTLE_RATE = env_str("LOGIN_THROTTLE_RATE", "60/minute")
LOGIN_LOCKOUT_USERNAME_FAILURES = env_int("LOGIN_LOCKOUT_USERNAME_FAILURES", 5)
LOGIN_LOCKOUT_IP_FAILURES = env_int("LOGIN_LOCKOUT_IP_FAILURES", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
# Personal API tokens (calendar feeds too) must expire: the longest life one may be given.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API ------------------------------------------------------------------------------
API_BULK_LIMIT = env_int("API_BULK_LIMIT", 1000)
# Catalog as code (estate.catalog): bounds on one plan or apply.
CATALOG_MAX_BYTES = env_int("CATALOG_MAX_BYTES", 8 * 1024 * 1024)
CATALOG_MAX_DOCUMENTS = env_int("CATALOG_MAX_DOCUMENTS", 1000)
CATALOG_MAX_OBJECTS = env_int("CATALOG_MAX_OBJECTS", 50000)
CATALOG_MAX_ALIASES = env_int("CATALOG_MAX_ALIASES", 100)
# Discovery (estate.discovery): what vanished from its source is deleted only by an explicit prune,
# and only once it has been gone this long; a run still "running" after the timeout is marked failed.
DISCOVERY_PRUNE_AFTER_DAYS = env_int("DISCOVERY_PRUNE_AFTER_DAYS", 7)
DISCOVERY_RUN_TIMEOUT_MINUTES = env_int("DISCOVERY_RUN_TIMEOUT_MINUTES", 60)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A script's token header is judged before any session cookie it may also carry.
        "estate.access.authentication.ApiTokenAuthentication",
        "estate.access.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "estate.core.filters.FilterBackend",  # django-filter's, lean per request
    ],
    # The API speaks JSON, and its schema says so (a generated client sends JSON). The endpoints that
    # take files or other formats name their own parsers: catalog plan/apply, the .ics freeze import,
    # and the intake (OTLP, remote_write), which reads its body raw.
    "DEFAULT_PARSER_CLASSES": ["estate.core.parsers.JSONParser"],
    # JSON written by orjson, byte for byte what DRF's renderer wrote (estate/core/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ["estate.core.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PAGINATION_CLASS": "estate.core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "estate.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "estate.core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["estate.access.throttles.ApiRateThrottle"],
    # Proxies in front that append to X-Forwarded-For; 0 trusts only REMOTE_ADDR (no spoofed IPs).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
# Requests per client ("N/second|minute|hour|day"; empty is unlimited), read on every request.
API_THROTTLE_RATE_USER = env_str("API_THROTTLE_RATE_USER", "3000/minute")
API_THROTTLE_RATE_ANON = env_str("API_THROTTLE_RATE_ANON", "300/minute")
# Agents report in bulk and often: the ingest endpoint has its own, higher budget.
API_THROTTLE_RATE_INGEST = env_str("API_THROTTLE_RATE_INGEST", "30000/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "Estate API",
    "DESCRIPTION": "Inventory, health, patch windows and operations for mixed immutable and bastion estates.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The API's description holds no data: served to anyone, without authenticating.
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids without the common prefix: a generated client's functions are components_list, ...
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The default enum hook, then every operation's error responses in the one error shape, then
    # a description for each app's tag (estate.core.schema.AutoSchema groups operations by app).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "estate.core.schema.document_errors",
        "estate.core.schema.document_tags",
    ],
}

# --- content security policy: no inline script or style without the per-response nonce --------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    # Injected <style> elements take the nonce: FullCalendar and htmx from <meta> tags in base.html,
    # ReDoc's styled-components from its init options (static/js/redoc_init.js). ReDoc's bundled
    # perfect-scrollbar CSS is injected as the bundle loads, before any nonce can reach it: its
    # hash allows exactly that text (a new drf-spectacular-sidecar may change it; the browser
    # test tests/browser/test_csp.py then fails and prints the new hash); the element is inserted
    # empty first, hence the empty string's hash too.
    "style-src": [
        CSP.SELF,
        CSP.NONCE,
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    ],
    # ReDoc runs its search index in a Worker made from a blob: URL.
    "worker-src": [CSP.SELF, "blob:"],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- production hardening (passes `manage.py check --deploy`) ------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers and compose probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- logging -------------------------------------------------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
            },
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

DEMO_USERNAME = "demo"
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "estate-demo")

# --- telemetry -----------------------------------------------------------------------------
TELEMETRY_BATCH_LIMIT = env_int("TELEMETRY_BATCH_LIMIT", 10000)
TELEMETRY_MAX_BODY_BYTES = env_int("TELEMETRY_MAX_BODY_BYTES", 16 * 1024 * 1024)
TELEMETRY_MAX_FUTURE_SECONDS = env_int("TELEMETRY_MAX_FUTURE_SECONDS", 300)
TELEMETRY_RETENTION_DAYS = env_int("TELEMETRY_RETENTION_DAYS", 7)
TELEMETRY_ROLLUP_RETENTION_DAYS = env_int("TELEMETRY_ROLLUP_RETENTION_DAYS", 400)
TELEMETRY_HEALTH_CHANGE_RETENTION_DAYS = env_int("TELEMETRY_HEALTH_CHANGE_RETENTION_DAYS", 400)
TELEMETRY_IDEMPOTENCY_HOURS = env_int("TELEMETRY_IDEMPOTENCY_HOURS", 24)
TELEMETRY_DEFAULT_GRACE_SECONDS = env_int("TELEMETRY_DEFAULT_GRACE_SECONDS", 60)
# Components an ingest batch names are evaluated this many seconds after it commits (at least 1), one
# evaluation for every batch of that moment, instead of waiting for the beat's.
TELEMETRY_REEVALUATE_DELAY_SECONDS = env_int("TELEMETRY_REEVALUATE_DELAY_SECONDS", 1)
# Intake (OTLP, remote_write): the environment of a resource or series that names none, and the
# series labels that name the environment, component and instance in remote_write.
TELEMETRY_DEFAULT_ENVIRONMENT = env_str("TELEMETRY_DEFAULT_ENVIRONMENT", "")
TELEMETRY_PROMETHEUS_ENVIRONMENT_LABEL = env_str("TELEMETRY_PROMETHEUS_ENVIRONMENT_LABEL", "environment")
TELEMETRY_PROMETHEUS_COMPONENT_LABEL = env_str("TELEMETRY_PROMETHEUS_COMPONENT_LABEL", "job")
TELEMETRY_PROMETHEUS_INSTANCE_LABEL = env_str("TELEMETRY_PROMETHEUS_INSTANCE_LABEL", "instance")
# OTLP histograms (and summaries that report it) also give this quantile as <name>.p95; 0 turns it off.
TELEMETRY_HISTOGRAM_QUANTILE = float(env_str("TELEMETRY_HISTOGRAM_QUANTILE", "0.95"))
PROMETHEUS_URL = env_str("PROMETHEUS_URL")
PROMETHEUS_TIMEOUT_SECONDS = env_int("PROMETHEUS_TIMEOUT_SECONDS", 5)
# /metrics is open when empty (scraped on a private network); else it wants "Authorization: Bearer <token>".
METRICS_TOKEN = env_str("METRICS_TOKEN")
MIDDLEWARE = ["estate.telemetry.metrics.RequestMetricsMiddleware", *MIDDLEWARE]

# --- outbox (side effects: silences, notifications) ----------------------------------------
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 12)
OUTBOX_BACKOFF_SECONDS = env_int("OUTBOX_BACKOFF_SECONDS", 10)
OUTBOX_BACKOFF_MAX_SECONDS = env_int("OUTBOX_BACKOFF_MAX_SECONDS", 900)
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 120)
# Where people reach Estate: links in notifications and reminders are made absolute with it.
PUBLIC_URL = env_str("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# --- patching ------------------------------------------------------------------------------
# How far ahead conflicts are checked and slots are held for the database's exclusion constraint.
PATCHING_HORIZON_DAYS = env_int("PATCHING_HORIZON_DAYS", 190)
PATCHING_REMINDER_MINUTES = env_int("PATCHING_REMINDER_MINUTES", 60)
PATCHING_REMINDER_EMAILS = env_list("PATCHING_REMINDER_EMAILS")
PATCHING_WEBHOOK_URL = env_str("PATCHING_WEBHOOK_URL")
PATCHING_WEBHOOK_SECRET = env_str("PATCHING_WEBHOOK_SECRET")
PATCHING_SILENCE_GRACE_MINUTES = env_int("PATCHING_SILENCE_GRACE_MINUTES", 15)
# The domain part of the feed's event UIDs: keep it fixed, or calendar clients duplicate events.
PATCHING_ICAL_DOMAIN = env_str("PATCHING_ICAL_DOMAIN", "estate")
ALERTMANAGER_URL = env_str("ALERTMANAGER_URL")
# The alert label that carries a component's slug.
ALERTMANAGER_MATCHER_LABEL = env_str("ALERTMANAGER_MATCHER_LABEL", "component")
if not DEBUG:
    SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^metrics$"]

# --- operations ----------------------------------------------------------------------------
# A worker renews its lease on an operation at every step; when it dies, the sweep hands the
# operation to another worker once the lease has run out.
OPERATIONS_LEASE_SECONDS = env_int("OPERATIONS_LEASE_SECONDS", 60)
# A queued operation whose message has not started it within this long is dispatched again.
OPERATIONS_REDISPATCH_SECONDS = env_int("OPERATIONS_REDISPATCH_SECONDS", 60)
OPERATIONS_POLL_SECONDS = float(env_str("OPERATIONS_POLL_SECONDS", "1"))
# A waiting operation gives its worker back and is woken again after at most this long (a cancel is
# seen at the next wake-up); a wait with a known end (warm-up) sleeps until then, in steps of this.
OPERATIONS_MAX_SNOOZE_SECONDS = float(env_str("OPERATIONS_MAX_SNOOZE_SECONDS", "5"))
OPERATIONS_DEFAULT_WARMUP_SECONDS = float(env_str("OPERATIONS_DEFAULT_WARMUP_SECONDS", "5"))
OPERATIONS_DEFAULT_HEALTH_TIMEOUT_SECONDS = float(env_str("OPERATIONS_DEFAULT_HEALTH_TIMEOUT_SECONDS", "300"))
# The most any operation may ask a worker to wait (warm-up, health timeout), and the most instances
# one operation may replace at once or name: a request past them is refused with the bound.
OPERATIONS_MAX_WAIT_SECONDS = float(env_str("OPERATIONS_MAX_WAIT_SECONDS", "3600"))
OPERATIONS_MAX_INSTANCES = env_int("OPERATIONS_MAX_INSTANCES", 1000)
# The analysis gate: after a batch's health gate, it bakes this long (0: one look) while the component's
# metric rules, the roll's PromQL conditions and its dependents' error rate (this metric, at most this
# ratio, or no worse than before the batch) hold; it looks again every ANALYSIS_INTERVAL seconds.
OPERATIONS_DEFAULT_BAKE_SECONDS = float(env_str("OPERATIONS_DEFAULT_BAKE_SECONDS", "0"))
OPERATIONS_ANALYSIS_INTERVAL_SECONDS = float(env_str("OPERATIONS_ANALYSIS_INTERVAL_SECONDS", "5"))
OPERATIONS_ERROR_RATE_METRIC = env_str("OPERATIONS_ERROR_RATE_METRIC", "http_error_rate")
OPERATIONS_DEFAULT_MAX_DEPENDENT_ERROR_RATE = float(env_str("OPERATIONS_DEFAULT_MAX_DEPENDENT_ERROR_RATE", "0.05"))
# The sandbox provider's simulated failure rate (0 to 1) for builds and launches; 0 is off.
OPERATIONS_SANDBOX_FAILURE_RATE = float(env_str("OPERATIONS_SANDBOX_FAILURE_RATE", "0"))
# webhook provider: where the CI/CD sends its signed callbacks, and how long one delivery may take (the
# outbox retries a CI/CD that is down: OUTBOX_*).
OPERATIONS_WEBHOOK_CALLBACK_URL = env_str(
    "OPERATIONS_WEBHOOK_CALLBACK_URL", "http://127.0.0.1:8000/operations/callback/"
)
OPERATIONS_WEBHOOK_TIMEOUT_SECONDS = float(env_str("OPERATIONS_WEBHOOK_TIMEOUT_SECONDS", "10"))
OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS = float(env_str("OPERATIONS_WEBHOOK_CALLBACK_TIMEOUT_SECONDS", "1800"))
# Runbooks (docs/runbooks.md). The command executor runs only these argv templates, one per action,
# plus "facts" (prints the cluster's members), without a shell: a JSON object such as
# {"patch": ["/usr/local/bin/patch-node", "{node}", "{key}"], "facts": ["/usr/local/bin/members", "{component}"]}.
RUNBOOK_COMMANDS = json.loads(env_str("RUNBOOK_COMMANDS", "{}") or "{}")
# What the webhook executor's automation is asked to do (a runbook naming another action is refused).
RUNBOOK_WEBHOOK_ACTIONS = env_list(
    "RUNBOOK_WEBHOOK_ACTIONS", "patch,reboot,switchover,failover,apply_maintenance,upgrade"
)
# How often a gate looks at its conditions again while it waits.
RUNBOOK_GATE_POLL_SECONDS = float(env_str("RUNBOOK_GATE_POLL_SECONDS", "5"))
# Outbound calls to typed-in addresses (estate.core.outbound): loopback, link-local, metadata,
# multicast and reserved addresses are refused unless listed here (comma-separated networks,
# e.g. "127.0.0.1/32,fe80::/10"); private ranges are allowed already. Empty: nothing extra.
OUTBOUND_ALLOWED_NETWORKS = env_str("OUTBOUND_ALLOWED_NETWORKS", "")
# Which components' provider configs may name which secret variable (estate.operations.providers
# .signing): "ESTATE_WEB_K8S_TOKEN=team:web,ESTATE_PAY_HOOK=team:payments system:checkout,
# ESTATE_SHARED_HOOK=*". A variable not listed here is refused to every provider config.
PROVIDER_SECRET_SCOPES = env_str("PROVIDER_SECRET_SCOPES", "")
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "OperationStateEnum": "estate.operations.choices.OperationState",
        "TokenScopeEnum": "estate.access.models.TokenScope",
        # Two "kind" fields with choices (operations, log rules): each its own name, operations' as before.
        "KindEnum": "estate.operations.choices.OperationKind",
        "MutationKindEnum": "estate.telemetry.choices.MutationKind",
        "FreezeScopeEnum": "estate.patching.choices.FreezeScope",
    }
)
