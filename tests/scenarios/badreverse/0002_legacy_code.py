"""A RunSQL whose reverse is wrong: it clears the column instead of dropping it."""

from django.db import migrations

ADD = "ALTER TABLE scenario_gadget ADD COLUMN legacy_code varchar(20) NULL"
WRONG_REVERSE = "UPDATE scenario_gadget SET legacy_code = NULL"


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [migrations.RunSQL(ADD, WRONG_REVERSE)]
