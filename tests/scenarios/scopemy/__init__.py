"""Plan-scoped backups on MariaDB (tests/test_scoped_mysql.py).

``scenario_big`` stays outside every plan; ``scenario_note`` too, with a
foreign key into ``scenario_item``, the small table the plans alter.
``0002`` adds a column to it and creates ``scenario_extra``; ``0003`` adds
another column and then fails (on MariaDB the column stays: the run is
restored from its backup).
"""
