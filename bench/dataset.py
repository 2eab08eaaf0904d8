"""The synthetic shop data of the backup benchmarks, in three SQL dialects.

Customers (unicode names, e-mails, JSON profiles, decimals), orders (JSON
line items, decimals, dates, notes from NULL to a few KB, half of them
incompressible hex) and an audit log of very repetitive rows, with secondary
indexes: the schema and one batch insert per table for PostgreSQL
(``generate_series``), MariaDB (``seq_M_to_N`` tables of the SEQUENCE engine)
and SQLite (a recursive CTE). bench/backup.py fills its databases with them,
bench/pg_compression.py takes the audit log.
"""

from __future__ import annotations

import json

TABLES = ("customers", "orders", "audit_log")

#: the tables, column by column: (name, type, constraint), where the type is
#: a key of a dialect's TYPES or SQL every dialect takes
TABLE_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "customers": [
        ("id", "id", "PRIMARY KEY"),
        ("email", "varchar(254)", "NOT NULL"),
        ("name", "varchar(100)", "NOT NULL"),
        ("country", "char(2)", "NOT NULL"),
        ("created_at", "timestamp", "NOT NULL"),
        ("balance", "decimal", ""),
        ("profile", "json", "NOT NULL"),
    ],
    "orders": [
        ("id", "id", "PRIMARY KEY"),
        ("customer_id", "bigint", "NOT NULL"),
        ("status", "varchar(16)", "NOT NULL"),
        ("total", "decimal", "NOT NULL"),
        ("currency", "char(3)", "NOT NULL"),
        ("created_on", "date", "NOT NULL"),
        ("created_at", "timestamp", "NOT NULL"),
        ("shipped_at", "timestamp", ""),
        ("items", "json", "NOT NULL"),
        ("note", "text", ""),
    ],
    "audit_log": [
        ("id", "id", "PRIMARY KEY"),
        ("at", "timestamp", "NOT NULL"),
        ("actor_id", "integer", ""),
        ("action", "varchar(16)", "NOT NULL"),
        ("path", "varchar(200)", "NOT NULL"),
        ("user_agent", "text", "NOT NULL"),
        ("status", "smallint", "NOT NULL"),
    ],
}
#: (name, table, column, unique)
INDEXES = [
    ("customers_email_uniq", "customers", "email", True),
    ("orders_customer_id_idx", "orders", "customer_id", False),
    ("orders_created_at_idx", "orders", "created_at", False),
    ("audit_log_at_idx", "audit_log", "at", False),
]
#: each dialect's SQL of the portable types ({column}: the column's name)
TYPES = {
    "postgresql": {
        "id": "bigint",
        "timestamp": "timestamptz",
        "decimal": "numeric(12, 2)",
        "json": "jsonb",
        "text": "text",
    },
    "mysql": {
        "id": "bigint",
        "timestamp": "datetime(6)",
        "decimal": "decimal(12, 2)",
        "json": "json",
        "text": "longtext",
    },
    "sqlite": {
        "id": "integer",
        "timestamp": "datetime",
        "decimal": "decimal",
        "json": "text CHECK (json_valid({column}))",
        "text": "text",
    },
}


