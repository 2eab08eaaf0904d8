"""``django.contrib.gis`` models on PostGIS."""

from __future__ import annotations

from django.contrib.gis.db import models


class Place(models.Model):
    name = models.CharField(max_length=100)
    location = models.PointField(srid=4326)
    area = models.PolygonField(null=True)
    elevation = models.PointField(dim=3, null=True, spatial_index=False)


class Route(models.Model):
    place = models.ForeignKey(Place, on_delete=models.CASCADE)
    path = models.LineStringField(srid=3857)
    start = models.PointField(geography=True, null=True)
    zones = models.MultiPolygonField(null=True)
    anything = models.GeometryField(null=True)
    stops = models.MultiPointField(null=True)
    lines = models.MultiLineStringField(null=True)
    bundle = models.GeometryCollectionField(null=True)
