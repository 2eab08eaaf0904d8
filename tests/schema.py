"""A comparable snapshot of a live schema through Django's introspection."""

from __future__ import annotations

from typing import Any


def snapshot(connection: Any) -> dict[str, Any]:
    """Tables -> columns and constraints, as ``connection.introspection`` sees them."""
    introspection = connection.introspection
    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for table in sorted(introspection.table_names(cursor)):
            columns = [
                (
                    column.name,
                    column.type_code,
                    column.internal_size,
                    column.precision,
                    column.scale,
                    column.null_ok,
                    column.default,
                )
                for column in introspection.get_table_description(cursor, table)
            ]
            constraints = {
                name: {
                    key: (sorted(value) if key == "columns" and value else value)
                    for key, value in details.items()
                }
                for name, details in introspection.get_constraints(
                    cursor, table
                ).items()
            }
            result[table] = {"columns": columns, "constraints": constraints}
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def logical_dump(connection: Any) -> dict[str, Any]:
    """Schema and every row of every table, comparable across a restore."""
    quote = connection.ops.quote_name
    data: dict[str, Any] = {}
    schema = snapshot(connection)
    with connection.cursor() as cursor:
        for table in schema:
            cursor.execute(f"SELECT * FROM {quote(table)}")
            rows = [tuple(_plain(v) for v in row) for row in cursor.fetchall()]
            data[table] = sorted(rows, key=repr)
    return {"schema": schema, "rows": data}
