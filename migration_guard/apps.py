from django.apps import AppConfig


class MigrationGuardConfig(AppConfig):
    name = "migration_guard"
    verbose_name = "migration_guard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from migration_guard import checks, conf  # noqa: F401  (registers receivers)
