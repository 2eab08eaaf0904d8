"""Settings of the corpus project (``tests/corpus``).

One Django project made of popular third-party apps installed from PyPI
(``requirements.txt``) and four apps of its own. ``DATABASE_URL`` picks the
database; the apps a backend cannot run are left out on it:

* ``django.contrib.postgres``, ``pgcorpus`` (every field, index and
  constraint of ``django.contrib.postgres``) and ``django.contrib.gis`` with
  ``gisapp`` (PostGIS): PostgreSQL only;
* ``ftsapp`` (an FTS5 virtual table made by ``RunSQL`` under
  ``SeparateDatabaseAndState``): SQLite only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "corpus-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
SITE_ID = 1
ROOT_URLCONF = "corpusproject.urls"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("CORPUS_MEDIA_ROOT", tempfile.gettempdir())
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def database_from_url(url: str) -> dict[str, object]:
    """``sqlite:///path``, ``postgres://user@host:port/name``, ``mysql://...``."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(rest[1:])}
    parts = urlsplit(url)
    engine = {
        "postgres": "django.contrib.gis.db.backends.postgis",
        "postgresql": "django.contrib.gis.db.backends.postgis",
        "mysql": "django.db.backends.mysql",
        "mariadb": "django.db.backends.mysql",
    }[scheme]
    config: dict[str, object] = {
        "ENGINE": engine,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
    if engine.endswith("mysql"):
        config["OPTIONS"] = {"charset": "utf8mb4"}
    return config


DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'corpus.sqlite3'}")
    )
}
ENGINE = str(DATABASES["default"]["ENGINE"])
POSTGRESQL = "postgis" in ENGINE
SQLITE = "sqlite" in ENGINE

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    # django CMS and plugins
    "cms",
    "menus",
    "treebeard",
    "sekizai",
    "djangocms_text",
    "djangocms_link",
    "djangocms_picture",
    "djangocms_file",
    "djangocms_frontend",
    "djangocms_frontend.contrib.accordion",
    "djangocms_frontend.contrib.alert",
    "djangocms_frontend.contrib.card",
    "djangocms_frontend.contrib.grid",
    "djangocms_frontend.contrib.image",
    "djangocms_frontend.contrib.link",
    "djangocms_frontend.contrib.tabs",
    "filer",
    "easy_thumbnails",
    "polymorphic",
    "mptt",
    # authentication and permissions
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_hotp",
    "django_otp.plugins.otp_email",
    "axes",
    # history, audit, settings, tasks, tags, import/export
    "simple_history",
    "reversion",
    "auditlog",
    "constance",
    "django_celery_beat",
    "taggit",
    "import_export",
    # the corpus's own apps
    "corpusshop",
    "corpustools",
    "migration_guard",
]
if POSTGRESQL:
    INSTALLED_APPS += ["django.contrib.postgres", "django.contrib.gis"]
    INSTALLED_APPS += ["pgcorpus", "gisapp"]
if SQLITE:
    INSTALLED_APPS += ["ftsapp"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "cms.middleware.user.CurrentUserMiddleware",
    "cms.middleware.page.CurrentPageMiddleware",
    "cms.middleware.toolbar.ToolbarMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sekizai.context_processors.sekizai",
                "cms.context_processors.cms_settings",
            ],
        },
    }
]

CMS_CONFIRM_VERSION4 = True
CMS_TEMPLATES = [("cms_corpus.html", "Corpus")]
THUMBNAIL_PROCESSORS = (
    "easy_thumbnails.processors.colorspace",
    "easy_thumbnails.processors.autocrop",
    "filer.thumbnail_processors.scale_and_crop_with_subject_location",
    "easy_thumbnails.processors.filters",
)
CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
CONSTANCE_CONFIG = {"SITE_NAME": ("corpus", "The site's name")}
CELERY_BROKER_URL = "memory://"
AXES_ENABLED = False
SILENCED_SYSTEM_CHECKS = ["axes.W003", "treebeard.E001", "gis.W001"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MIGRATION_GUARD = {
    "BACKUP": "never",
    "BACKUP_DIR": os.environ.get("MIGRATION_GUARD_BACKUP_DIR", tempfile.gettempdir()),
}
