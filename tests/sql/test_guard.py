"""SqlGuard and SqlPolicy: configuration, rewriting, scopes, functions, parameters and limits."""

from __future__ import annotations

import logging

import pytest

import jivs_security.sql
from jivs_security.errors import ConfigurationError, JivsSecurityError, SqlRejected
from jivs_security.sql import CheckedQuery, SqlGuard, SqlPolicy, SqlViolation, default_functions

TABLES = {
    "orders": {"id", "customer_id", "total", "status", '"order"', "updated_at"},
    "customers": {"id", "name"},
    "sales.regions": {"id", "name"},
}


def guard_for(dialect: str = "postgres", **options: object) -> SqlGuard:
    """Return a guard over TABLES in ``dialect`` with the given policy options."""
    return SqlGuard(SqlPolicy(TABLES, dialect=dialect, **options))  # type: ignore[arg-type]


def rejection(sql: str, dialect: str = "postgres", **options: object) -> SqlRejected:
    """Check ``sql`` and return the SqlRejected it raises."""
    guard = guard_for(dialect, **options)
    with pytest.raises(SqlRejected) as caught:
        guard.check(sql)
    return caught.value


# The public surface.


def test_module_exports_public_names() -> None:
    """jivs_security.sql exports the guard, the policy, the result, the error and the codes."""
    expected = {
        "CheckedQuery",
        "Params",
        "SqlGuard",
        "SqlPolicy",
        "SqlRejected",
        "SqlViolation",
        "default_functions",
    }

    assert set(jivs_security.sql.__all__) == expected


def test_rejection_is_value_error() -> None:
    """SqlRejected is a JivsSecurityError and a ValueError."""
    error = rejection("DELETE FROM orders")

    assert isinstance(error, JivsSecurityError)
    assert isinstance(error, ValueError)


def test_violation_codes_are_strings() -> None:
    """Every violation code is a lower-case string equal to its enum member."""
    for violation in SqlViolation:
        assert violation == violation.value
        assert violation.value == violation.value.lower()


def test_check_returns_checked_query() -> None:
    """A passing query comes back with its tables, columns, functions and row cap."""
    guard = guard_for()

    checked = guard.check("SELECT o.id, COUNT(*) FROM orders o GROUP BY o.id")

    assert isinstance(checked, CheckedQuery)
    assert checked.dialect == "postgres"
    assert checked.tables == frozenset({"orders"})
    assert checked.columns == frozenset({"orders.id"})
    assert checked.functions == frozenset({"COUNT"})
    assert checked.row_limit == 1000


def test_check_rejects_non_string() -> None:
    """check() raises TypeError for bytes, which it does not decode."""
    guard = guard_for()

    with pytest.raises(TypeError):
        guard.check(b"SELECT id FROM orders")  # type: ignore[arg-type]


def test_guard_needs_policy() -> None:
    """SqlGuard raises TypeError for anything but a SqlPolicy."""
    with pytest.raises(TypeError):
        SqlGuard({"orders": {"id"}})  # type: ignore[arg-type]


# Rewriting.


def test_output_has_no_comments() -> None:
    """Comments of every form are dropped from the rewritten text."""
    guard = guard_for()

    checked = guard.check("SELECT /* a */ id -- b\nFROM orders /* c */")

    assert checked.sql == "SELECT id FROM orders LIMIT 1000"


def test_output_keeps_quoted_keywords() -> None:
    """Columns named like keywords stay quoted in the rewritten text."""
    guard = guard_for()

    checked = guard.check('SELECT "order", updated_at FROM orders')

    assert checked.sql == 'SELECT "order", updated_at FROM orders LIMIT 1000'


def test_output_is_fixed_point() -> None:
    """Checking the rewritten text again returns the same text."""
    guard = guard_for()
    first = guard.check(
        "select c.name, sum(o.total) total from orders o "
        "join customers c on c.id=o.customer_id group by c.name"
    )

    second = guard.check(first.sql)

    assert second.sql == first.sql


