"""Settings for the guardedmigrate test project.

The database is configured from the ``DATABASE_URL`` environment variable so
the same project can be exercised against SQLite, PostgreSQL and MariaDB/MySQL:

    sqlite:///relative/path.sqlite3     (relative to the current directory)
    sqlite:////absolute/path.sqlite3
    sqlite://:memory:
    postgres://user:password@host:5432/name
    mysql://user:password@host:3306/name      (also mariadb://)

Append ``?test_name=foo`` to set ``DATABASES["default"]["TEST"]["NAME"]``.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-migration-guard-testproject-dev-key-not-for-production"

DEBUG = True

ALLOWED_HOSTS: list[str] = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "migration_guard",
    "accounts",
    "catalog",
    "orders",
]

# Development escape hatch: set MIGRATION_GUARD_TESTPROJECT_NO_MIGRATION_GUARD=1 to run
# the project without the guardedmigrate app installed (e.g. to build or debug the
# test project's own migrations while migration_guard itself is broken or absent).
if os.environ.get("MIGRATION_GUARD_TESTPROJECT_NO_MIGRATION_GUARD"):
    INSTALLED_APPS.remove("migration_guard")

SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"

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
            ],
        },
    },
]


_ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "sqlite3": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "mariadb": "django.db.backends.mysql",
}


def database_from_url(url: str) -> dict:
    """Turn a ``DATABASE_URL``-style string into a Django DATABASES entry.

    Same conventions as dj-database-url for the schemes it supports: for
    SQLite everything after ``sqlite:///`` is the path (so ``sqlite:////x``
    is the absolute path ``/x``) and ``sqlite://:memory:`` is an in-memory
    database.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _ENGINES:
        raise ValueError(f"Unsupported DATABASE_URL: {url!r}")
    engine = _ENGINES[scheme]

    rest, _, query_string = rest.partition("?")
    query = {key: values[-1] for key, values in parse_qs(query_string).items()}

    config: dict = {"ENGINE": engine}

    if engine == "django.db.backends.sqlite3":
        if rest in ("", ":memory:", "/:memory:"):
            config["NAME"] = ":memory:"
        elif rest.startswith("/"):
            config["NAME"] = unquote(rest[1:])
        else:
            raise ValueError(
                f"Invalid SQLite DATABASE_URL {url!r}: use sqlite:///path, "
                "sqlite:////abs/path or sqlite://:memory:"
            )
    else:
        parts = urlsplit(f"{scheme}://{rest}")
        config.update(
            {
                "NAME": unquote(parts.path.lstrip("/")),
                "USER": unquote(parts.username or ""),
                "PASSWORD": unquote(parts.password or ""),
                "HOST": unquote(parts.hostname or ""),
                "PORT": str(parts.port or ""),
            }
        )
        if engine == "django.db.backends.mysql":
            config["OPTIONS"] = {"charset": "utf8mb4"}

    if "test_name" in query:
        config["TEST"] = {"NAME": query["test_name"]}
    return config


DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    ),
}

MIGRATION_GUARD = {
    "BACKUP_DIR": Path(
        os.environ.get("MIGRATION_GUARD_BACKUP_DIR", BASE_DIR / "backups")
    ),
}

AUTH_PASSWORD_VALIDATORS: list[dict] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
