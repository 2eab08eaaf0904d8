from django.apps import AppConfig


class CorpusShopConfig(AppConfig):
    name = "corpusshop"
    # 0001 was made with AutoField keys; 0002 switches every model (and so
    # every foreign key to them) to BigAutoField
    default_auto_field = "django.db.models.BigAutoField"