def test_limit_added_when_missing() -> None:
    """A query without LIMIT gets LIMIT max_rows."""
    checked = guard_for(max_rows=50).check("SELECT id FROM orders")

    assert checked.sql.endswith("LIMIT 50")
    assert checked.row_limit == 50


def test_limit_lowered_to_cap() -> None:
    """A LIMIT above max_rows is lowered to it."""
    checked = guard_for(max_rows=50).check("SELECT id FROM orders LIMIT 5000 OFFSET 10")

    assert checked.sql == "SELECT id FROM orders LIMIT 50 OFFSET 10"


def test_limit_below_cap_kept() -> None:
    """A LIMIT within max_rows is kept."""
    checked = guard_for(max_rows=50).check("SELECT id FROM orders LIMIT 7")

    assert checked.sql == "SELECT id FROM orders LIMIT 7"
    assert checked.row_limit == 7


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT id FROM orders LIMIT ALL"),
        ("postgres", "SELECT id FROM orders LIMIT NULL"),
        ("sqlite", "SELECT id FROM orders LIMIT -1"),
    ],
)
def test_unlimited_limit_capped(dialect: str, sql: str) -> None:
    """LIMIT ALL, LIMIT NULL and SQLite's negative LIMIT mean no limit, so they become the cap."""
    checked = guard_for(dialect, max_rows=50).check(sql)

    assert checked.sql == "SELECT id FROM orders LIMIT 50"


def test_fetch_first_capped() -> None:
    """FETCH FIRST n ROWS ONLY above the cap is lowered to it."""
    checked = guard_for(max_rows=50).check("SELECT id FROM orders FETCH FIRST 500 ROWS ONLY")

    assert checked.sql == "SELECT id FROM orders FETCH FIRST 50 ROWS ONLY"


def test_union_capped_as_whole() -> None:
    """A set operation gets one LIMIT after its last query."""
    checked = guard_for(max_rows=50).check("SELECT id FROM orders UNION SELECT id FROM customers")

    assert checked.sql == "SELECT id FROM orders UNION SELECT id FROM customers LIMIT 50"


def test_parameter_limit_rejected() -> None:
    """An outer LIMIT set by a parameter cannot be checked against the cap."""
    error = rejection("SELECT id FROM orders LIMIT %(n)s")

    assert error.code == SqlViolation.UNSUPPORTED_LIMIT


def test_with_ties_rejected() -> None:
    """FETCH ... WITH TIES may return more rows than its count."""
    error = rejection("SELECT id FROM orders ORDER BY total FETCH FIRST 5 ROWS WITH TIES")

    assert error.code == SqlViolation.UNSUPPORTED_LIMIT


def test_long_values_list_rejected() -> None:
    """A VALUES list with more rows than max_rows is rejected, since it takes no LIMIT."""
    error = rejection("VALUES (1), (2), (3)", max_rows=2)

    assert error.code == SqlViolation.UNSUPPORTED_LIMIT


def test_subquery_limit_not_capped() -> None:
    """Only the outer query is capped; a LIMIT inside a subquery stays as written."""
    checked = guard_for(max_rows=50).check(
        "SELECT t.id FROM (SELECT id FROM orders LIMIT 5000) AS t"
    )

    assert checked.sql == "SELECT t.id FROM (SELECT id FROM orders LIMIT 5000) AS t LIMIT 50"


def test_outer_parentheses_removed() -> None:
    """Parentheses around the whole query are dropped before the cap is added."""
    checked = guard_for(max_rows=50).check("((SELECT id FROM orders))")

    assert checked.sql == "SELECT id FROM orders LIMIT 50"


# Tables.


def test_unlisted_table_rejected() -> None:
    """A table missing from the policy is rejected with its name in the message."""
    error = rejection("SELECT id FROM invoices")

    assert error.code == SqlViolation.TABLE_NOT_ALLOWED
    assert "invoices" in str(error)


