"""Every field, index and constraint of ``django.contrib.postgres``.

Also custom fields on extension types (``citext``, ``ltree``), a column with
a nondeterministic collation, expression indexes and constraints.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    ArrayField,
    BigIntegerRangeField,
    DateRangeField,
    DateTimeRangeField,
    DecimalRangeField,
    HStoreField,
    IntegerRangeField,
    RangeOperators,
)
from django.contrib.postgres.indexes import (
    BloomIndex,
    BrinIndex,
    BTreeIndex,
    GinIndex,
    GistIndex,
    HashIndex,
    OpClass,
    SpGistIndex,
)
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models.functions import Lower, Upper


class CITextField(models.TextField):
    """Case-insensitive text (the ``citext`` extension)."""

    def db_type(self, connection: Any) -> str:
        return "citext"


class LtreeField(models.Field):
    """A label path (the ``ltree`` extension)."""

    def db_type(self, connection: Any) -> str:
        return "ltree"


class Room(models.Model):
    name = models.CharField(max_length=50, db_collation="case_insensitive")
    number = models.IntegerField()
    features = ArrayField(models.CharField(max_length=20), size=4, default=list)


class Reservation(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE)
    during = DateTimeRangeField()
    days = DateRangeField(null=True)
    seats = IntegerRangeField(null=True)
    budget = DecimalRangeField(null=True)
    bytes = BigIntegerRangeField(null=True)
    cancelled = models.BooleanField(default=False)
    note = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [
            GistIndex(fields=["days"], name="res_days_gist"),
            SpGistIndex(fields=["seats"], name="res_seats_spgist"),
        ]
        constraints = [
            ExclusionConstraint(
                name="res_no_overlap",
                expressions=[
                    ("room", RangeOperators.EQUAL),
                    ("during", RangeOperators.OVERLAPS),
                ],
                condition=models.Q(cancelled=False),
            ),
            models.UniqueConstraint(Lower("note"), "room", name="res_note_room_uniq"),
        ]


class Document(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField()
    code = models.CharField(max_length=20)
    search = SearchVectorField(null=True)
    tags = ArrayField(models.CharField(max_length=30), default=list, size=8)
    matrix = ArrayField(ArrayField(models.IntegerField()), null=True)
    attrs = HStoreField(default=dict)
    email = CITextField(unique=True)
    path = LtreeField(null=True)
    last_seen = models.DateTimeField(null=True)
    score = models.IntegerField(default=0)
    uid = models.UUIDField(null=True)
    ip = models.GenericIPAddressField(null=True)
    data = models.JSONField(default=dict)
    room = models.ForeignKey(Room, null=True, on_delete=models.SET_NULL)

    class Meta:
        indexes = [
            GinIndex(fields=["search"], name="doc_search_gin"),
            GinIndex(fields=["tags"], name="doc_tags_gin"),
            GinIndex(fields=["attrs"], name="doc_attrs_gin"),
            GinIndex(
                SearchVector("title", "body", config="english"), name="doc_fts_expr"
            ),
            GinIndex(
                OpClass(Upper("title"), name="gin_trgm_ops"), name="doc_title_trgm"
            ),
            GistIndex(fields=["path"], name="doc_path_gist"),
            BrinIndex(fields=["id"], name="doc_id_brin", pages_per_range=16),
            BTreeIndex(fields=["code"], name="doc_code_btree", fillfactor=80),
            BTreeIndex(Lower("title").desc(), "id", name="doc_title_lower"),
            HashIndex(fields=["uid"], name="doc_uid_hash"),
            SpGistIndex(fields=["ip"], name="doc_ip_spgist"),
            BloomIndex(fields=["score", "code"], name="doc_bloom", length=80),
            models.Index(
                fields=["title"],
                name="doc_title_partial",
                condition=models.Q(score__gt=0),
            ),
            models.Index(fields=["code"], include=["score"], name="doc_code_cover"),
            models.Index(models.F("data__kind"), name="doc_data_kind"),
            BrinIndex(
                models.F("last_seen"), name="doc_last_seen_brin", autosummarize=True
            ),
        ]
        constraints = [
            models.UniqueConstraint(Lower("title"), "code", name="doc_title_code_uniq"),
            models.CheckConstraint(
                condition=models.Q(score__gte=0), name="doc_score_gte_0"
            ),
        ]
