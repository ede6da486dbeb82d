"""The guard's rewritten SQL runs on a real PostgreSQL server and on SQLite, with the same rows.

PostgreSQL comes from the ``postgres_engine`` fixture: each test gets its
own schema, and the second schema of the reporting corpus gets a unique
name so that tests can share a server. SQLite runs in memory with the
second schema attached as another in-memory database.

The original text runs as well where the driver accepts its placeholders,
and both must return the same rows (compared as sorted lists, since a
query without ORDER BY has no defined order), so the rewrite keeps the
meaning.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import sqlalchemy

from jivs_security.sql import SqlGuard, SqlPolicy, SqlRejected
from sql_corpus import BENIGN, Case, create_statements, policy

POSTGRES_CASES = [
    pytest.param(case, id=case.name) for case in BENIGN if "postgres" in case.dialects
]
POSTGRES_CASES_WITHOUT_PARAMS = [
    pytest.param(case, id=case.name)
    for case in BENIGN
    if "postgres" in case.dialects and case.params is None
]
SQLITE_CASES = [pytest.param(case, id=case.name) for case in BENIGN if "sqlite" in case.dialects]


def normalized(rows: list[Any]) -> list[tuple[object, ...]]:
    """Return rows as tuples, with Decimal as float so PostgreSQL and SQLite rows compare."""
    return [
        tuple(float(value) if isinstance(value, Decimal) else value for value in row)
        for row in rows
    ]


@pytest.fixture
def reporting_postgres(
    postgres_engine: sqlalchemy.Engine,
) -> Iterator[tuple[sqlalchemy.Engine, str]]:
    """The reporting tables in the test's schema, and regions in a second schema of its own."""
    reporting = f"reporting_{uuid.uuid4().hex}"
    with postgres_engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {reporting}")
        for statement in create_statements(reporting):
            connection.exec_driver_sql(statement)

    yield postgres_engine, reporting

    with postgres_engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {reporting} CASCADE")


@pytest.fixture
def reporting_sqlite() -> Iterator[sqlite3.Connection]:
    """An in-memory SQLite database with the reporting tables, regions in attached 'reporting'."""
    connection = sqlite3.connect(":memory:")
    connection.execute("ATTACH DATABASE ':memory:' AS reporting")
    for statement in create_statements("reporting"):
        connection.execute(statement)
    connection.commit()

    yield connection

    connection.close()


def run_postgres(engine: sqlalchemy.Engine, sql: str, params: Any) -> list[tuple[object, ...]]:
    """Run ``sql`` on psycopg's own connection, whose placeholders are %s and %(name)s.

    psycopg leaves % alone when no parameters are passed, so LIKE 'g%' runs
    as written; SQLAlchemy's exec_driver_sql always passes parameters.
    """
    with engine.connect() as connection:
        driver_connection = connection.connection.driver_connection
        assert driver_connection is not None
        cursor = driver_connection.execute(sql, params)
        return normalized(cursor.fetchall())


def run_sqlite(connection: sqlite3.Connection, sql: str, params: Any) -> list[tuple[object, ...]]:
    """Run ``sql`` on SQLite, whose placeholders are ?, :name and @name."""
    return normalized(connection.execute(sql, params or ()).fetchall())


@pytest.mark.parametrize("case", POSTGRES_CASES)
def test_rewrite_runs_on_postgres(
    case: Case, reporting_postgres: tuple[sqlalchemy.Engine, str]
) -> None:
    """The rewritten text runs on PostgreSQL and returns at most the capped rows."""
    engine, reporting = reporting_postgres
    guard = SqlGuard(policy("postgres", reporting=reporting))
    checked = guard.check(case.render(reporting), case.params)

    rows = run_postgres(engine, checked.sql, checked.params)

    assert len(rows) <= checked.row_limit


@pytest.mark.parametrize("case", POSTGRES_CASES_WITHOUT_PARAMS)
def test_rewrite_same_rows_postgres(
    case: Case, reporting_postgres: tuple[sqlalchemy.Engine, str]
) -> None:
    """The rewritten text returns the rows that the original returns on PostgreSQL."""
    engine, reporting = reporting_postgres
    guard = SqlGuard(policy("postgres", reporting=reporting))
    original = case.render(reporting)
    checked = guard.check(original)

    rows = run_postgres(engine, checked.sql, None)

    assert sorted(rows, key=repr) == sorted(run_postgres(engine, original, None), key=repr)


@pytest.mark.parametrize("case", SQLITE_CASES)
def test_rewrite_runs_on_sqlite(case: Case, reporting_sqlite: sqlite3.Connection) -> None:
    """The rewritten text runs on SQLite and returns at most the capped rows."""
    checked = SqlGuard(policy("sqlite")).check(case.render(), case.params)

    rows = run_sqlite(reporting_sqlite, checked.sql, checked.params)

    assert len(rows) <= checked.row_limit