def test_qualified_table_needs_qualified_key() -> None:
    """public.orders is not the key orders: the two can resolve to different tables."""
    error = rejection("SELECT id FROM public.orders")

    assert error.code == SqlViolation.TABLE_NOT_ALLOWED


def test_unqualified_name_of_qualified_key() -> None:
    """regions alone is not the key sales.regions."""
    error = rejection("SELECT id FROM regions")

    assert error.code == SqlViolation.TABLE_NOT_ALLOWED


def test_schema_qualified_table_allowed() -> None:
    """sales.regions matches its key, and its columns are recorded under it."""
    checked = guard_for().check("SELECT r.name FROM sales.regions r")

    assert checked.tables == frozenset({"sales.regions"})
    assert checked.columns == frozenset({"sales.regions.name"})


def test_schema_qualified_column_reference() -> None:
    """schema.table.column refers to an unaliased schema-qualified table."""
    checked = guard_for().check("SELECT sales.regions.name FROM sales.regions")

    assert checked.columns == frozenset({"sales.regions.name"})


def test_unquoted_names_fold_in_postgres() -> None:
    """Unquoted ORDERS folds to orders in PostgreSQL, as the server folds it."""
    checked = guard_for().check("SELECT ID FROM ORDERS")

    assert checked.tables == frozenset({"orders"})


def test_quoted_names_keep_case_in_postgres() -> None:
    """Quoted "Orders" is another table than orders in PostgreSQL."""
    error = rejection('SELECT id FROM "Orders"')

    assert error.code == SqlViolation.TABLE_NOT_ALLOWED


def test_quoted_names_fold_in_sqlite() -> None:
    """SQLite compares identifiers without case, quoted or not."""
    checked = guard_for("sqlite").check('SELECT "ID" FROM "Orders"')

    assert checked.tables == frozenset({"orders"})


def test_cte_named_like_table_rejected() -> None:
    """A CTE may not shadow an allowed table."""
    error = rejection("WITH orders AS (SELECT id FROM customers) SELECT id FROM orders")

    assert error.code == SqlViolation.CTE_SHADOWS_TABLE


def test_cte_not_visible_before_definition() -> None:
    """A CTE body cannot read a CTE defined after it, so the name is a table."""
    error = rejection("WITH a AS (SELECT id FROM b), b AS (SELECT id FROM orders) SELECT id FROM a")

    assert error.code == SqlViolation.TABLE_NOT_ALLOWED


# Columns and scopes.


def test_unlisted_column_rejected() -> None:
    """A column missing from the policy is rejected."""
    error = rejection("SELECT email FROM customers")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED
    assert error.node_text == "email"


def test_column_through_alias_checked() -> None:
    """A column qualified with a table alias is checked against that table."""
    error = rejection("SELECT c.total FROM customers c JOIN orders o ON o.customer_id = c.id")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_alias_of_other_table_checked() -> None:
    """An alias that reuses another table's name refers to the aliased table."""
    error = rejection("SELECT orders.status FROM customers AS orders")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_unqualified_join_column_allowed() -> None:
    """An unqualified column that one joined table lists is accepted."""
    checked = guard_for().check(
        "SELECT name, total FROM orders JOIN customers ON customers.id = orders.customer_id"
    )

    assert checked.columns >= {"customers.name", "orders.total"}


def test_correlated_reference_needs_qualifier() -> None:
    """An unqualified name that the inner table does not list is rejected.

    The inner table may have that column without the policy listing it, and
    SQL resolves the inner table first.
    """
    error = rejection(
        "SELECT c.id FROM customers c WHERE EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND name = 'x')"
    )

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_qualified_correlated_reference_allowed() -> None:
    """A correlated reference qualified with the outer alias is accepted."""
    checked = guard_for().check(
        "SELECT c.id FROM customers c WHERE EXISTS "
        "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND c.name = 'x')"
    )

    assert "customers.name" in checked.columns


