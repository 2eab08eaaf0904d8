"""A unique_together added, dropped, then its field renamed: previewed back to zero.

Undoing ``0002`` drops the constraint by the name the live database gives
it, but the live database is not yet as undoing ``0007``-``0003`` leaves it
(no constraint, the column still renamed): the schema editor fails. Undoing
``0006`` drops a foreign key by the name the live database gives it (on
PostgreSQL and MariaDB), read from a table that undoing ``0007`` changes
first: the answer may be stale. Neither SQL can be previewed.
"""
