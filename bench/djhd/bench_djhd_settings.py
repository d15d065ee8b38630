"""Minimal Django settings to run django-helpdesk's ``get_email`` for the benchmark.

Used only by bench/run.py, in django-helpdesk's own virtual environment (never mailbot's).
Everything deployment-specific comes from the environment that run.py sets:
BENCH_DJHD_DIR (SQLite file, media, sent-mail log), BENCH_SMTP_* (the local Postfix
submission port, STARTTLS + AUTH, as mailbot uses) and SSL_CERT_FILE (the mail stack's CA).
"""

import os

BASE = os.environ.get("BENCH_DJHD_DIR", "/tmp/djhd-bench")

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
USE_TZ = True
TIME_ZONE = "Asia/Jakarta"
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
HELPDESK_TEAMS_MODE_ENABLED = False  # no pinax-teams
ROOT_URLCONF = "bench_djhd_urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth",
                                        "django.contrib.messages.context_processors.messages",
                                        "django.template.context_processors.request"]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(BASE, "djhd.sqlite3"),
                         "OPTIONS": {"timeout": 30}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MEDIA_ROOT = os.path.join(BASE, "media")
STATIC_URL = "/static/"

# Django's SMTP backend (a new connection per message, as django-helpdesk sends), wrapped only
# to log what was accepted so the benchmark knows how many deliveries to wait for.
EMAIL_BACKEND = "bench_djhd_countmail.CountingSMTPBackend"
EMAIL_HOST = os.environ.get("BENCH_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("BENCH_SMTP_PORT", "12587"))
EMAIL_USE_TLS = True
EMAIL_HOST_USER = os.environ.get("BENCH_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("BENCH_SMTP_PASSWORD", "secret")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = EMAIL_HOST_USER

LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"file": {"class": "logging.FileHandler", "filename": os.path.join(BASE, "djhd.log")}},
           "root": {"handlers": ["file"], "level": "WARNING"}}
