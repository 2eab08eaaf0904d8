"""Names that a generated migration defines elsewhere in its own file.

The template sources import them from here so that ruff can check them; the
writer leaves these imports out: BATCH_SIZE is written by the writer, the
others are constants and values a template writes in place of a placeholder.
"""

from typing import Any

BATCH_SIZE = 1000
CONDITION: Any = None
READ: Any = None
__VALUE__: Any = None
__FIELDS__: Any = None
__MAPPING__: Any = None
__TARGETS__: Any = None
__SEPARATOR__: Any = None
__NATURAL_KEY__: Any = None
__ROWS__: Any = None