def test_outer_reference_through_derived_table() -> None:
    """A level with only derived tables passes an unknown name to the outer query."""
    checked = guard_for().check(
        "SELECT c.id FROM customers c WHERE EXISTS "
        "(SELECT 1 FROM (SELECT customer_id FROM orders) t "
        "WHERE t.customer_id = c.id AND name = 'x')"
    )

    assert "customers.name" in checked.columns


def test_derived_table_outputs_only() -> None:
    """Outside a derived table, only its output columns exist."""
    error = rejection("SELECT t.status FROM (SELECT id FROM orders) AS t")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_derived_table_cannot_see_siblings() -> None:
    """A derived table cannot read another FROM item without LATERAL."""
    error = rejection("SELECT t.n FROM orders o, (SELECT o.id AS n) AS t")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_cte_column_list_renames() -> None:
    """A CTE's column list names its outputs."""
    checked = guard_for().check("WITH t (ident) AS (SELECT id FROM orders) SELECT ident FROM t")

    assert checked.columns == frozenset({"orders.id"})


def test_order_by_alias_allowed() -> None:
    """A bare ORDER BY name may be an output alias of the same SELECT."""
    checked = guard_for().check("SELECT total * 2 AS doubled FROM orders ORDER BY doubled")

    assert checked.sql.startswith("SELECT total * 2 AS doubled FROM orders ORDER BY doubled")


def test_group_by_alias_rejected() -> None:
    """GROUP BY resolves a name to an input column first, so an alias there is rejected."""
    error = rejection("SELECT id AS email FROM customers GROUP BY email")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_order_by_expression_uses_inputs() -> None:
    """An ORDER BY expression that is not a bare alias is resolved against the tables."""
    error = rejection("SELECT id AS email FROM customers ORDER BY email || ''")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_set_operation_order_by_outputs() -> None:
    """ORDER BY after UNION may name only output columns or positions."""
    error = rejection("SELECT id FROM orders UNION SELECT id FROM customers ORDER BY total")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_table_column_aliases_rejected() -> None:
    """orders AS o(a, b) renames physical columns by position, which the guard cannot follow."""
    error = rejection("SELECT a FROM orders AS o(a, b)")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_using_needs_both_sides() -> None:
    """JOIN ... USING (col) needs col allowed on both sides."""
    error = rejection("SELECT o.id FROM orders o JOIN customers c USING (total)")

    assert error.code == SqlViolation.COLUMN_NOT_ALLOWED


def test_count_star_allowed() -> None:
    """COUNT(*) reads no column."""
    checked = guard_for().check("SELECT COUNT(*) FROM customers")

    assert checked.columns == frozenset()


# Functions.


def test_default_functions_per_dialect() -> None:
    """The defaults cover aggregates, window, date and string functions of each dialect."""
    assert {"COUNT", "ROW_NUMBER", "DATE_TRUNC", "LOWER"} <= default_functions("postgres")
    assert {"COUNT", "ROW_NUMBER", "STRFTIME", "LOWER"} <= default_functions("sqlite")
    assert {"COUNT", "ROW_NUMBER", "DATE_FORMAT", "LOWER"} <= default_functions("mysql")


def test_default_functions_unknown_dialect() -> None:
    """A dialect without defaults needs an explicit function list."""
    with pytest.raises(ConfigurationError) as caught:
        SqlPolicy(TABLES, dialect="snowflake")

    assert caught.value.setting == "functions"


def test_explicit_dialect_functions() -> None:
    """A dialect without defaults works with an explicit function list."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect="snowflake", functions=["COUNT"]))

    checked = guard.check("SELECT COUNT(id) FROM orders")

    assert checked.functions == frozenset({"COUNT"})


def test_function_spellings_share_class() -> None:
    """SUBSTR and SUBSTRING parse into one sqlglot class, so allowing one allows both."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect="sqlite", functions=["SUBSTR"]))

    checked = guard.check("SELECT SUBSTRING(status, 1, 2) FROM orders")

    assert checked.sql == "SELECT SUBSTRING(status, 1, 2) FROM orders LIMIT 1000"