@pytest.mark.parametrize("case", SQLITE_CASES)
def test_rewrite_same_rows_sqlite(case: Case, reporting_sqlite: sqlite3.Connection) -> None:
    """The rewritten text returns the rows that the original returns on SQLite."""
    original = case.render()
    checked = SqlGuard(policy("sqlite")).check(original, case.params)

    rows = run_sqlite(reporting_sqlite, checked.sql, checked.params)

    expected = run_sqlite(reporting_sqlite, original, case.params)
    assert sorted(rows, key=repr) == sorted(expected, key=repr)


def test_row_cap_applies_on_postgres(reporting_postgres: tuple[sqlalchemy.Engine, str]) -> None:
    """With max_rows=2, a query over six orders returns two rows."""
    engine, reporting = reporting_postgres
    guard = SqlGuard(policy("postgres", reporting=reporting, max_rows=2))
    checked = guard.check("SELECT id FROM orders ORDER BY id LIMIT ALL")

    rows = run_postgres(engine, checked.sql, None)

    assert rows == [(1,), (2,)]


def test_row_cap_applies_on_sqlite(reporting_sqlite: sqlite3.Connection) -> None:
    """SQLite's LIMIT -1 means no limit, and the guard replaces it with the cap."""
    checked = SqlGuard(policy("sqlite", max_rows=2)).check(
        "SELECT id FROM orders ORDER BY id LIMIT -1"
    )

    rows = run_sqlite(reporting_sqlite, checked.sql, None)

    assert rows == [(1,), (2,)]


def test_mysql_rewrite_is_one_string_on_postgres(
    reporting_postgres: tuple[sqlalchemy.Engine, str],
) -> None:
    """The MySQL guard's rewrite of a backslash-escaped quote is one harmless SELECT on PostgreSQL.

    Read by PostgreSQL, the input ``SELECT 'a\\'; DROP TABLE orders; -- '``
    would be a SELECT followed by DROP TABLE. The rewrite doubles the quote
    instead, so PostgreSQL returns the string and the table survives.
    """
    engine, _ = reporting_postgres
    guard = SqlGuard(SqlPolicy({"orders": {"id"}}, dialect="mysql"))
    checked = guard.check("SELECT 'a\\'; DROP TABLE orders; -- '")

    rows = run_postgres(engine, checked.sql, None)

    assert rows == [("a'; DROP TABLE orders; -- ",)]
    assert run_postgres(engine, "SELECT COUNT(*) FROM orders", None) == [(6,)]


def test_backslash_differs_on_postgres(
    reporting_postgres: tuple[sqlalchemy.Engine, str],
) -> None:
    """With standard_conforming_strings off, PostgreSQL turns sqlglot's second string into SQL.

    sqlglot reads the text as one row of two strings; this server returns
    two rows, because the UNION hidden in the second string runs. This is
    why the PostgreSQL guard rejects string literals with a backslash.
    """
    engine, _ = reporting_postgres
    text = "SELECT 'x\\' AS a, ' UNION SELECT NULL --' AS b"
    with engine.connect() as connection:
        driver_connection = connection.connection.driver_connection
        assert driver_connection is not None
        driver_connection.execute("SET standard_conforming_strings = off")
        driver_connection.execute("SET escape_string_warning = off")

        rows = driver_connection.execute(text).fetchall()

    assert len(rows) == 2
    with pytest.raises(SqlRejected):
        SqlGuard(policy("postgres")).check(text)


def test_no_break_space_differs_on_postgres(
    reporting_postgres: tuple[sqlalchemy.Engine, str],
) -> None:
    """PostgreSQL reads SELECT + no-break space + id as one name; the rewrite has a plain space."""
    engine, reporting = reporting_postgres
    text = "SELECT\u00a0id FROM orders ORDER BY id"
    checked = SqlGuard(policy("postgres", reporting=reporting)).check(text)

    with pytest.raises(psycopg.errors.SyntaxError):
        run_postgres(engine, text, None)
    assert run_postgres(engine, checked.sql, None)[0] == (1,)


def test_comment_free_rewrite_on_sqlite(reporting_sqlite: sqlite3.Connection) -> None:
    """A query full of comments runs on SQLite after the rewrite drops them."""
    checked = SqlGuard(policy("sqlite")).check(
        "SELECT /* one */ id -- two\nFROM orders /* three */ WHERE id = 1"
    )

    rows = run_sqlite(reporting_sqlite, checked.sql, None)

    assert rows == [(1,)]
