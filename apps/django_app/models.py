"""The test types' tables (apps/database.sql), which Django reads and writes but never
creates or migrates (managed = False)."""

from __future__ import annotations

from django.db import models


class World(models.Model):
    randomnumber = models.IntegerField()

    class Meta:
        db_table = "world"
        managed = False


class Fortune(models.Model):
    message = models.CharField(max_length=2048)

    class Meta:
        db_table = "fortune"
        managed = False