def test_typed_function_needs_listing() -> None:
    """A function that sqlglot models as a typed class is rejected unless listed."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect="postgres", functions=["COUNT"]))

    with pytest.raises(SqlRejected) as caught:
        guard.check("SELECT LOWER(status) FROM orders")

    assert caught.value.code == SqlViolation.FUNCTION_NOT_ALLOWED


def test_anonymous_function_allowed_by_name() -> None:
    """A function sqlglot does not model (exp.Anonymous) is allowed by its name."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect="postgres", functions=["my_report_fn"]))

    checked = guard.check("SELECT MY_REPORT_FN(total) FROM orders")

    assert checked.functions == frozenset({"MY_REPORT_FN"})


def test_syntax_functions_always_allowed() -> None:
    """CASE, CAST, EXISTS, AND and OR need no allowlist entry."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect="postgres", functions=[]))

    checked = guard.check(
        "SELECT CASE WHEN total > 1 AND id > 1 OR id < 0 THEN CAST(total AS INT) END FROM orders "
        "WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = orders.customer_id)"
    )

    assert checked.functions == frozenset()


def test_operator_functions_need_listing() -> None:
    """The regular expression operator ~ is a function node, so it needs listing."""
    error = rejection("SELECT id FROM orders WHERE status ~ '^(a+)+$'")

    assert error.code == SqlViolation.FUNCTION_NOT_ALLOWED


def test_invalid_function_name_rejected() -> None:
    """A function entry with a schema or parentheses is a configuration error."""
    with pytest.raises(ConfigurationError) as caught:
        SqlPolicy(TABLES, dialect="postgres", functions=["public.lower"])

    assert caught.value.setting == "functions"


# Parameters.


def test_named_params_matched() -> None:
    """Named params matching the placeholders are frozen into the result."""
    checked = guard_for().check(
        "SELECT id FROM orders WHERE customer_id = :customer", {"customer": 7}
    )

    assert checked.sql == "SELECT id FROM orders WHERE customer_id = %(customer)s LIMIT 1000"
    assert checked.params == {"customer": 7}


def test_positional_params_matched() -> None:
    """Positional params are frozen into a tuple."""
    checked = guard_for("sqlite").check(
        "SELECT id FROM orders WHERE customer_id = ? AND status = ?", [7, "paid"]
    )

    assert checked.params == (7, "paid")


def test_numbered_params_counted() -> None:
    """PostgreSQL $n placeholders need as many params as the highest n."""
    checked = guard_for().check("SELECT id FROM orders WHERE id = $2 OR customer_id = $1", (1, 2))

    assert checked.sql == "SELECT id FROM orders WHERE id = $2 OR customer_id = $1 LIMIT 1000"


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT id FROM orders WHERE id = :a", {"b": 1}),
        ("SELECT id FROM orders WHERE id = :a", {"a": 1, "b": 2}),
        ("SELECT id FROM orders WHERE id = :a", (1,)),
        ("SELECT id FROM orders WHERE id = %s", {"a": 1}),
        ("SELECT id FROM orders WHERE id = %s", (1, 2)),
        ("SELECT id FROM orders WHERE id = $1 OR id = %s", (1, 2)),
    ],
)
def test_mismatched_params_rejected(sql: str, params: dict[str, int] | tuple[int, ...]) -> None:
    """params that do not fit the placeholders are rejected."""
    with pytest.raises(SqlRejected) as caught:
        guard_for().check(sql, params)

    assert caught.value.code == SqlViolation.PARAMETER_MISMATCH


def test_string_params_type_error() -> None:
    """A string is not a parameter sequence."""
    with pytest.raises(TypeError):
        guard_for().check("SELECT id FROM orders WHERE id = %s", "1")


def test_params_left_out_of_repr() -> None:
    """CheckedQuery's repr does not show parameter values."""
    checked = guard_for().check("SELECT id FROM orders WHERE status = :s", {"s": "secret-value"})

    assert "secret-value" not in repr(checked)


