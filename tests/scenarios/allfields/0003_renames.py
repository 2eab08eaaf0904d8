"""RenameField, RenameModel (its M2M table's column follows), AlterModelTable."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_alter_fields")]
    operations = [
        migrations.RenameField("everything", "ip", "address"),
        migrations.RenameModel("Tag", "Label"),
        migrations.AlterModelTable("owner", "allfields_owners"),
    ]
