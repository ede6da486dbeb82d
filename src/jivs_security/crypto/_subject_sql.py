"""The SQL subject key registry: one table, through SQLAlchemy Core.

SQLAlchemy is an optional dependency (the ``sql`` extra), so it is imported
only when a :class:`SqlSubjectRegistry` is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from jivs_security.crypto._subject_store import MAX_ATTEMPTS, SubjectKeyRecord, contended
from jivs_security.errors import ConfigurationError, StoreError, StoreUnavailable

if TYPE_CHECKING:
    import sqlalchemy
    from sqlalchemy.engine import Connection

__all__ = ["SqlSubjectRegistry"]

# SQLite names for the secure_delete settings that ``PRAGMA secure_delete`` reports.
_SQLITE_SECURE_DELETE: Final = {0: "OFF", 1: "ON", 2: "FAST"}

# Characters of a driver's error message kept in a StoreError. Only the first
# line is kept: PostgreSQL puts the failing row, wrapped key included, on a
# DETAIL line after it.
_MAX_DRIVER_MESSAGE: Final = 200


class SqlSubjectRegistry:
    """A :class:`SubjectKeyRegistry` in one SQL table, through a SQLAlchemy engine.

    The table (:meth:`create_table` creates it; :attr:`table` describes it
    for migration tools) has these columns:

    ``subject_tag`` (``VARCHAR(64)``, primary key), ``provider_id``
    (``VARCHAR(255)``), ``key_id`` (``TEXT``), ``wrapped_key``
    (``BYTEA``/``BLOB``), ``created_at`` and ``shredded_at``
    (``TIMESTAMP WITH TIME ZONE``). A check constraint allows a row to have
    either a wrapped key or a shredding time, never both and never neither.

    Inserts use ``INSERT ... ON CONFLICT DO NOTHING`` on PostgreSQL and
    SQLite; on other databases, a plain ``INSERT`` whose unique violation is
    caught. Shredding is an ``UPDATE`` that sets ``wrapped_key`` to NULL.

    NOTE: the ``UPDATE`` removes the wrapped key from the current row only.
    PostgreSQL keeps the old row version, wrapped key included, in the table
    until VACUUM prunes it (:meth:`vacuum`, or autovacuum later). With
    PostgreSQL 18.6 the tests find no trace of the key in the table page
    after VACUUM, but PostgreSQL does not promise to overwrite freed space.
    The WAL, WAL archives, replicas, base backups and dumps keep copies for
    as long as they are retained. On SQLite, shredding turns on
    ``secure_delete`` for the update, so space that SQLite frees is zeroed.
    In WAL mode the log keeps the old page until :meth:`vacuum`. The rollback
    journal, the file system's free blocks and backups may still hold
    copies. Any copy, together with the KEK version that wrapped it, recovers
    the subject key.

    Build the engine with ``hide_parameters=True`` and without ``echo``, so
    that SQLAlchemy's own logs and errors never show a wrapped key. Errors
    raised here carry only the first line of the driver's message, which on
    PostgreSQL and SQLite holds no row values.
    """

    def __init__(
        self,
        engine: sqlalchemy.Engine,
        *,
        table_name: str = "jivs_subject_keys",
        schema: str | None = None,
    ) -> None:
        sa = _import_sqlalchemy()
        if not isinstance(engine, sa.Engine):
            raise ConfigurationError(
                f"{type(engine).__name__} is not a SQLAlchemy engine",
                setting="engine",
                expected="a sqlalchemy.Engine from sqlalchemy.create_engine()",
                value=type(engine).__name__,
            )
        for setting, value in (("table_name", table_name), ("schema", schema)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(
                    f"{setting} must be a non-empty str, got {value!r}",
                    setting=setting,
                    expected="a non-empty str",
                    value=value,
                )
        self._engine = engine
        self._dialect: str = engine.dialect.name
        self._table = _build_table(sa, table_name, schema)
        self._on_conflict = self._dialect in ("postgresql", "sqlite")

    def __repr__(self) -> str:
        # The engine's URL may contain a password, so only the dialect is shown.
        return f"SqlSubjectRegistry(table={self._table.fullname!r}, dialect={self._dialect!r})"

    @property
    def table(self) -> sqlalchemy.Table:
        """The table, for example to add it to an Alembic migration's metadata."""
        return self._table

    def create_table(self) -> None:
        """Create the table if it does not exist yet; the schema must exist already."""
        with self._guard("create_table"):
            self._table.create(self._engine, checkfirst=True)

    def get(self, subject_tag: str) -> SubjectKeyRecord | None:
        with self._guard("get"), self._engine.connect() as connection:
            return self._select(connection, subject_tag)

    def insert_if_absent(self, record: SubjectKeyRecord) -> bool:
        with self._guard("insert_if_absent"), self._engine.connect() as connection:
            return self._insert(connection, record)

    def replace_with_tombstone(self, subject_tag: str, shredded_at: datetime) -> bool:
        table = self._table
        sa = _import_sqlalchemy()
        shred = (
            sa.update(table)
            .where(table.c.subject_tag == subject_tag, table.c.shredded_at.is_(None))
            .values(wrapped_key=None, shredded_at=shredded_at)
        )
        tombstone = SubjectKeyRecord.new_tombstone(subject_tag, shredded_at)

        with self._guard("replace_with_tombstone"), self._engine.connect() as connection:
            restore = self._secure_delete_on(connection)
            try:
                for _ in range(MAX_ATTEMPTS):
                    with connection.begin():
                        shredded_rows = connection.execute(shred).rowcount
                    if shredded_rows == 1:
                        return True
                    if self._insert(connection, tombstone):
                        return False
                    current = self._select(connection, subject_tag)
                    if current is not None and current.shredded:
                        return False
            finally:
                if restore is not None:
                    with connection.begin():
                        connection.exec_driver_sql(f"PRAGMA secure_delete = {restore}")
        raise contended(type(self).__name__, subject_tag)

    def vacuum(self) -> None:
        """Ask the database to drop the old row versions that still hold wrapped keys.

        On PostgreSQL this runs ``VACUUM`` on the table, which removes row
        versions no running transaction can see any more; a long-running
        transaction keeps them. It does not reach WAL archives, replicas'
        history or backups. On SQLite it truncates the write-ahead log
        (``PRAGMA wal_checkpoint(TRUNCATE)``), which contains old pages in WAL
        mode. Other databases raise :class:`ConfigurationError`.
        """
        with self._guard("vacuum"), self._engine.connect() as connection:
            if self._dialect == "postgresql":
                name = self._engine.dialect.identifier_preparer.format_table(self._table)
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                autocommit.exec_driver_sql(f"VACUUM {name}")
            elif self._dialect == "sqlite":
                with connection.begin():
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                raise ConfigurationError(
                    f"vacuum() supports PostgreSQL and SQLite, not {self._dialect}; use the "
                    "database's own maintenance to remove old row versions",
                    setting="engine",
                    expected="a postgresql or sqlite engine",
                    value=self._dialect,
                )

    # Helpers that run inside an open connection and its guard.

    def _select(self, connection: Connection, subject_tag: str) -> SubjectKeyRecord | None:
        sa = _import_sqlalchemy()
        table = self._table
        with connection.begin():
            row = connection.execute(
                sa.select(table).where(table.c.subject_tag == subject_tag)
            ).first()
        if row is None:
            return None
        return SubjectKeyRecord(
            subject_tag=row.subject_tag,
            provider_id=row.provider_id,
            key_id=row.key_id,
            ciphertext=None if row.wrapped_key is None else bytes(row.wrapped_key),
            created_at=_as_utc(row.created_at),
            shredded_at=None if row.shredded_at is None else _as_utc(row.shredded_at),
        )

    def _insert(self, connection: Connection, record: SubjectKeyRecord) -> bool:
        sa = _import_sqlalchemy()
        values = {
            "subject_tag": record.subject_tag,
            "provider_id": record.provider_id,
            "key_id": record.key_id,
            "wrapped_key": record.ciphertext,
            "created_at": record.created_at,
            "shredded_at": record.shredded_at,
        }
        if self._on_conflict:
            statement: sqlalchemy.Insert
            if self._dialect == "postgresql":
                from sqlalchemy.dialects import postgresql  # noqa: PLC0415

                statement = postgresql.insert(self._table).values(values).on_conflict_do_nothing()
            else:
                from sqlalchemy.dialects import sqlite  # noqa: PLC0415

                statement = sqlite.insert(self._table).values(values).on_conflict_do_nothing()
            with connection.begin():
                return connection.execute(statement).rowcount == 1

        try:
            with connection.begin():
                connection.execute(sa.insert(self._table).values(values))
        except sa.exc.IntegrityError:
            # The record passed its own checks, so only the primary key can clash.
            return False
        return True

    def _secure_delete_on(self, connection: Connection) -> str | None:
        """Turn on SQLite's secure_delete and return the setting to restore; None elsewhere."""
        if self._dialect != "sqlite":
            return None
        with connection.begin():
            previous = connection.exec_driver_sql("PRAGMA secure_delete").scalar()
            connection.exec_driver_sql("PRAGMA secure_delete = ON")
        return _SQLITE_SECURE_DELETE.get(int(previous or 0), "OFF")

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        """Translate SQLAlchemy errors into store errors that show no statement parameters."""
        sa = _import_sqlalchemy()
        backend = type(self).__name__
        try:
            yield
        except sa.exc.DBAPIError as exc:
            lines = str(exc.orig).strip().splitlines()
            detail = (lines[0] if lines else "")[:_MAX_DRIVER_MESSAGE]
            message = (
                f"{backend} {operation} failed on table {self._table.fullname!r}: "
                f"{type(exc.orig).__name__}: {detail}. "
            )
            if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
                raise StoreUnavailable(
                    message + "Check that the database is reachable and the table exists "
                    "(create_table() creates it), then retry; treat this operation as failed.",
                    backend=backend,
                    operation=operation,
                ) from None
            raise StoreError(
                message + "Check that the table exists (create_table() creates it) and has "
                "the columns this version expects.",
                backend=backend,
                operation=operation,
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"{backend} {operation} failed on table {self._table.fullname!r}: "
                f"{type(exc).__name__}",
                backend=backend,
                operation=operation,
            ) from None


def _import_sqlalchemy() -> Any:
    try:
        import sqlalchemy  # noqa: PLC0415  (an optional dependency)
        import sqlalchemy.exc  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "SqlSubjectRegistry needs SQLAlchemy 2; install it with: pip install 'jivs[sql]'",
            setting="engine",
            expected="the sql extra installed",
        ) from None
    return sqlalchemy


def _build_table(sa: Any, table_name: str, schema: str | None) -> sqlalchemy.Table:
    table: sqlalchemy.Table = sa.Table(
        table_name,
        sa.MetaData(),
        sa.Column("subject_tag", sa.String(64), primary_key=True),
        sa.Column("provider_id", sa.String(255), nullable=True),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(wrapped_key IS NULL) = (shredded_at IS NOT NULL)",
            name=f"{table_name}_key_or_tombstone",
        ),
        schema=schema,
    )
    return table


def _as_utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every time this registry writes is UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
