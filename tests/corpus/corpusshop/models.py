"""A shop built on the third-party apps: trees, polymorphism, tags, history."""

from __future__ import annotations

import reversion
from auditlog.registry import auditlog
from corpusshop.fields import HexColorField, VersionField
from django.conf import settings
from django.db import models
from mptt.models import MPTTModel, TreeForeignKey
from polymorphic.models import PolymorphicModel
from simple_history.models import HistoricalRecords
from taggit.managers import TaggableManager
from treebeard.mp_tree import MP_Node


class Category(MPTTModel):
    name = models.CharField(max_length=50, unique=True)
    parent = TreeForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.CASCADE
    )

    class MPTTMeta:
        order_insertion_by = ["name"]


class Shelf(MP_Node):
    name = models.CharField(max_length=50)
    node_order_by = ["name"]


class Supplier(models.Model):
    name = models.CharField(max_length=100)
    color = HexColorField(default="#000000")
    version = VersionField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], name="supplier_name_unique")
        ]


class Product(PolymorphicModel):
    name = models.CharField(max_length=100)
    sku = models.CharField(max_length=32, unique=True)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT)
    shelf = models.ForeignKey(Shelf, null=True, blank=True, on_delete=models.SET_NULL)
    categories = models.ManyToManyField(Category, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    color = HexColorField(null=True, blank=True)
    tags = TaggableManager(blank=True)
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["name", "sku"], name="product_name_sku")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="product_price_positive"
            )
        ]


class Book(Product):
    isbn = models.CharField(max_length=13)


class Gadget(Product):
    watts = models.PositiveIntegerField(default=0)


class Order(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField(default=1)
    placed = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        unique_together = [("product", "customer", "placed")]


class OrderLine(models.Model):
    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveSmallIntegerField(default=1)


reversion.register(Supplier)
auditlog.register(Order)
