"""MySQL / MariaDB: booleans are tinyint, InnoDB indexes its foreign keys.

InnoDB needs an index on every foreign key column and creates one named
after the constraint when none exists (Django adds none of its own here);
``get_constraints`` reports it under the foreign key's name, which
:func:`safemigrate.schema.introspect.table_from` reads as an implied index.
"""

from __future__ import annotations

from safemigrate.schema.backends.base import SchemaBackend


class Backend(SchemaBackend):
    pass
