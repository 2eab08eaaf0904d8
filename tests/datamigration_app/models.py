from django.db import models


class PersonFields(models.Model):
    """What a person and a former person have in common (move_rows)."""

    full_name = models.CharField(max_length=200, blank=True, default="")
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    login = models.CharField(max_length=200, blank=True, default="")
    nickname = models.CharField(max_length=100, null=True, blank=True)
    status = models.CharField(max_length=20, default="active")
    score = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    joined = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Person(PersonFields):
    pass


class FormerPerson(PersonFields):
    left_at = models.DateTimeField(null=True, blank=True)


class Country(models.Model):
    code = models.CharField(max_length=2)
    name = models.CharField(max_length=100)
    region = models.CharField(max_length=20, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["region", "code"], name="dmapp_country_key")
        ]
