from django.db import migrations, models


class Migration(migrations.Migration):
    """Pre-deploy itself, but it depends on accounts.0004, a RemoveField."""

    initial = True
    dependencies = [("accounts", "0004_remove_userprofile_nickname")]
    operations = [
        migrations.CreateModel(
            "Badge",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("label", models.CharField(max_length=20)),
            ],
        ),
    ]