def create_tables(dialect: str) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements of the dataset in ``dialect``;
    MySQL declares its indexes in its CREATE TABLE statements."""
    statements = []
    for table, columns in TABLE_COLUMNS.items():
        lines = []
        for column, kind, constraint in columns:
            sql = TYPES[dialect].get(kind, kind).format(column=column)
            sql, _, check = sql.partition(" CHECK ")  # after NOT NULL
            parts = [column, sql, constraint, f"CHECK {check}" if check else ""]
            lines.append("    " + " ".join(part for part in parts if part))
        indexes = [index for index in INDEXES if index[1] == table]
        if dialect == "mysql":
            lines += [
                f"    {'UNIQUE KEY' if unique else 'KEY'} {name} ({column})"
                for name, _, column, unique in indexes
            ]
        statements.append(f"CREATE TABLE {table} (\n" + ",\n".join(lines) + "\n)")
        if dialect != "mysql":
            statements += [
                f"CREATE {'UNIQUE INDEX' if unique else 'INDEX'} {name} ON {table} "
                f"({column})"
                for name, _, column, unique in indexes
            ]
    return statements


def create_script(dialect: str) -> str:
    return "\n" + "".join(f"{statement};\n" for statement in create_tables(dialect))


PG_SCHEMA = create_script("postgresql")


PG_CUSTOMERS = """
INSERT INTO customers
SELECT i,
       'user' || i || '@example.' || (ARRAY['com', 'org', 'fr', 'de'])[1 + i %% 4],
       (ARRAY['Zoë', 'José', 'Ana', 'Li', 'Müller', 'Øyvind', 'Иван', 'Sam'])
           [1 + (random() * 7)::int] || ' ' || left(md5(i::text), 8),
       (ARRAY['FR', 'DE', 'US', 'GB', 'JP', 'BR'])[1 + (random() * 5)::int],
       now() - random() * interval '3 years',
       round((random() * 10000)::numeric, 2),
       jsonb_build_object('newsletter', random() < 0.3,
                          'locale', (ARRAY['fr-FR', 'en-US', 'de-DE'])[1 + i %% 3],
                          'score', (random() * 100)::int)
FROM generate_series(%(cstart)s, %(cstop)s) AS i
"""


#: status, total and currency of an order (PostgreSQL), and its line items
PG_ORDER_FIELDS = """\
(ARRAY['new', 'paid', 'shipped', 'delivered', 'refunded'])
           [1 + (random() * 4)::int],
       round((random() * 500)::numeric, 2),
       (ARRAY['EUR', 'USD', 'GBP'])[1 + i %% 3],"""
PG_ORDER_ITEMS = """\
jsonb_build_array(
           jsonb_build_object('sku', 'SKU-' || (random() * 5000)::int,
                              'qty', 1 + (random() * 4)::int,
                              'price', round((random() * 100)::numeric, 2)),
           jsonb_build_object('sku', 'SKU-' || (random() * 5000)::int,
                              'qty', 1 + (random() * 4)::int,
                              'gift', random() < 0.1))"""

PG_ORDERS = f"""
INSERT INTO orders
SELECT i,
       1 + (random() * (%(cstop)s - 1))::bigint,
       {PG_ORDER_FIELDS}
       current_date - (random() * 700)::int,
       now() - random() * interval '2 years',
       CASE WHEN random() < 0.7 THEN now() - random() * interval '1 year' END,
       {PG_ORDER_ITEMS},
       CASE i %% 5
           WHEN 0 THEN NULL
           WHEN 1 THEN 'Please leave the parcel at the front desk, thank you.'
           WHEN 2 THEN md5(i::text) || md5((i * 7)::text)
           WHEN 3 THEN repeat(md5((i * 3)::text), 1 + (random() * 8)::int)
           ELSE repeat('Lorem ipsum dolor sit amet, consectetur adipiscing. ',
                       1 + (random() * 40)::int)
       END
FROM generate_series(%(start)s, %(stop)s) AS i
"""


PG_AUDIT = """
INSERT INTO audit_log
SELECT i,
       now() - (i %% 1000000) * interval '1 second',
       CASE WHEN random() < 0.9 THEN (random() * 500)::int END,
       (ARRAY['view', 'view', 'view', 'change', 'add', 'delete', 'login'])
           [1 + (random() * 6)::int],
       '/admin/' || (ARRAY['orders', 'customers', 'auth/user', 'catalog'])
           [1 + (random() * 3)::int] || '/' || (random() * 20000)::int || '/change/',
       (ARRAY['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like '
              'Gecko) Chrome/126.0 Safari/537.36',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 '
              '(KHTML, like Gecko) Version/17.5 Safari/605.1.15',
              'python-requests/2.32.3'])[1 + (random() * 2)::int],
       (ARRAY[200, 200, 200, 302, 404, 500])[1 + (random() * 5)::int]
