from typing import Any

#: what 0005_read_timeouts saw while it ran
SEEN: dict[str, Any] = {}
