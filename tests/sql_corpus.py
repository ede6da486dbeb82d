"""A reporting schema, its SQL guard policy and a corpus of ordinary reporting queries.

The benign corpus tests check every query with the guard, and the execution
tests run the rewritten text against PostgreSQL and SQLite on the tables
that :func:`create_statements` builds. The schema has columns named like
SQL keywords (``"order"``, ``"user"``) or containing them (``updated_at``),
and columns that the policy leaves out (``customers.email``,
``customers.password_hash``), so a query can only pass by naming allowed
columns.

The table ``regions`` lives in a second schema (an attached database in
SQLite). Its name differs between test runs on a shared PostgreSQL server,
so queries write it as ``{reporting}`` and :meth:`Case.render` fills it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jivs_security.sql import SqlPolicy

DIALECTS = ("postgres", "sqlite")

# The schema name that guard-only tests use for the second schema.
REPORTING = "reporting"

ALLOWED_COLUMNS: dict[str, set[str]] = {
    "customers": {"id", "name", "country", '"user"', "status", "created_at", "updated_at"},
    "orders": {
        "id",
        "customer_id",
        "region_id",
        "total",
        "status",
        '"order"',
        "created_at",
        "updated_at",
    },
    "order_items": {"id", "order_id", "product_id", "quantity", "unit_price"},
    "products": {"id", "name", "category", "price"},
}

REGION_COLUMNS = {"id", "name"}


def policy(dialect: str, *, reporting: str = REPORTING, max_rows: int = 1000) -> SqlPolicy:
    """Build the guard policy for the reporting schema, with ``regions`` under ``reporting``."""
    tables = {name: set(columns) for name, columns in ALLOWED_COLUMNS.items()}
    tables[f"{reporting}.regions"] = set(REGION_COLUMNS)
    return SqlPolicy(tables=tables, dialect=dialect, max_rows=max_rows)


def create_statements(reporting: str | None) -> list[str]:
    """Return the DDL and rows of the reporting schema, in SQL that PostgreSQL and SQLite accept.

    ``reporting`` qualifies the ``regions`` table. The caller creates that
    schema (or attaches that database) first.
    """
    regions = f"{reporting}.regions" if reporting else "regions"
    return [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, "
        'email VARCHAR(200), password_hash VARCHAR(200), country VARCHAR(2), "user" VARCHAR(50), '
        "status VARCHAR(20), created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, "
        'region_id INTEGER, total NUMERIC(10, 2) NOT NULL, status VARCHAR(20), "order" INTEGER, '
        "created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
        "CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, "
        "product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, unit_price NUMERIC(10, 2))",
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(100), "
        "category VARCHAR(50), price NUMERIC(10, 2))",
        f"CREATE TABLE {regions} (id INTEGER PRIMARY KEY, name VARCHAR(50))",
        "INSERT INTO customers VALUES "
        "(1, 'Ada', 'ada@example.com', 'x', 'GB', 'ada', 'active', "
        "'2024-01-05 10:00:00', '2024-03-01 09:00:00'), "
        "(2, 'Grace', 'grace@example.com', 'x', 'US', 'grace', 'active', "
        "'2024-02-11 12:30:00', NULL), "
        "(3, 'Linus', 'linus@example.com', 'x', 'FI', 'linus', 'inactive', "
        "'2024-02-20 08:15:00', '2024-04-02 17:45:00'), "
        "(4, ' Edsger ', NULL, 'x', 'NL', NULL, NULL, '2024-03-03 14:00:00', NULL)",
        "INSERT INTO orders VALUES "
        "(1, 1, 1, 120.50, 'paid', 1, '2024-01-06 11:00:00', '2024-01-07 08:00:00'), "
        "(2, 1, 1, 35.00, 'shipped', 2, '2024-02-01 09:30:00', NULL), "
        "(3, 2, 2, 15.25, 'paid', 1, '2024-02-12 16:20:00', '2024-02-13 10:00:00'), "
        "(4, 2, 2, 250.00, 'refunded', 2, '2024-03-15 13:05:00', '2024-03-20 12:00:00'), "
        "(5, 3, 3, 60.00, 'paid', 1, '2024-03-21 18:40:00', NULL), "
        "(6, 3, NULL, 0.00, NULL, 2, '2024-04-01 07:55:00', NULL)",
        "INSERT INTO order_items VALUES "
        "(1, 1, 1, 2, 40.25), (2, 1, 2, 1, 40.00), (3, 2, 3, 7, 5.00), "
        "(4, 3, 1, 1, 15.25), (5, 4, 2, 5, 50.00), (6, 5, 3, 12, 5.00)",
        "INSERT INTO products VALUES "
        "(1, 'Kettle', 'kitchen', 40.25), (2, 'Lamp', 'home', 50.00), "
        "(3, 'Mug', 'kitchen', 5.00)",
        f"INSERT INTO {regions} VALUES (1, 'North'), (2, 'South'), (3, 'East')",
    ]


@dataclass(frozen=True)
class Case:
    """One benign query: a name, its SQL, the dialects it is written for and its parameters."""

    name: str
    sql: str
    dialects: Sequence[str] = DIALECTS
    params: Mapping[str, object] | Sequence[object] | None = field(default=None)

    def render(self, reporting: str = REPORTING) -> str:
        """Return the SQL with the second schema's name filled in."""
        return self.sql.replace("{reporting}", reporting)


