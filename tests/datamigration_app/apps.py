from django.apps import AppConfig


class DatamigrationAppConfig(AppConfig):
    name = "tests.datamigration_app"
    label = "dmapp"
    default_auto_field = "django.db.models.BigAutoField"
