from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Sample",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("text", models.TextField(null=True)),
                ("label", models.CharField(max_length=100, null=True)),
                ("blob", models.BinaryField(null=True)),
                ("data", models.JSONField(null=True)),
                ("amount", models.DecimalField(max_digits=12, decimal_places=4, null=True)),
                ("day", models.DateField(null=True)),
                ("moment", models.DateTimeField(null=True)),
                ("flag", models.BooleanField(null=True)),
                ("ratio", models.FloatField(null=True)),
            ],
        ),
    ]
