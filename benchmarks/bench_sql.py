"""Compare SqlGuard.check with bare sqlglot.parse + generate, in interleaved rounds.

Run from the repository root::

    python benchmarks/bench_sql.py [--quick] [--json PATH]

One call of a contender handles a whole workload: every query of a fixed
list of reporting queries, once each. The guard parses, checks and
regenerates; the peer parses and regenerates the same text in the same
dialect. Each round times every contender for about the same slice of
time, in an order that rotates from round to round, so load from other
processes on a shared machine falls on all contenders alike. A row's ratio
is the median over rounds of ours queries/s divided by the peer's
queries/s, both measured in the same round. benchmarks/README.md describes
each row.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import harness
import sqlglot
from harness import (
    Comparison,
    Plan,
    Settings,
    add_json_option,
    add_quick_option,
    format_checks,
    format_comparisons,
    format_run,
    machine_facts,
    measure,
    print_sections,
    settings_as_json,
    summarize,
    write_json,
)

from jivs_security.sql import SqlGuard, SqlPolicy, SqlRejected

TARGET_RATIO = 0.8

TABLES = {
    "customers": {"id", "name", "country", '"user"', "status", "created_at", "updated_at"},
    "orders": {"id", "customer_id", "region_id", "total", "status", '"order"', "created_at"},
    "order_items": {"id", "order_id", "product_id", "quantity", "unit_price"},
    "products": {"id", "name", "category", "price"},
    "reporting.regions": {"id", "name"},
}

# Reporting queries that PostgreSQL and SQLite both accept, from one line to
# a dozen, with joins, aggregates, window functions, CTEs and subqueries.
PORTABLE_QUERIES = (
    "SELECT id, total FROM orders WHERE status = 'paid'",
    "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY status",
    "SELECT c.name, o.total FROM orders AS o JOIN customers AS c ON c.id = o.customer_id "
    "ORDER BY o.id LIMIT 50",
    "SELECT p.category, SUM(i.quantity * i.unit_price) AS sales FROM order_items i "
    "JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id "
    "WHERE o.status <> 'refunded' GROUP BY p.category ORDER BY sales DESC",
    "SELECT id, customer_id, total, ROW_NUMBER() OVER "
    "(PARTITION BY customer_id ORDER BY total DESC) AS position FROM orders",
    "WITH revenue AS (SELECT customer_id, SUM(total) AS amount FROM orders "
    "GROUP BY customer_id) SELECT c.name, r.amount FROM revenue r "
    "JOIN customers c ON c.id = r.customer_id ORDER BY r.amount DESC",
    "SELECT c.id, c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
    "WHERE o.customer_id = c.id AND o.status = 'refunded')",
    'SELECT id, "order", "user" FROM orders JOIN customers USING (id) WHERE "user" LIKE \'a%\'',
    "SELECT id, CASE WHEN total >= 100 THEN 'large' WHEN total >= 20 THEN 'medium' "
    "ELSE 'small' END AS size, COALESCE(status, 'unknown') AS state FROM orders",
    "SELECT r.name, COUNT(o.id) AS n FROM orders o "
    "JOIN reporting.regions r ON r.id = o.region_id GROUP BY r.name ORDER BY r.name",
    "SELECT id, 'order' AS kind FROM orders UNION ALL "
    "SELECT id, 'customer' FROM customers ORDER BY kind, id",
    # A longer report: two CTEs, a join, window functions and a subquery.
    "WITH paid AS (SELECT id, customer_id, total, created_at FROM orders "
    "WHERE status IN ('paid', 'shipped') AND total BETWEEN 1 AND 10000), "
    "per_customer AS (SELECT customer_id, COUNT(*) AS n, SUM(total) AS amount, "
    "AVG(total) AS average, MIN(created_at) AS first_order, MAX(created_at) AS last_order "
    "FROM paid GROUP BY customer_id HAVING COUNT(*) >= 1) "
    "SELECT c.id, c.name, c.country, pc.n, pc.amount, ROUND(pc.average, 2) AS average, "
    "RANK() OVER (ORDER BY pc.amount DESC) AS revenue_rank, "
    "LAG(pc.amount) OVER (PARTITION BY c.country ORDER BY pc.amount) AS previous_amount, "
    "(SELECT COUNT(*) FROM order_items i JOIN orders o ON o.id = i.order_id "
    "WHERE o.customer_id = c.id) AS items "
    "FROM per_customer pc JOIN customers c ON c.id = pc.customer_id "
    "WHERE c.status = 'active' AND c.created_at < c.updated_at "
    "ORDER BY revenue_rank, c.id LIMIT 100",
)

DIALECT_QUERIES = {
    "postgres": (
        "SELECT DATE_TRUNC('month', created_at) AS month, SUM(total) AS revenue "
        "FROM orders GROUP BY 1 ORDER BY 1",
        "SELECT customer_id, STRING_AGG(status, ', ' ORDER BY id) AS statuses FROM orders "
        "GROUP BY customer_id",
    ),
    "sqlite": (
        "SELECT strftime('%Y-%m', created_at) AS month, SUM(total) AS revenue "
        "FROM orders GROUP BY 1 ORDER BY 1",
        "SELECT customer_id, GROUP_CONCAT(status, ', ') AS statuses FROM orders "
        "GROUP BY customer_id",
    ),
}

# Inputs that parse but that the guard rejects, with the code it must give.
REJECTED_QUERIES = (
    ("SELECT name FROM customers UNION SELECT usename FROM pg_user", "system_table"),
    ("SELECT * FROM customers", "star_not_allowed"),
    ("SELECT id FROM orders WHERE pg_sleep(10) IS NULL", "function_not_allowed"),
    ("WITH gone AS (DELETE FROM orders RETURNING id) SELECT id FROM gone", "statement_not_allowed"),
    ("SELECT id FROM orders FOR UPDATE", "locking_clause"),
    ("SELECT c FROM customers c", "whole_row_reference"),
    ("SELECT id FROM orders; DROP TABLE orders", "multiple_statements"),
    ("SELECT c.email FROM customers c JOIN orders o ON o.customer_id = c.id", "column_not_allowed"),
)


# Rounds take rounds x slice x 9 contenders: about 32 s full and 4 s quick,
# plus about a second of set-up and calibration.
FULL = Settings(rounds=12, slice_seconds=0.3)
QUICK = Settings(rounds=4, slice_seconds=0.1)


# Measuring.


@dataclass
class Contender(harness.Contender):
    """One measured operation over a workload, and its queries/s in each round."""

    queries_per_call: int

    def record_batch(self, elapsed: float, slice_seconds: float) -> None:
        """Append the batch's queries/s, and size the next batch from the median rate so far."""
        calls_per_second = self.calls_per_batch / elapsed
        self.rates.append(calls_per_second * self.queries_per_call)
        median_calls = statistics.median(self.rates) / self.queries_per_call
        self.calls_per_batch = max(1, round(median_calls * slice_seconds))

    def as_json(self, rate_name: str) -> dict[str, Any]:
        """Return the shared fields, with ``queries_per_call`` right after the label."""
        shared = super().as_json(rate_name)
        return {"label": shared.pop("label"), "queries_per_call": self.queries_per_call, **shared}


