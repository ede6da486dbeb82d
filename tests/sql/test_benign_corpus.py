"""Ordinary reporting queries pass the guard, and the rewritten text means the same query.

The corpus lives in ``tests/sql_corpus.py``; ``test_execution.py`` runs the
rewritten text against PostgreSQL and SQLite.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from jivs_security.sql import SqlGuard
from sql_corpus import BENIGN, DIALECTS, Case, policy

GUARDS = {dialect: SqlGuard(policy(dialect)) for dialect in DIALECTS}

CASES = [
    pytest.param(case, dialect, id=f"{dialect}-{case.name}")
    for case in BENIGN
    for dialect in case.dialects
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_corpus_size_per_dialect(dialect: str) -> None:
    """The corpus has at least 30 queries for each dialect."""
    count = sum(1 for case in BENIGN if dialect in case.dialects)

    assert count >= 30


def test_corpus_names_unique() -> None:
    """Each corpus query has its own name, so test ids are unique."""
    names = [case.name for case in BENIGN]

    assert len(names) == len(set(names))


@pytest.mark.parametrize(("case", "dialect"), CASES)
def test_benign_query_passes(case: Case, dialect: str) -> None:
    """The query passes and reads only allowed tables."""
    checked = GUARDS[dialect].check(case.render(), case.params)

    assert checked.tables <= set(policy(dialect).tables)


@pytest.mark.parametrize(("case", "dialect"), CASES)
def test_rewrite_is_one_statement(case: Case, dialect: str) -> None:
    """The rewritten text parses as exactly one statement in the same dialect."""
    checked = GUARDS[dialect].check(case.render(), case.params)

    trees = sqlglot.parse(checked.sql, read=dialect, error_level=ErrorLevel.RAISE)

    assert len([tree for tree in trees if tree is not None]) == 1


@pytest.mark.parametrize(("case", "dialect"), CASES)
def test_rewrite_is_fixed_point(case: Case, dialect: str) -> None:
    """Checking the rewritten text again gives the same text."""
    guard = GUARDS[dialect]
    checked = guard.check(case.render(), case.params)

    again = guard.check(checked.sql, case.params)

    assert again.sql == checked.sql


@pytest.mark.parametrize(("case", "dialect"), CASES)
def test_rewrite_has_row_cap(case: Case, dialect: str) -> None:
    """The outer query returns at most max_rows rows."""
    checked = GUARDS[dialect].check(case.render(), case.params)

    assert checked.row_limit <= 1000


@pytest.mark.parametrize(("case", "dialect"), CASES)
def test_rewrite_keeps_keyword_columns(case: Case, dialect: str) -> None:
    """Quoted keyword columns ("order", "user") stay quoted in the rewrite."""
    checked = GUARDS[dialect].check(case.render(), case.params)

    for keyword in ('"order"', '"user"'):
        assert (keyword in case.sql) == (keyword in checked.sql)
