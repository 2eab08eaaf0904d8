"""Renames after the fact, and values whose text is easy to get unstable.

``0002`` renames the field a foreign key of ``0001`` points at (Django's
state rewrites that key's ``to_field`` in place); ``0003`` renames a model
(``contenttypes`` inserts a ``RenameContentType`` after it at ``pre_migrate``).
``0001`` holds what a checksum could read differently in another process: a
set, a lazy translation, a compiled regex, a Decimal, a float, a
functools.partial, a lambda and an object with an address in its repr.
"""