FROM generate_series(%(start)s, %(stop)s) AS i
"""


MYSQL_SCHEMA = tuple(create_tables("mysql"))


MYSQL_CUSTOMERS = """
INSERT INTO customers
SELECT seq,
       CONCAT('user', seq, '@example.', ELT(1 + seq % 4, 'com', 'org', 'fr', 'de')),
       CONCAT(ELT(1 + FLOOR(RAND() * 8), 'Zoë', 'José', 'Ana', 'Li', 'Müller',
                  'Øyvind', 'Иван', 'Sam'), ' ', LEFT(MD5(seq), 8)),
       ELT(1 + FLOOR(RAND() * 6), 'FR', 'DE', 'US', 'GB', 'JP', 'BR'),
       NOW(6) - INTERVAL FLOOR(RAND() * 94608000) SECOND,
       ROUND(RAND() * 10000, 2),
       JSON_OBJECT('newsletter', RAND() < 0.3,
                   'locale', ELT(1 + seq % 3, 'fr-FR', 'en-US', 'de-DE'),
                   'score', FLOOR(RAND() * 100))
FROM seq_{cstart}_to_{cstop}
"""


MYSQL_ORDERS = """
INSERT INTO orders
SELECT seq,
       1 + FLOOR(RAND() * ({cstop} - 1)),
       ELT(1 + FLOOR(RAND() * 5), 'new', 'paid', 'shipped', 'delivered', 'refunded'),
       ROUND(RAND() * 500, 2),
       ELT(1 + seq % 3, 'EUR', 'USD', 'GBP'),
       CURRENT_DATE - INTERVAL FLOOR(RAND() * 700) DAY,
       NOW(6) - INTERVAL FLOOR(RAND() * 63072000) SECOND,
       IF(RAND() < 0.7, NOW(6) - INTERVAL FLOOR(RAND() * 31536000) SECOND, NULL),
       JSON_ARRAY(
           JSON_OBJECT('sku', CONCAT('SKU-', FLOOR(RAND() * 5000)),
                       'qty', 1 + FLOOR(RAND() * 4),
                       'price', ROUND(RAND() * 100, 2)),
           JSON_OBJECT('sku', CONCAT('SKU-', FLOOR(RAND() * 5000)),
                       'qty', 1 + FLOOR(RAND() * 4),
                       'gift', RAND() < 0.1)),
       CASE seq % 5
           WHEN 0 THEN NULL
           WHEN 1 THEN 'Please leave the parcel at the front desk, thank you.'
           WHEN 2 THEN CONCAT(MD5(seq), MD5(seq * 7))
           WHEN 3 THEN REPEAT(MD5(seq * 3), 1 + FLOOR(RAND() * 8))
           ELSE REPEAT('Lorem ipsum dolor sit amet, consectetur adipiscing. ',
                       1 + FLOOR(RAND() * 40))
       END
FROM seq_{start}_to_{stop}
"""


MYSQL_AUDIT = """
INSERT INTO audit_log
SELECT seq,
       NOW(6) - INTERVAL (seq % 1000000) SECOND,
       IF(RAND() < 0.9, FLOOR(RAND() * 500), NULL),
       ELT(1 + FLOOR(RAND() * 7), 'view', 'view', 'view', 'change', 'add',
           'delete', 'login'),
       CONCAT('/admin/', ELT(1 + FLOOR(RAND() * 4), 'orders', 'customers',
                             'auth/user', 'catalog'),
              '/', FLOOR(RAND() * 20000), '/change/'),
       ELT(1 + FLOOR(RAND() * 3),
           'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like '
           'Gecko) Chrome/126.0 Safari/537.36',
           'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 '
           '(KHTML, like Gecko) Version/17.5 Safari/605.1.15',
           'python-requests/2.32.3'),
       ELT(1 + FLOOR(RAND() * 6), 200, 200, 200, 302, 404, 500)
