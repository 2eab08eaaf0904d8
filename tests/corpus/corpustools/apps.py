from django.apps import AppConfig


class CorpusToolsConfig(AppConfig):
    name = "corpustools"