BENIGN: list[Case] = [
    Case("filter by status", "SELECT id, total FROM orders WHERE status = 'paid'"),
    Case("order and limit", "SELECT id, total FROM orders ORDER BY total DESC LIMIT 3"),
    Case("limit and offset", "SELECT id FROM orders ORDER BY id LIMIT 2 OFFSET 2"),
    Case(
        "count per status",
        "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY status",
    ),
    Case(
        "revenue with having",
        "SELECT customer_id, SUM(total) AS revenue FROM orders GROUP BY customer_id "
        "HAVING SUM(total) > 100 ORDER BY revenue DESC",
    ),
    Case("average min max", "SELECT AVG(total), MIN(total), MAX(total) FROM orders"),
    Case("count distinct", "SELECT COUNT(DISTINCT customer_id) AS buyers FROM orders"),
    Case("distinct values", "SELECT DISTINCT country FROM customers ORDER BY country"),
    Case(
        "inner join",
        "SELECT c.name, o.total FROM orders AS o JOIN customers AS c ON c.id = o.customer_id "
        "ORDER BY o.id",
    ),
    Case(
        "left join count",
        "SELECT c.id, COUNT(o.id) AS orders FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY c.id",
    ),
    Case(
        "three table join",
        "SELECT p.category, SUM(i.quantity * i.unit_price) AS sales FROM order_items i "
        "JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id "
        "WHERE o.status <> 'refunded' GROUP BY p.category ORDER BY sales DESC",
    ),
    Case(
        "unqualified join columns",
        "SELECT name, total FROM orders JOIN customers ON customers.id = orders.customer_id "
        "WHERE total > 20 ORDER BY total",
    ),
    Case(
        "row number per customer",
        "SELECT id, customer_id, total, ROW_NUMBER() OVER "
        "(PARTITION BY customer_id ORDER BY total DESC) AS position FROM orders",
    ),
    Case(
        "running total",
        "SELECT id, created_at, SUM(total) OVER (ORDER BY created_at, id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM orders",
    ),
    Case(
        "previous order total",
        "SELECT id, total, LAG(total) OVER (PARTITION BY customer_id ORDER BY created_at) "
        "AS previous_total FROM orders",
    ),
    Case(
        "rank and dense rank",
        "SELECT id, RANK() OVER (ORDER BY total DESC) AS r, "
        "DENSE_RANK() OVER (ORDER BY status) AS d FROM orders",
    ),
    Case(
        "named window",
        "SELECT id, FIRST_VALUE(total) OVER w AS first_total, NTILE(2) OVER w AS half "
        "FROM orders WINDOW w AS (PARTITION BY customer_id ORDER BY created_at)",
    ),
    Case(
        "cte then join",
        "WITH revenue AS (SELECT customer_id, SUM(total) AS amount FROM orders "
        "GROUP BY customer_id) SELECT c.name, r.amount FROM revenue r "
        "JOIN customers c ON c.id = r.customer_id ORDER BY r.amount DESC",
    ),
    Case(
        "chained ctes",
        "WITH paid AS (SELECT id, customer_id, total FROM orders WHERE status = 'paid'), "
        "per_customer AS (SELECT customer_id, COUNT(*) AS n, SUM(total) AS amount FROM paid "
        "GROUP BY customer_id) SELECT customer_id, n, amount FROM per_customer "
        "WHERE n >= 1 ORDER BY customer_id",
    ),
    Case(
        "cte with column list",
        "WITH totals (customer, amount) AS (SELECT customer_id, SUM(total) FROM orders "
        "GROUP BY customer_id) SELECT customer, amount FROM totals ORDER BY customer",
    ),
    Case(
        "in subquery",
        "SELECT id, name FROM customers WHERE id IN "
        "(SELECT customer_id FROM orders WHERE total > 50) ORDER BY id",
    ),
    Case(
        "correlated exists",
        "SELECT c.id, c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
        "WHERE o.customer_id = c.id AND o.status = 'refunded')",
    ),
    Case(
        "derived table",
        "SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM orders "
        "GROUP BY status) AS t WHERE t.n > 1",
    ),
    Case(
        "scalar subquery",
        "SELECT c.id, (SELECT MAX(o.total) FROM orders o WHERE o.customer_id = c.id) "
        "AS largest FROM customers c ORDER BY c.id",
    ),
    Case(
        "union all",
        "SELECT id, 'order' AS kind FROM orders UNION ALL "
        "SELECT id, 'customer' FROM customers ORDER BY kind, id",
    ),
    Case(
        "intersect",
        "SELECT customer_id FROM orders INTERSECT SELECT id FROM customers",
    ),
    Case(
        "except",
        "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders",
    ),
    Case(
        "case expression",
        "SELECT id, CASE WHEN total >= 100 THEN 'large' WHEN total >= 20 THEN 'medium' "
        "ELSE 'small' END AS size FROM orders",
    ),
    Case(
        "coalesce and nullif",
        "SELECT id, COALESCE(status, 'unknown') AS state, NULLIF(total, 0) AS amount FROM orders",
    ),
    Case(
        "keyword named columns",
        'SELECT id, "order", updated_at FROM orders WHERE updated_at IS NOT NULL '
        'ORDER BY "order", id',
    ),
    Case(
        "user column",
        'SELECT "user", status FROM customers WHERE "user" LIKE \'g%\'',
    ),
    Case(
        "keyword-like column names",
        "SELECT id, created_at, updated_at FROM customers WHERE created_at < updated_at",
    ),
    Case("unquoted upper case", "SELECT ID, TOTAL FROM ORDERS WHERE STATUS = 'paid'"),
    Case("schema qualified table", "SELECT id, name FROM {reporting}.regions ORDER BY name"),
    Case(
        "schema qualified join",
        "SELECT r.name, COUNT(o.id) AS n FROM orders o "
        "JOIN {reporting}.regions r ON r.id = o.region_id GROUP BY r.name ORDER BY r.name",
    ),
    Case(
        "string functions",
        "SELECT id, UPPER(name) AS loud, LENGTH(name) AS name_length, LOWER(country) AS cc "
        "FROM customers",
    ),
    Case(
        "trim replace concat",
        "SELECT id, TRIM(name) || ' (' || REPLACE(country, 'GB', 'UK') || ')' AS label "
        "FROM customers",
    ),
    Case(
        "substring",
        "SELECT id, SUBSTR(name, 1, 3) AS prefix FROM customers",
        dialects=("sqlite",),
    ),
    Case(
        "substring from for",
        "SELECT id, SUBSTRING(name FROM 1 FOR 3) AS prefix FROM customers",
        dialects=("postgres",),
    ),
    Case(
        "math functions",
        "SELECT id, ROUND(total * 1.2, 2) AS gross, ABS(total - 50) AS distance FROM orders",
    ),
    Case(
        "between in and null tests",
        "SELECT id FROM orders WHERE total BETWEEN 10 AND 100 "
        "AND status IN ('paid', 'shipped') AND updated_at IS NOT NULL",
    ),
    Case("cast", "SELECT id, CAST(total AS INTEGER) AS whole FROM orders"),
    Case(
        "filter clause",
        "SELECT COUNT(*) FILTER (WHERE status = 'paid') AS paid, COUNT(*) AS all_orders "
        "FROM orders",
    ),
    Case(
        "nulls last",
        "SELECT id, updated_at FROM orders ORDER BY updated_at DESC NULLS LAST, id",
    ),
    Case("values", "VALUES (1, 'north'), (2, 'south')"),
    Case(
        "named parameters",
        "SELECT id, total FROM orders WHERE customer_id = :customer AND total > :minimum",
        params={"customer": 1, "minimum": 10},
    ),
    Case(
        "positional parameters",
        "SELECT id FROM orders WHERE customer_id = ? AND status = ?",
        dialects=("sqlite",),
        params=(2, "paid"),
    ),
    Case(
        "pyformat named parameters",
        "SELECT id FROM orders WHERE customer_id = %(customer)s AND status = %(status)s",
        dialects=("postgres",),
        params={"customer": 2, "status": "paid"},
    ),
    Case(
        "pyformat positional parameters",
        "SELECT id FROM orders WHERE customer_id = %s AND total > %s",
        dialects=("postgres",),
        params=(1, 10),
    ),
    Case(
        "month buckets postgres",
        "SELECT DATE_TRUNC('month', created_at) AS month, SUM(total) AS revenue "
        "FROM orders GROUP BY 1 ORDER BY 1",
        dialects=("postgres",),
    ),
    Case(
        "extract year",
        "SELECT EXTRACT(YEAR FROM created_at) AS year, COUNT(*) AS n FROM orders GROUP BY 1",
        dialects=("postgres",),
    ),
    Case(
        "month buckets sqlite",
        "SELECT strftime('%Y-%m', created_at) AS month, SUM(total) AS revenue "
        "FROM orders GROUP BY 1 ORDER BY 1",
        dialects=("sqlite",),
    ),
    Case(
        "orders in last days",
        "SELECT id FROM orders WHERE created_at >= CURRENT_DATE - INTERVAL '30 days'",
        dialects=("postgres",),
    ),
    Case(
        "orders in last days sqlite",
        "SELECT id FROM orders WHERE created_at >= date('now', '-30 days')",
        dialects=("sqlite",),
    ),
    Case(
        "string aggregate postgres",
        "SELECT customer_id, STRING_AGG(status, ', ' ORDER BY id) AS statuses FROM orders "
        "GROUP BY customer_id",
        dialects=("postgres",),
    ),
    Case(
        "group concat sqlite",
        "SELECT customer_id, GROUP_CONCAT(status, ', ') AS statuses FROM orders "
        "GROUP BY customer_id",
        dialects=("sqlite",),
    ),
    Case(
        "median postgres",
        "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY total) AS median FROM orders",
        dialects=("postgres",),
    ),
    Case(
        "nested subqueries",
        "SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE id IN "
        "(SELECT order_id FROM order_items WHERE quantity > 1))",
    ),
]