FROM seq_{start}_to_{stop}
"""


SQLITE_SCHEMA = create_script("sqlite")


#: ``pick(json_array)``: a random element; ``rnd(n)``: a random int in [0, n)
SQLITE_SERIES = (
    "WITH RECURSIVE s(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM s "
    "WHERE i < :stop) "
)


def _pick(values: str) -> str:
    count = len(json.loads(values))
    return f"json_extract('{values}', '$[' || (abs(random()) % {count}) || ']')"


def _ago(seconds: int) -> str:
    return (
        "strftime('%Y-%m-%d %H:%M:%f', 'now', "
        f"'-' || (abs(random()) % {seconds}) || ' seconds')"
    )


SQLITE_CUSTOMERS = f"""
INSERT INTO customers {SQLITE_SERIES}
SELECT i,
       'user' || i || '@example.' || {_pick('["com", "org", "fr", "de"]')},
       {_pick('["Zoë", "José", "Ana", "Li", "Müller", "Øyvind", "Иван", "Sam"]')}
           || ' ' || lower(hex(randomblob(4))),
       {_pick('["FR", "DE", "US", "GB", "JP", "BR"]')},
       {_ago(94608000)},
       round((abs(random()) % 1000000) / 100.0, 2),
       json_object('newsletter', json(CASE WHEN abs(random()) % 10 < 3
                                      THEN 'true' ELSE 'false' END),
                   'locale', {_pick('["fr-FR", "en-US", "de-DE"]')},
                   'score', abs(random()) % 100)
FROM s
"""


SQLITE_ORDERS = f"""
INSERT INTO orders {SQLITE_SERIES}
SELECT i,
       1 + abs(random()) % :customers,
       {_pick('["new", "paid", "shipped", "delivered", "refunded"]')},
       round((abs(random()) % 50000) / 100.0, 2),
       {_pick('["EUR", "USD", "GBP"]')},
       date('now', '-' || (abs(random()) % 700) || ' days'),
       {_ago(63072000)},
       CASE WHEN abs(random()) % 10 < 7 THEN {_ago(31536000)} END,
       json_array(
           json_object('sku', 'SKU-' || (abs(random()) % 5000),
                       'qty', 1 + abs(random()) % 4,
                       'price', round((abs(random()) % 10000) / 100.0, 2)),
           json_object('sku', 'SKU-' || (abs(random()) % 5000),
                       'qty', 1 + abs(random()) % 4,
                       'gift', json(CASE WHEN abs(random()) % 10 = 0
                                    THEN 'true' ELSE 'false' END))),
       CASE i % 5
           WHEN 0 THEN NULL
           WHEN 1 THEN 'Please leave the parcel at the front desk, thank you.'
           WHEN 2 THEN lower(hex(randomblob(32)))
           WHEN 3 THEN lower(hex(randomblob(16 * (1 + abs(random()) % 8))))
           ELSE replace(hex(zeroblob(1 + abs(random()) % 40)), '00',
                        'Lorem ipsum dolor sit amet, consectetur adipiscing. ')
       END
FROM s
"""


SQLITE_AUDIT = f"""
INSERT INTO audit_log {SQLITE_SERIES}
SELECT i,
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (i % 1000000) || ' seconds'),
       CASE WHEN abs(random()) % 10 < 9 THEN abs(random()) % 500 END,
       {_pick('["view", "view", "view", "change", "add", "delete", "login"]')},
       '/admin/' || {_pick('["orders", "customers", "auth/user", "catalog"]')}
           || '/' || (abs(random()) % 20000) || '/change/',
       {_pick(json.dumps([
           "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
           "Gecko) Chrome/126.0 Safari/537.36",
           "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
           "python-requests/2.32.3",
       ]))},
       {_pick("[200, 200, 200, 302, 404, 500]")}
FROM s
"""  # fmt: skip
