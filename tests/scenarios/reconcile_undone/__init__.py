"""A column added by one migration and dropped by a later one.

Alone, neither migration can be told applied from the schema (the column is
absent both before and after them); the graph can: a later migration whose
effects are present needs both applied.
"""