def test_mysql_user_variable_rejected() -> None:
    """In MySQL, @name is a user variable, not a bind parameter."""
    error = rejection("SELECT id FROM orders WHERE id = @last_id", "mysql")

    assert error.code == SqlViolation.SYNTAX_NOT_ALLOWED


# Limits on size and shape.


def test_max_length_enforced() -> None:
    """Text longer than max_length is rejected before parsing."""
    error = rejection("SELECT id FROM orders WHERE id = 1" + " " * 100, max_length=50)

    assert error.code == SqlViolation.TOO_LONG


def test_max_depth_enforced() -> None:
    """max_depth=2 allows one level of subquery but not two."""
    guard = guard_for(max_depth=2)
    guard.check("SELECT id FROM orders WHERE id IN (SELECT id FROM customers)")

    with pytest.raises(SqlRejected) as caught:
        guard.check(
            "SELECT id FROM orders WHERE id IN (SELECT id FROM customers WHERE id IN "
            "(SELECT customer_id FROM orders))"
        )

    assert caught.value.code == SqlViolation.TOO_DEEP


def test_cte_counts_as_nesting() -> None:
    """A CTE body is one level deeper than the query that uses it."""
    error = rejection("WITH t AS (SELECT id FROM orders) SELECT id FROM t", max_depth=1)

    assert error.code == SqlViolation.TOO_DEEP


def test_max_joins_enforced() -> None:
    """More joins than max_joins are rejected; comma joins count."""
    error = rejection(
        "SELECT o.id FROM orders o, customers c JOIN orders p ON p.id = c.id", max_joins=1
    )

    assert error.code == SqlViolation.TOO_MANY_JOINS


def test_max_set_operations_enforced() -> None:
    """More UNION, INTERSECT and EXCEPT operations than allowed are rejected."""
    error = rejection(
        "SELECT id FROM orders UNION SELECT id FROM customers EXCEPT SELECT id FROM orders",
        max_set_operations=1,
    )

    assert error.code == SqlViolation.TOO_MANY_SET_OPERATIONS


def test_deep_expression_too_complex() -> None:
    """Expressions nested past the parser's recursion are rejected, not crashed on."""
    error = rejection("SELECT " + "(" * 5000 + "1" + ")" * 5000)

    assert error.code == SqlViolation.TOO_COMPLEX


def test_long_operator_chain_accepted() -> None:
    """A flat chain of 2,000 additions is walked without recursion."""
    checked = guard_for().check("SELECT " + " + ".join(["total"] * 2000) + " FROM orders")

    assert checked.columns == frozenset({"orders.total"})


def test_empty_text_rejected() -> None:
    """Whitespace, comments and semicolons alone are no statement."""
    error = rejection(" ; -- nothing\n;")

    assert error.code == SqlViolation.EMPTY


def test_trailing_semicolon_and_comment_allowed() -> None:
    """A trailing semicolon with a comment after it is still one statement."""
    checked = guard_for().check("SELECT id FROM orders; -- done")

    assert checked.sql == "SELECT id FROM orders LIMIT 1000"


def test_parse_error_names_position() -> None:
    """A syntax error names the line and column, not the query text."""
    error = rejection("SELECT id FROM orders WHERE (id = 'c0ffee-secret'")

    assert error.code == SqlViolation.PARSE_ERROR
    assert "line 1" in str(error)
    assert "c0ffee-secret" not in str(error)


def test_unterminated_string_hides_text() -> None:
    """A string that is never closed is a parse error whose message omits the text."""
    error = rejection("SELECT id FROM orders WHERE status = 'never-closed-secret")

    assert error.code == SqlViolation.PARSE_ERROR
    assert "never-closed-secret" not in str(error)


# Errors and logging.


def test_node_text_masks_literals() -> None:
    """The offending node's literals are replaced by ? in node_text and the message."""
    error = rejection("SELECT pg_read_file('/etc/shadow-secret')")

    assert error.node_text == "PG_READ_FILE(?)"
    assert "shadow-secret" not in str(error)


