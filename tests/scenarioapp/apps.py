from django.apps import AppConfig


class ScenarioConfig(AppConfig):
    name = "tests.scenarioapp"
    label = "scenario"
    default_auto_field = "django.db.models.BigAutoField"
