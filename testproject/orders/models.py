from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"

    customer = models.ForeignKey(
        "accounts.UserProfile",
        on_delete=models.PROTECT,
        related_name="orders",
    )
    number = models.CharField(max_length=20, unique=True)
    currency = models.CharField(max_length=3, default="eur")
    placed_at = models.DateTimeField()
    tags = models.ManyToManyField("catalog.Tag", blank=True, related_name="orders")
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.NEW,
    )

    def __str__(self):
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "product"],
                name="orders_orderline_unique_product",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.product}"