# Contenders.


def guard_workload(guard: SqlGuard, queries: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for query in queries:
            guard.check(query)

    return run


def guard_rejections(guard: SqlGuard, queries: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for query in queries:
            with contextlib.suppress(SqlRejected):
                guard.check(query)

    return run


def bare_workload(dialect: str, queries: Sequence[str], **options: Any) -> Callable[[], None]:
    """Parse each query and generate each statement, with sqlglot's defaults or ``options``."""

    def run() -> None:
        for query in queries:
            for tree in sqlglot.parse(query, read=dialect):
                if tree is not None:
                    tree.sql(dialect=dialect, **options)

    return run


def add_dialect(plan: Plan[Contender], dialect: str) -> None:
    """Add the contenders and rows for the reporting workload in ``dialect``."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect=dialect))
    queries = (*PORTABLE_QUERIES, *DIALECT_QUERIES[dialect])

    for query in queries:
        checked = guard.check(query)
        again = guard.check(checked.sql)
        if again.sql != checked.sql:
            raise SystemExit(f"the guard's rewrite is not stable for {query!r}")
        statements = [tree for tree in sqlglot.parse(query, read=dialect) if tree is not None]
        if len(statements) != 1:
            raise SystemExit(f"sqlglot finds {len(statements)} statements in {query!r}")
    plan.checks.append(
        f"{dialect}: all {len(queries)} workload queries pass the guard, its rewrite of each "
        "passes again unchanged, and sqlglot finds one statement in each"
    )

    ours = Contender(
        f"guard-{dialect}", "SqlGuard.check", guard_workload(guard, queries), len(queries)
    )
    defaults = Contender(
        f"bare-{dialect}",
        "sqlglot.parse + .sql()",
        bare_workload(dialect, queries),
        len(queries),
    )
    same_options = Contender(
        f"bare-options-{dialect}",
        "sqlglot.parse + .sql(copy=False, comments=False)",
        bare_workload(dialect, queries, copy=False, comments=False),
        len(queries),
    )
    plan.groups.append([ours, defaults, same_options])
    operation = f"reporting queries, {dialect}"
    plan.rows.append(Comparison(operation, ours, defaults))
    plan.rows.append(Comparison(operation, ours, same_options))


def add_rejections(plan: Plan[Contender]) -> None:
    """Add the contenders and row for inputs that the guard rejects, in PostgreSQL."""
    guard = SqlGuard(SqlPolicy(TABLES, dialect="postgres"))
    queries = [query for query, _ in REJECTED_QUERIES]
    for query, code in REJECTED_QUERIES:
        try:
            guard.check(query)
        except SqlRejected as error:
            if error.code != code:
                raise SystemExit(f"{query!r} was rejected with {error.code}, not {code}") from None
        else:
            raise SystemExit(f"the guard accepted {query!r}")
    plan.checks.append(
        f"postgres: all {len(queries)} rejected inputs raise SqlRejected with the expected code"
    )

    ours = Contender(
        "guard-rejected", "SqlGuard.check (raises)", guard_rejections(guard, queries), len(queries)
    )
    peer = Contender(
        "bare-rejected",
        "sqlglot.parse + .sql()",
        bare_workload("postgres", queries),
        len(queries),
    )
    plan.groups.append([ours, peer])
    plan.rows.append(Comparison("rejected inputs, postgres", ours, peer))


# Reporting.


def format_targets(summaries: Sequence[dict[str, Any]]) -> str:
    lines = []
    for summary in summaries:
        if summary["operation"].startswith("reporting") and summary["peer"].endswith(".sql()"):
            verdict = "met" if summary["ratio"] >= TARGET_RATIO else "missed"
            lines.append(
                f"target {summary['operation']} >= {TARGET_RATIO}x bare sqlglot.parse + "
                f"generate: {summary['ratio']:.2f}x, {verdict}"
            )
    return "\n".join(lines)


def report(
    arguments: argparse.Namespace, settings: Settings, plan: Plan[Contender], *, elapsed: float
) -> None:
    """Print the table and the targets, and write JSON if requested."""
    summaries = [summarize(row, "queries") for row in plan.rows]
    machine = machine_facts(("jivs", "sqlglot"))
    print_sections(
        format_run(settings, elapsed, "queries/s", machine),
        format_comparisons(summaries, "queries/s", "queries_per_s"),
        format_checks(plan.checks),
        format_targets(summaries),
    )

    if arguments.json is None:
        return
    results = {
        "settings": settings_as_json(settings, quick=arguments.quick),
        "machine": machine,
        "rows": summaries,
        "checks": plan.checks,
        "contenders": plan.contenders_as_json("queries"),
    }
    write_json(arguments.json, results)


# Running.


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure SqlGuard.check throughput against bare sqlglot.parse + generate on the "
            "same reporting queries, in interleaved rounds."
        )
    )
    add_quick_option(parser, QUICK, FULL)
    add_json_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL

    plan: Plan[Contender] = Plan()
    for dialect in ("postgres", "sqlite"):
        add_dialect(plan, dialect)
    add_rejections(plan)

    elapsed = measure(plan.groups, settings)

    report(arguments, settings, plan, elapsed=elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