def test_node_text_shortened() -> None:
    """node_text is at most 120 characters."""
    columns = ", ".join(f"secret_{index}" for index in range(100))

    error = rejection(f"SELECT id FROM orders UNION SELECT {columns} FROM pg_user")

    assert error.node_text is not None
    assert len(error.node_text) <= 120


def test_rejection_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A rejection logs one INFO line with the code and no literal value."""
    guard = guard_for()
    caplog.set_level(logging.INFO, logger="jivs_security.sql")

    with pytest.raises(SqlRejected):
        guard.check("SELECT id FROM orders WHERE email = 'ada@example.com'")

    records = [r for r in caplog.records if r.name == "jivs_security.sql"]
    assert len(records) == 1
    assert "column_not_allowed" in records[0].getMessage()
    assert "ada@example.com" not in records[0].getMessage()


def test_unparsed_command_keeps_text_out_of_logs(caplog: pytest.LogCaptureFixture) -> None:
    """sqlglot's fallback warning for unknown statements does not carry the query text."""
    caplog.set_level(logging.WARNING, logger="sqlglot")

    error = rejection("EXPLAIN SELECT id FROM orders WHERE status = 'hidden-value'")

    assert error.code == SqlViolation.UNPARSED_COMMAND
    assert all("hidden-value" not in record.getMessage() for record in caplog.records)


# Policy configuration.


@pytest.mark.parametrize(
    ("tables", "options"),
    [
        ({}, {}),
        ({"orders": "id"}, {}),
        ({"orders": set()}, {}),
        ({"orders": {"*"}}, {}),
        ({"orders": {"o.id"}}, {}),
        ({"a.b.c.d": {"id"}}, {}),
        ({'"unterminated': {"id"}}, {}),
        ({"orders": {"id"}, "ORDERS": {"total"}}, {}),
        ({"orders": {"id"}}, {"max_rows": 0}),
        ({"orders": {"id"}}, {"max_rows": True}),
        ({"orders": {"id"}}, {"max_depth": 0}),
        ({"orders": {"id"}}, {"max_joins": -1}),
        ({"orders": {"id"}}, {"functions": "COUNT"}),
    ],
)
def test_invalid_policy_rejected(tables: object, options: dict[str, object]) -> None:
    """Malformed tables, columns, limits and function lists raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        SqlPolicy(tables, dialect="postgres", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", ["nonsense", "", "bigquery"])
def test_unsupported_dialect_rejected(dialect: str) -> None:
    """Unknown dialects, and BigQuery's context-dependent identifier case, are rejected."""
    with pytest.raises(ConfigurationError) as caught:
        SqlPolicy(TABLES, dialect=dialect, functions=["COUNT"])

    assert caught.value.setting == "dialect"


def test_quoted_policy_names() -> None:
    """Quoted names in the policy keep their case and may hold spaces and dots."""
    policy = SqlPolicy({'"Sales"."Order Items"': {'"Unit.Price"'}}, dialect="postgres")

    checked = SqlGuard(policy).check('SELECT "Unit.Price" FROM "Sales"."Order Items"')

    assert checked.columns == frozenset({'"Sales"."Order Items".Unit.Price'})


def test_policy_is_immutable() -> None:
    """A built policy cannot be loosened by setting an attribute."""
    policy = SqlPolicy(TABLES, dialect="postgres")

    with pytest.raises(AttributeError):
        policy.max_rows = 10**9


def test_policy_tables_read_only() -> None:
    """The tables mapping of a policy cannot be changed."""
    policy = SqlPolicy(TABLES, dialect="postgres")

    with pytest.raises(TypeError):
        policy.tables["secrets"] = frozenset({"value"})  # type: ignore[index]


def test_policy_repr_lists_tables() -> None:
    """The policy's repr names the dialect and tables."""
    text = repr(SqlPolicy(TABLES, dialect="postgres"))

    assert "postgres" in text
    assert "sales.regions" in text
