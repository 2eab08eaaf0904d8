"""The one place migration_guard reaches into Django's private API.

Every private (``_``-prefixed) Django name, every copy of Django code and
every undocumented hook the package depends on goes through a named, typed
function of this package, one module per concern:

- :mod:`~migration_guard.compat.migrations`: executor state, state reloads,
  the copies of ``Migration.apply`` / ``unapply``;
- :mod:`~migration_guard.compat.models`: ``Options``, field defaults,
  many-to-many tables, isolated model registries;
- :mod:`~migration_guard.compat.backends`: server cursors, test database
  names, introspection (replaced, lightened, MySQL check clauses);
- :mod:`~migration_guard.compat.management`: command output streams, how a
  command was called, a parser's arguments.

Each function's docstring names the Django versions it was checked on (5.2,
6.0, 6.1) and what it relies on; ``tests/test_compat.py`` compares each with
Django's own result on real migrations (on SQLite, PostgreSQL and MariaDB
where the API is per backend), and the tox matrix runs it on every Django
version. ``tests/test_compat.py`` also scans the package: no module outside
this one names a private Django attribute.

Inventory (API -- where -- why -- what it relies on):

``MigrationExecutor._create_project_state(with_applied_migrations=True)``
    :func:`.migrations.applied_state` -- ``run.runner.execute_plan`` -- the
    pre-migrate state ``migrate`` builds, for a plan of several targets --
    applied migrations mutate an unmigrated-apps state in clean-plan order.
``ProjectState._reload(related_models)``
    :func:`.migrations.reload_models` -- ``rollback.partial._DelayedState``
    -- re-render only the changed model while a rollback preview walks the
    history -- takes ``{(app_label, model_name)}``, needs rendered apps.
``Migration.apply`` / ``Migration.unapply`` (copies, Django 5.2 = 6.0 = 6.1)
    :func:`.migrations.apply_keeping_states`,
    :func:`.migrations.unapply_with_states` -- ``gates.roundtrip`` -- the
    round trip unapplies with the states the apply kept (Django's
    ``unapply`` would replay the migration's ``state_forwards``) -- the
    per-operation transaction rule and the state passed to each operation.
``BaseDatabaseSchemaEditor._effective_default(field)``
    :func:`.models.effective_default` -- ``rollback.preview`` -- whether
    re-adding a NOT NULL column has a value for existing rows, with no
    connection -- a static method, before ``get_db_prep_save``.
``ManyToManyField._get_m2m_db_table(opts)``
    :func:`.models.m2m_db_table` -- ``reconcile.schema.lightstate`` -- the
    auto-created through table of an unrendered stand-in model -- callable
    before ``contribute_to_class``.
``django.db.models.options.Options`` (subclassed)
    :data:`.models.Options` -- ``reconcile.schema.lightstate.LightOptions``
    -- stand-in models with Django's own ``_meta`` rules, reverse relations
    from ``ProjectState.relations`` -- ``Options(meta, app_label)``,
    ``related_objects`` overridable.
``Meta.apps`` (``Options.apps``)
    :func:`.models.isolated_apps` -- ``admin.Backup`` -- an admin-only model
    that never reaches migrations -- a model is registered in its
    ``Meta.apps``.
``BaseDatabaseWrapper._nodb_cursor()``
    :func:`.backends.nodb_cursor` -- ``testing.scratch`` -- create, find and
    drop scratch databases on the server -- PostgreSQL and MySQL yield a
    cursor outside the configured database.
``BaseDatabaseCreation._get_test_db_name()``
    :func:`.backends.runner_database_name` -- ``testing.scratch`` -- the
    scratch database takes the test database's name -- ``TEST["NAME"]`` or
    ``test_`` + ``NAME``.
``BaseDatabaseWrapper.introspection`` (replaced for a while)
    :func:`.backends.replace_introspection` -- ``rollback.backward_sql`` --
    note and cache every table the schema editor introspects while backward
    SQL is collected -- a plain instance attribute, read on each use.
MySQL ``DatabaseIntrospection._parse_constraint_columns(clause, columns)``
    :func:`.backends.mysql_check_columns` --
    ``reconcile.schema.backends.mysql_catalog`` -- a check constraint's
    columns, as ``get_constraints`` gives them, for all tables at once.
SQLite ``DatabaseIntrospection._get_column_collations``,
``_get_index_columns_orders``, ``_parse_table_constraints`` (overridden)
    :func:`.backends.light_sqlite_introspection` --
    ``reconcile.schema.backends.sqlite`` -- reading a schema without the
    sqlparse passes whose results a ``Table`` never keeps.
``OutputWrapper._out``
    :func:`.management.raw_stream` -- ``management.base``,
    ``run.runner.execute_plan`` -- progress lines and prompts with no added
    line ending or style; ``migrate``'s printer writes its own endings.
``BaseCommand._called_from_command_line``
    :func:`.management.called_from_command_line` -- ``management.base`` --
    the ledger records ``sys.argv`` for ``manage.py`` runs only.
``ArgumentParser._actions`` (argparse, under Django's ``CommandParser``)
    :func:`.management.parser_actions` --
    ``management.commands.guardedmigrate`` -- lift ``migrate``'s
    ``--database`` choices, reword its help.

Relied on but public (no underscore), undocumented, so not wrapped here;
the suite's scenarios exercise each on every Django version of the matrix:
``MigrationLoader`` / ``MigrationGraph`` / ``MigrationRecorder`` /
``MigrationExecutor`` (``migration_plan``, ``apply_migration`` /
``unapply_migration`` shadowed per instance by ``run.locktimeouts``,
``progress_callback``), ``ProjectState`` / ``ModelState`` (subclassed by
``rollback.partial._DelayedState``: ``reload_model``, ``clone``),
``migrate.Command.migration_progress_callback``,
``django.core.management.sql.emit_pre/post_migrate_signal``,
``MigrationAutodetector``, ``MigrationWriter``, ``serializer_factory``,
``NonInteractiveMigrationQuestioner``, ``resolve_relation``,
``RECURSIVE_RELATIONSHIP_CONSTANT``, ``OrderWrt``, ``truncate_name``,
``load_backend``, ``run_formatters``, ``connection.introspection`` /
``schema_editor`` methods, and the batched catalog readers
(``reconcile.schema.backends.postgresql_catalog`` / ``mysql_catalog``),
which re-read what Django's PostgreSQL and MySQL introspection SQL reads,
for all tables at once (``tests/test_schema_batched.py`` compares them
with Django's per-table introspection, table for table). ``Model._meta``,
``_base_manager`` and ``_default_manager`` are documented API.

Django-derived code that stays with its feature (it is not a copy but a
variant, and a test proves it gives Django's result):
``rollback.backward_sql.migration_sql`` collects what
``Migration.unapply(collect_sql=True)`` collects, keeping each operation's
failure (``tests/test_rollback.py`` compares it with ``sqlmigrate
--backwards`` migration by migration); ``reconcile.schema.split`` follows
``SeparateDatabaseAndState.database_forwards`` over a state.
"""
