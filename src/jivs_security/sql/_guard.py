"""The SQL guard: parse in the server's dialect, check the tree, and regenerate safe text."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from jivs_security.errors import SqlRejected
from jivs_security.sql._functions import SQLGLOT_FAILURES
from jivs_security.sql._policy import SqlPolicy
from jivs_security.sql._violations import SqlViolation
from jivs_security.sql._walk import QueryWalk, is_executable_comment, masked_text, reject

__all__ = ["CheckedQuery", "Params", "SqlGuard"]

logger = logging.getLogger("jivs_security.sql")

#: Bind parameter values: a mapping for named placeholders, a sequence for positional ones.
Params = Mapping[str, object] | Sequence[object]

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")

# Markers of MySQL and MariaDB executable comments. Only texts that contain
# one get the full-tree comment scan.
_EXECUTABLE_COMMENT_MARKERS = ("/*!", "/*M!")


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    """A query that passed the guard, rewritten for execution.

    ``sql`` is regenerated from the checked tree in the policy's dialect,
    without comments and with the row cap applied. Execute this text, never
    the input. Placeholders are regenerated in the dialect's style:
    PostgreSQL gets ``%s`` and ``%(name)s`` (psycopg's format) or keeps
    ``$1``; SQLite keeps ``?``, ``:name`` and ``@name``.

    ``tables`` are the policy keys of the tables read and ``columns`` the
    table columns read, as ``"table.column"`` with the table's policy key.
    ``functions`` are the functions called. ``row_limit`` is the most rows
    the outer query returns. ``params`` is a copy of the parameters passed
    to :meth:`SqlGuard.check`, checked against the placeholders: a dict,
    because sqlite3 accepts no other mapping, or a tuple, or ``None``.
    ``repr`` leaves them out because they may hold personal data.

    NOTE: psycopg reads ``%`` as the start of a placeholder whenever
    parameters are passed, so a PostgreSQL query must write a literal
    ``%`` as ``%%`` (``LIKE 'a%%'``) if it is to run through psycopg with
    parameters. The guard keeps string literals as they are.
    """

    sql: str
    dialect: str
    tables: frozenset[str]
    columns: frozenset[str]
    functions: frozenset[str]
    row_limit: int
    params: dict[str, object] | tuple[object, ...] | None = field(default=None, repr=False)


class SqlGuard:
    """A checker of SQL against a :class:`SqlPolicy` that returns safe, rewritten text.

    The guard parses with ``sqlglot.parse`` in the policy's dialect,
    requires exactly one read-only query, walks every node of its tree and
    raises :class:`~jivs_security.errors.SqlRejected` at the first
    violation. Every decision comes from the syntax tree, not from words
    found in the text, so a column named ``updated_at`` or ``"order"`` is
    fine.

    It cannot see the database: it trusts that the policy lists real
    columns of real tables, that unqualified names resolve to the tables
    the policy means (the server's search path), and that no function or
    operator was redefined. Run the queries as a database role that may
    only read, as a second line of defence.
    """

    def __init__(self, policy: SqlPolicy) -> None:
        if not isinstance(policy, SqlPolicy):
            raise TypeError(f"SqlGuard needs a SqlPolicy, not {type(policy).__name__}")
        self._policy = policy

    def __repr__(self) -> str:
        return f"SqlGuard({self._policy!r})"

    @property
    def policy(self) -> SqlPolicy:
        """The policy this guard enforces."""
        return self._policy

    def check(self, sql: str, params: Params | None = None) -> CheckedQuery:
        """Check ``sql`` and return it rewritten, or raise SqlRejected.

        ``params`` are the bind parameters the caller will pass with the
        query. When given, they must match the placeholders: a mapping with
        exactly the named placeholders' names, or a sequence with one value
        per positional placeholder (``$n`` counts up to the highest ``n``).
        """
        if not isinstance(sql, str):
            raise TypeError(f"sql must be a str, not {type(sql).__name__}")
        if params is not None and (
            isinstance(params, str | bytes) or not isinstance(params, Mapping | Sequence)
        ):
            raise TypeError(
                f"params must be a mapping, a list or a tuple, not {type(params).__name__}"
            )
        try:
            checked = self._check(sql, params)
        except SqlRejected as error:
            logger.info(
                "SQL rejected: code=%s dialect=%s node=%s",
                error.code,
                self._policy.dialect,
                error.node_text,
            )
            raise
        logger.debug(
            "SQL accepted: dialect=%s tables=%s row_limit=%s",
            checked.dialect,
            sorted(checked.tables),
            checked.row_limit,
        )
        return checked

    def _check(self, sql: str, params: Params | None) -> CheckedQuery:
        policy = self._policy
        if len(sql) > policy.max_length:
            reject(
                SqlViolation.TOO_LONG,
                f"The query is {len(sql)} characters long, more than "
                f"max_length={policy.max_length}. Shorten it or raise SqlPolicy.max_length.",
            )
        trees = self._parse(sql)
        if any(marker in sql for marker in _EXECUTABLE_COMMENT_MARKERS):
            _reject_executable_comments(trees)
        # sqlglot returns None for an empty statement (";;") and exp.Semicolon
        # for a comment after the last semicolon; neither runs anything.
        statements: list[exp.Expr] = []
        for tree in trees:
            if tree is not None and not isinstance(tree, exp.Semicolon):
                statements.append(tree)
        if not statements:
            reject(
                SqlViolation.EMPTY,
                "The text contains no SQL statement, only whitespace, comments or semicolons.",
            )
        if len(statements) > 1:
            reject(
                SqlViolation.MULTIPLE_STATEMENTS,
                f"The text contains {len(statements)} statements in the {policy.dialect} dialect, "
                "but the guard accepts exactly one. Send each query on its own.",
                statements[1],
                dialect=policy.dialect,
            )

        root = statements[0]
        # Parentheses around the whole query carry nothing to check.
        while isinstance(root, exp.Subquery) and set(_set_arguments(root)) == {"this"}:
            root = root.this
        if isinstance(root, exp.Command):
            reject(
                SqlViolation.UNPARSED_COMMAND,
                f"sqlglot could not parse this {policy.dialect} statement and kept it as raw "
                "text, so it cannot be checked. Write a query that sqlglot understands.",
                root,
                dialect=policy.dialect,
            )
        if not isinstance(root, exp.Query | exp.Values):
            # Statements such as DELETE, and also a bare word such as CHECKPOINT,
            # which sqlglot 30.31.0 parses as a column expression.
            reject(
                SqlViolation.STATEMENT_NOT_ALLOWED,
                f"{root.key.upper()} is not allowed: the guard accepts read-only queries only "
                "(SELECT, UNION, INTERSECT, EXCEPT, VALUES and WITH around them).",
                root,
                dialect=policy.dialect,
            )
        walk = QueryWalk(policy)
        walk.query(root, None, 1)
        frozen_params = _match_params(walk, params)
        row_limit = _apply_row_cap(root, policy)
        return CheckedQuery(
            sql=self._generate(root),
            dialect=policy.dialect,
            tables=frozenset(walk.tables),
            columns=frozenset(walk.columns),
            functions=frozenset(walk.functions),
            row_limit=row_limit,
            params=frozen_params,
        )

    def _parse(self, sql: str) -> list[exp.Expr | None]:
        dialect = self._policy.dialect
        try:
            # error_message_context=0 keeps the query text out of sqlglot's
            # messages and out of the warning it logs when it falls back to
            # exp.Command, because the text may hold personal data.
            return sqlglot.parse(
                sql, read=dialect, error_level=ErrorLevel.RAISE, error_message_context=0
            )
        except ParseError as error:
            details = error.errors[0] if error.errors else {}
            where = (
                f" at line {details.get('line')}, column {details.get('col')}" if details else ""
            )
            reject(
                SqlViolation.PARSE_ERROR,
                f"The query is not valid {dialect} SQL{where}: "
                f"{_safe_description(details.get('description'))}. Fix the syntax, and check "
                "that the policy names the server's dialect.",
            )
        except TokenError:
            reject(
                SqlViolation.PARSE_ERROR,
                f"The query is not valid {dialect} SQL: it cannot be split into tokens, for "
                "example because a string or a quoted name is not closed.",
            )
        except RecursionError:
            reject(
                SqlViolation.TOO_COMPLEX,
                "The query nests expressions too deeply to parse. Simplify it.",
            )
        except SQLGLOT_FAILURES as error:
            reject(
                SqlViolation.PARSE_ERROR,
                f"sqlglot failed on this {dialect} query ({type(error).__name__}). Fix or "
                "simplify the syntax.",
            )

    def _generate(self, root: exp.Expr) -> str:
        policy = self._policy
        try:
            # The tree was parsed for this call alone, so the generator need not copy it.
            return root.sql(
                dialect=policy.sqlglot_dialect,
                copy=False,
                comments=False,
                unsupported_level=ErrorLevel.RAISE,
            )
        except UnsupportedError as error:
            reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                f"sqlglot cannot write this query back as {policy.dialect} SQL without changing "
                f"it: {error}. Rewrite the query.",
            )
        except RecursionError:
            reject(
                SqlViolation.TOO_COMPLEX,
                "The query nests expressions too deeply to write back. Simplify it.",
            )


def _safe_description(description: object) -> str:
    """Return sqlglot's error description without the token text that some descriptions quote."""
    text = str(description or "invalid syntax")
    # "Expected table name but got <Token ... text: ...>" names the token,
    # which may be a literal value.
    for marker in (" but got ", "<Token"):
        text = text.split(marker, 1)[0]
    return _QUOTED.sub("'?'", text).strip() or "invalid syntax"


def _set_arguments(node: exp.Expr) -> list[str]:
    return [key for key, value in node.args.items() if value is not None and value != []]


def _reject_executable_comments(statements: list[exp.Expr | None]) -> None:
    for statement in statements:
        if statement is None:
            continue
        for node in statement.walk():
            for comment in node.comments or ():
                if is_executable_comment(comment):
                    reject(
                        SqlViolation.EXECUTABLE_COMMENT,
                        "Comments of the form /*! ... */ are executed by MySQL and MariaDB. "
                        "Remove the comment.",
                    )


def _match_params(
    walk: QueryWalk, params: Params | None
) -> dict[str, object] | tuple[object, ...] | None:
    """Check ``params`` against the query's placeholders and return a copy."""
    if params is None:
        return None
    named = walk.named_placeholders
    positional = walk.positional_placeholders
    numbered = walk.numbered_placeholders
    if isinstance(params, Mapping):
        if positional or numbered:
            _reject_params("The query has positional placeholders, so pass params as a sequence.")
        keys = set(params)
        missing = sorted(named - keys)
        extra = sorted(str(key) for key in keys - named)
        if missing or extra:
            _reject_params(
                f"params do not match the named placeholders: missing {missing}, "
                f"not in the query {extra}."
            )
        return dict(params)

    values = tuple(params)
    if named:
        _reject_params(
            f"The query has named placeholders {sorted(named)}, so pass params as a mapping."
        )
    if positional and numbered:
        _reject_params("The query mixes ? or %s placeholders with $n placeholders. Use one style.")
    expected = max(numbered) if numbered else positional
    if len(values) != expected:
        _reject_params(
            f"The query has {expected} positional placeholders but {len(values)} params were "
            "passed."
        )
    return values


def _reject_params(message: str) -> NoReturn:
    reject(SqlViolation.PARAMETER_MISMATCH, message)


def _apply_row_cap(root: exp.Expr, policy: SqlPolicy) -> int:
    """Add or lower the outer LIMIT to ``policy.max_rows`` and return the resulting cap."""
    max_rows = policy.max_rows
    if isinstance(root, exp.Values):
        rows = len(root.expressions)
        if rows > max_rows:
            reject(
                SqlViolation.UNSUPPORTED_LIMIT,
                f"The VALUES list has {rows} rows, more than max_rows={max_rows}.",
            )
        return rows

    limit = root.args.get("limit")
    if limit is None:
        root.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
        return max_rows
    options = limit.args.get("limit_options")
    if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
        reject(
            SqlViolation.UNSUPPORTED_LIMIT,
            "PERCENT and WITH TIES can return more rows than the count, so the row cap cannot "
            "be applied. Use a plain LIMIT.",
            limit,
            dialect=policy.dialect,
        )
    if isinstance(limit, exp.Fetch):
        count = limit.args.get("count")
        if count is None:
            return 1  # FETCH FIRST ROW ONLY
        return _cap(limit, "count", count, policy)
    if not isinstance(limit, exp.Limit) or limit.args.get("expressions"):
        reject(
            SqlViolation.UNSUPPORTED_LIMIT,
            "This form of LIMIT is not supported. Write LIMIT n with an integer n.",
            limit,
            dialect=policy.dialect,
        )
    return _cap(limit, "expression", limit.expression, policy)


def _cap(limit: exp.Expr, key: str, count: exp.Expr, policy: SqlPolicy) -> int:
    """Set ``limit.args[key]`` to at most ``policy.max_rows`` rows and return the row count."""
    max_rows = policy.max_rows
    if isinstance(count, exp.Literal) and not count.is_string and count.name.isdigit():
        rows = int(count.name)
        if rows <= max_rows:
            return rows
    elif not _means_no_limit(count):
        reject(
            SqlViolation.UNSUPPORTED_LIMIT,
            f"The outer LIMIT {masked_text(count, policy.dialect)} is not an integer literal, "
            "so the row cap cannot be checked. Write the row count as a number; a parameter "
            "may set OFFSET.",
            count,
            dialect=policy.dialect,
        )
    limit.set(key, exp.Literal.number(max_rows))
    return max_rows


def _means_no_limit(count: exp.Expr) -> bool:
    """Return whether a LIMIT count means no limit: ALL, NULL, or a negative number in SQLite."""
    if isinstance(count, exp.Null):
        return True
    if isinstance(count, exp.Var) and count.name.upper() == "ALL":
        return True
    return isinstance(count, exp.Neg) and isinstance(count.this, exp.Literal)
