from django.apps import AppConfig


class SafemigrateConfig(AppConfig):
    name = "safemigrate"
    verbose_name = "safemigrate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from safemigrate import checks, conf  # noqa: F401  (registers receivers)
