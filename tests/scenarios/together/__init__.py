"""A unique_together added, dropped, then its field renamed: previewed back to zero.

Undoing ``0002`` drops the constraint by the name the live database gives
it, but the live database is not yet as undoing ``0005``-``0003`` leaves it
(no constraint, the column still renamed): its SQL cannot be previewed.
"""
