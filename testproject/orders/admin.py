from django.contrib import admin

from .models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "status", "currency", "placed_at")
    list_filter = ("status", "currency")
    filter_horizontal = ("tags",)
    inlines = (OrderLineInline,)
