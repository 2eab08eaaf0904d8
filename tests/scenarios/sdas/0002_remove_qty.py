"""Removes a NOT NULL column without a default: undoing it must re-add it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [migrations.RemoveField("widget", "qty")]
