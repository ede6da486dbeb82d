"""The SQL guard's walk over a parsed query: scopes, sources and a check of every node.

Queries (SELECT, set operations, VALUES) are walked recursively, one call
per nesting level, and :attr:`SqlPolicy.max_depth` bounds that recursion.
The expressions inside a query are walked with an explicit stack, because
sqlglot builds long operator chains (``a + b + c + ...``) as deep trees.

Each node class is sorted once into a :class:`_Kind`. Node classes that the
guard does not know are rejected, so syntax that a later sqlglot release
adds is refused until someone decides it is safe.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NoReturn, Protocol, TypeGuard

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from jivs_security.errors import SqlRejected
from jivs_security.sql._functions import SQLGLOT_FAILURES, SYNTAX_FUNCTIONS, function_name
from jivs_security.sql._policy import SqlPolicy, TableKey, TableRule
from jivs_security.sql._violations import SqlViolation

__all__ = ["QueryWalk", "masked_text", "reject"]

# Maximum length of the node text that an error carries, in characters.
_NODE_TEXT_LIMIT = 120


class _Kind(enum.Enum):
    """The walk's treatment of a node class."""

    DESCEND = enum.auto()  # Nothing to check; walk the children.
    LEAF = enum.auto()  # Nothing to check and no children worth walking.
    WORD = enum.auto()  # A bare word (exp.Var, exp.Identifier) outside a column or table.
    STRING = enum.auto()  # A string literal that sqlglot writes back between plain quotes.
    COLUMN = enum.auto()
    STAR = enum.auto()
    FUNCTION = enum.auto()
    QUERY = enum.auto()
    DOT = enum.auto()
    DATA_TYPE = enum.auto()
    PLACEHOLDER = enum.auto()
    PARAMETER = enum.auto()
    STATEMENT = enum.auto()
    COMMAND = enum.auto()
    INTO = enum.auto()
    LOCK = enum.auto()
    HINT = enum.auto()
    UNKNOWN = enum.auto()


def _classes(*names: str) -> tuple[type[exp.Expr], ...]:
    """Return the sqlglot expression classes of these names that this sqlglot version has."""
    found = (getattr(exp, name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type) and issubclass(cls, exp.Expr))


# Statements that change data or schema, manage sessions or read server
# metadata. Classes missing from the installed sqlglot are skipped; a class
# that is in no list is rejected as unknown syntax anyway.
_STATEMENTS = _classes(
    "DML", "DDL", "Insert", "Update", "Delete", "Merge", "Copy", "Create", "Drop", "Alter",
    "TruncateTable", "Set", "Use", "Transaction", "Commit", "Rollback", "Pragma", "Attach",
    "Detach", "Describe", "Show", "LoadData", "Analyze", "Grant", "Revoke", "Kill", "Cache",
    "Uncache", "Refresh", "Comment", "Declare", "Execute", "ExecuteSql", "Summarize", "Export",
    "Install", "Put", "Get", "Return", "StoredProcedure", "Undrop", "SwapTable", "AlterSession",
    "LockingStatement", "Semicolon", "Returning", "OnConflict",
)  # fmt: skip

# Clauses, operators and literals with nothing to check beyond their children.
_DESCEND = _classes(
    "Alias", "Where", "Having", "Qualify", "Group", "Order", "Ordered", "Limit", "Offset",
    "Fetch", "LimitOptions", "Distinct", "Window", "WindowSpec", "Filter", "WithinGroup",
    "IgnoreNulls", "RespectNulls", "Tuple", "Paren", "Interval", "AtTimeZone", "Cube", "Rollup",
    "GroupingSets", "Bracket", "Kwarg", "Binary", "Predicate", "Unary", "Connector",
)  # fmt: skip

_LEAVES = _classes(
    "Null", "Boolean", "National", "HexString", "BitString",
    "ByteString", "UnicodeString", "Introducer", "DataTypeParam", "JSONPath",
    "JSONPathPart",
)  # fmt: skip

# Places for a bare word, as (parent class, argument name). sqlglot
# writes a word back verbatim, so a word where the server expects a value
# would be read as a column that the walk never checked. sqlglot 30.31.0
# parses the third argument of PostgreSQL's DATE_BIN(stride, source, origin)
# into exp.DateBin's "unit" as a word, for example, and writes it back
# bare. These places were checked to come back as keywords or strings:
# EXTRACT(YEAR FROM x), INTERVAL '1' DAY, DATE_TRUNC('MONTH', x), MySQL's
# DATE_ADD(x, INTERVAL 1 DAY) and TIMESTAMPDIFF(MONTH, a, b), LIMIT ALL.
_WORD_PLACES = frozenset(
    {
        (exp.Extract, "this"),
        (exp.Interval, "unit"),
        (exp.TimestampTrunc, "unit"),
        (exp.DateTrunc, "unit"),
        (exp.DateAdd, "unit"),
        (exp.DateSub, "unit"),
        (exp.TimestampDiff, "unit"),
        (exp.Limit, "expression"),
        # Names: an output alias, a window name, a collation, a named argument.
        (exp.Alias, "alias"),
        (exp.Window, "alias"),
        (exp.Window, "this"),
        (exp.Collate, "expression"),
        (exp.Kwarg, "this"),
    }
)

# Binary and unary nodes that are not plain operators: OPERATOR(schema.op)
# calls an operator by qualified name, and := assigns a MySQL user variable.
_NOT_OPERATORS = _classes("Operator", "PropertyEQ")

# Dialects whose servers can be set to read a backslash in '...' as an
# escape, although sqlglot reads it as an ordinary character: PostgreSQL
# with standard_conforming_strings off (on by default since 9.1). sqlglot
# writes such a string back as '...' with the backslash, so on such a server
# the quote after the backslash no longer ends the string, and text that
# sqlglot read as a literal becomes SQL.
_BACKSLASH_SENSITIVE_DIALECTS = frozenset({"postgres"})

# Dialects where exp.Parameter is a bind parameter: $1 in PostgreSQL and
# @name in SQLite. Elsewhere it is a user or session variable.
_PARAMETER_DIALECTS = frozenset({"postgres", "sqlite"})

# Join shapes that the scope model handles. NATURAL, SEMI, ANTI, ASOF and
# the rest are rejected.
_JOIN_SIDES = frozenset({"", "LEFT", "RIGHT", "FULL"})
_JOIN_KINDS = frozenset({"", "INNER", "OUTER", "CROSS"})

# Arguments of each node that the walk reads itself. Any other argument
# that is set is syntax the guard does not check, so it is rejected.
_SELECT_CLAUSES = (
    "distinct", "expressions", "where", "group", "having", "qualify", "windows", "limit", "offset",
)  # fmt: skip
_SELECT_ARGUMENTS = frozenset({*_SELECT_CLAUSES, "with_", "from_", "joins", "order"})
_SET_OPERATION_CLAUSES = ("limit", "offset")
_SET_OPERATION_ARGUMENTS = frozenset(
    {*_SET_OPERATION_CLAUSES, "with_", "this", "expression", "order", "distinct"}
)
_TABLE_ARGUMENTS = frozenset({"this", "alias", "db", "catalog"})
_SUBQUERY_ARGUMENTS = frozenset({"this", "alias"})
_PARENTHESIZED_ARGUMENTS = frozenset({*_SET_OPERATION_CLAUSES, "this", "alias", "order"})
_JOIN_ARGUMENTS = frozenset({"this", "on", "using", "side", "kind"})
_CTE_ARGUMENTS = frozenset({"this", "alias", "materialized"})


def reject(
    code: SqlViolation, message: str, node: exp.Expr | None = None, *, dialect: str | None = None
) -> NoReturn:
    """Raise :class:`SqlRejected` with ``code``, ``message`` and the masked text of ``node``."""
    raise SqlRejected(message, code=code.value, node_text=masked_text(node, dialect))


def masked_text(node: exp.Expr | None, dialect: str | None = None) -> str | None:
    """Return ``node`` as SQL with every literal replaced by ``?``, shortened for an error."""
    if node is None:
        return None

    def mask(child: exp.Expr) -> exp.Expr:
        if isinstance(child, _LITERALS):
            return exp.var("?")
        return child

    try:
        text = (
            node.copy()
            .transform(mask, copy=False)
            .sql(dialect=dialect, comments=False, unsupported_level=ErrorLevel.IGNORE)
        )
    except _GENERATION_FAILURES:
        text = type(node).__name__
    if len(text) > _NODE_TEXT_LIMIT:
        text = text[: _NODE_TEXT_LIMIT - 3] + "..."
    return text


_GENERATION_FAILURES: tuple[type[Exception], ...] = (*SQLGLOT_FAILURES, RecursionError)

_LITERALS = _classes(
    "Literal", "National", "HexString", "BitString", "ByteString", "RawString", "UnicodeString"
)


@dataclass(slots=True)
class _Source:
    """A table, CTE or derived table in a FROM clause, under the name queries use for it.

    ``columns`` are the allowed columns of a table, or the output column
    names of a CTE or derived table. ``rule`` is set for tables only.
    """

    name: str | None
    columns: frozenset[str]
    rule: TableRule | None = None
    key: TableKey | None = None
    aliased: bool = False


@dataclass(slots=True)
class _Scope:
    """The sources and CTEs visible at one query level, linked to the enclosing level."""

    parent: _Scope | None
    sources: list[_Source] = field(default_factory=list)
    ctes: dict[str, frozenset[str]] = field(default_factory=dict)

    def find_cte(self, name: str) -> frozenset[str] | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.ctes:
                return scope.ctes[name]
            scope = scope.parent
        return None


class QueryWalk:
    """One check of one parsed statement: what it reads, and a rejection at the first violation."""

    def __init__(self, policy: SqlPolicy) -> None:
        self._policy = policy
        self._functions = policy.function_allowlist
        self._normalize = policy.normalize
        self._parameters_allowed = policy.dialect in _PARAMETER_DIALECTS
        self._backslash_sensitive = policy.dialect in _BACKSLASH_SENSITIVE_DIALECTS
        self._joins = 0
        self._set_operations = 0
        self.tables: set[str] = set()
        self.columns: set[str] = set()
        self.functions: set[str] = set()
        self.named_placeholders: set[str] = set()
        self.positional_placeholders = 0
        self.numbered_placeholders: set[int] = set()

    # Queries.

    def query(self, node: exp.Expr, parent: _Scope | None, depth: int) -> list[str | None]:
        """Check a query at nesting level ``depth`` and return its output column names."""
        if depth > self._policy.max_depth:
            self._reject(
                SqlViolation.TOO_DEEP,
                f"Queries nest {depth} levels deep, more than max_depth={self._policy.max_depth}. "
                "Flatten the subqueries or CTEs, or raise SqlPolicy.max_depth.",
                node,
            )
        if isinstance(node, exp.Select):
            return self._select(node, parent, depth)
        if isinstance(node, exp.SetOperation):
            return self._set_operation(node, parent, depth)
        if isinstance(node, exp.Subquery):
            return self._parenthesized(node, parent, depth)
        if isinstance(node, exp.Values):
            return self._values(node, parent, depth)
        return self._reject_node(node)

    def _select(self, node: exp.Select, parent: _Scope | None, depth: int) -> list[str | None]:
        args = node.args
        self._check_arguments(node, _SELECT_ARGUMENTS, "SELECT")

        outer = self._with(args.get("with_"), parent, depth)
        scope = _Scope(parent=outer)
        from_clause = args.get("from_")
        if from_clause is not None:
            self._check_arguments(from_clause, frozenset({"this"}), "FROM")
            self._add_source(from_clause.this, scope, outer, depth)
        conditions: list[exp.Expr] = []
        for join in args.get("joins") or ():
            conditions.extend(self._join(join, scope, outer, depth))

        for condition in conditions:
            self.expression(condition, scope, depth)
        for key in _SELECT_CLAUSES:
            self._clause(args.get(key), scope, depth)

        outputs = [_output_name(projection, self._normalize) for projection in node.expressions]
        order = args.get("order")
        if order is not None:
            aliases = frozenset(
                name
                for projection, name in zip(node.expressions, outputs, strict=True)
                if isinstance(projection, exp.Alias) and name is not None
            )
            self._order_by(order, scope, depth, aliases)
        return outputs

    def _set_operation(
        self, node: exp.SetOperation, parent: _Scope | None, depth: int
    ) -> list[str | None]:
        self._set_operations += 1
        if self._set_operations > self._policy.max_set_operations:
            self._reject(
                SqlViolation.TOO_MANY_SET_OPERATIONS,
                f"The query has more than max_set_operations={self._policy.max_set_operations} "
                "UNION, INTERSECT and EXCEPT operations. Combine fewer queries, or raise "
                "SqlPolicy.max_set_operations.",
                node,
            )
        self._check_arguments(node, _SET_OPERATION_ARGUMENTS, "set operation")
        outer = self._with(node.args.get("with_"), parent, depth)
        outputs = self.query(node.this, outer, depth)
        self.query(node.expression, outer, depth)

        scope = _Scope(parent=outer)
        for key in _SET_OPERATION_CLAUSES:
            self._clause(node.args.get(key), scope, depth)
        order = node.args.get("order")
        if order is not None:
            self._output_order_by(order, outputs)
        return outputs

    def _parenthesized(
        self, node: exp.Subquery, parent: _Scope | None, depth: int
    ) -> list[str | None]:
        """Check ``(query)`` in the place of a query, such as one side of a UNION."""
        self._check_arguments(node, _PARENTHESIZED_ARGUMENTS, "parenthesized query")
        if node.args.get("alias") is not None:
            self._reject_node(node)
        outputs = self.query(node.this, parent, depth)
        scope = _Scope(parent=parent)
        for key in _SET_OPERATION_CLAUSES:
            self._clause(node.args.get(key), scope, depth)
        order = node.args.get("order")
        if order is not None:
            self._output_order_by(order, outputs)
        return outputs

    def _values(self, node: exp.Values, parent: _Scope | None, depth: int) -> list[str | None]:
        self._check_arguments(node, frozenset({"expressions", "alias"}), "VALUES")
        scope = _Scope(parent=parent)
        width = 0
        for row in node.expressions:
            self.expression(row, scope, depth)
            width = max(width, len(row.expressions) if isinstance(row, exp.Tuple) else 1)
        alias = node.args.get("alias")
        names: list[str | None] = [f"column{index + 1}" for index in range(width)]
        if isinstance(alias, exp.TableAlias) and alias.columns:
            names = [self._identifier(column) for column in alias.columns]
        return names

    def _with(
        self, with_clause: exp.With | None, parent: _Scope | None, depth: int
    ) -> _Scope | None:
        """Check the CTEs of a WITH clause and return the scope in which they are visible."""
        if with_clause is None:
            return parent
        if with_clause.args.get("recursive"):
            self._reject(
                SqlViolation.RECURSIVE_CTE,
                "WITH RECURSIVE is not allowed: the row cap does not bound how long recursion "
                "runs. Rewrite the query without recursion.",
                with_clause,
            )
        self._check_arguments(with_clause, frozenset({"expressions"}), "WITH")
        scope = _Scope(parent=parent)
        for cte in with_clause.expressions:
            self._check_arguments(cte, _CTE_ARGUMENTS, "CTE")
            alias = cte.args.get("alias")
            if not isinstance(alias, exp.TableAlias) or not isinstance(alias.this, exp.Identifier):
                self._reject_node(cte)
            name = self._identifier(alias.this)
            if self._policy.is_table_name(name):
                self._reject(
                    SqlViolation.CTE_SHADOWS_TABLE,
                    f"The CTE {alias.this.name!r} has the name of an allowed table. Rename the "
                    "CTE, so that every reference to the table means the table.",
                    alias,
                )
            outputs = self.query(cte.this, scope, depth + 1)
            if alias.columns:
                outputs = [self._identifier(column) for column in alias.columns]
            # Each CTE is visible to the CTEs after it and to the main query.
            scope.ctes[name] = frozenset(output for output in outputs if output is not None)
        return scope

    # FROM and JOIN.

    def _add_source(self, node: exp.Expr, scope: _Scope, outer: _Scope | None, depth: int) -> None:
        """Check one FROM or JOIN item and add it to ``scope``.

        A derived table can read the scopes around the query (``outer``) but not
        the other items of its own FROM clause, as in SQL without LATERAL.
        """
        if isinstance(node, exp.Table):
            scope.sources.append(self._table(node, scope))
        elif isinstance(node, exp.Subquery):
            self._check_arguments(node, _SUBQUERY_ARGUMENTS, "derived table")
            outputs = self.query(node.this, outer, depth + 1)
            scope.sources.append(self._derived(node.args.get("alias"), outputs))
        elif isinstance(node, exp.Values):
            outputs = self._values(node, outer, depth + 1)
            scope.sources.append(self._derived(node.args.get("alias"), outputs))
        else:
            self._reject_node(node)

    def _table(self, node: exp.Table, scope: _Scope) -> _Source:
        self._check_arguments(node, _TABLE_ARGUMENTS, "table reference")
        name_node = node.this
        if not isinstance(name_node, exp.Identifier):
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                "Table functions are not allowed in FROM: the guard cannot check the rows they "
                "return. Query an allowed table instead.",
                node,
            )
        parts = [node.args.get("catalog"), node.args.get("db")]
        catalog, schema = (self._identifier(part) if part is not None else "" for part in parts)
        name = self._identifier(name_node)
        alias = node.args.get("alias")
        if alias is not None and alias.columns:
            self._reject(
                SqlViolation.COLUMN_NOT_ALLOWED,
                "Column aliases on a table rename its columns by position, so the guard cannot "
                "tell which column each alias reads. Alias the columns in the SELECT list.",
                alias,
            )
        visible_name = self._identifier(alias.this) if alias is not None else name

        if not catalog and not schema:
            cte_columns = scope.find_cte(name)
            if cte_columns is not None:
                return _Source(name=visible_name, columns=cte_columns, aliased=alias is not None)

        key = (catalog, schema, name)
        rule = self._policy.table_rule(key)
        if rule is None:
            if self._policy.is_system_table(key):
                self._reject(
                    SqlViolation.SYSTEM_TABLE,
                    f"System catalog {node.sql(self._policy.dialect)} is not allowed. Only the "
                    "tables in SqlPolicy.tables may be queried.",
                    node,
                )
            self._reject(
                SqlViolation.TABLE_NOT_ALLOWED,
                f"Table {exp.table_name(node)} is not in the policy. Query one of "
                f"{sorted(self._policy.tables)}, or add the table to SqlPolicy.tables "
                "exactly as the query names it.",
                node,
            )
        self.tables.add(rule.display)
        return _Source(
            name=visible_name, columns=rule.columns, rule=rule, key=key, aliased=alias is not None
        )

    def _derived(self, alias: exp.Expr | None, outputs: list[str | None]) -> _Source:
        if not isinstance(alias, exp.TableAlias):
            return _Source(name=None, columns=frozenset(o for o in outputs if o is not None))
        if alias.columns:
            outputs = [self._identifier(column) for column in alias.columns]
        name = self._identifier(alias.this) if isinstance(alias.this, exp.Identifier) else None
        return _Source(name=name, columns=frozenset(o for o in outputs if o is not None))

    def _join(
        self, join: exp.Join, scope: _Scope, outer: _Scope | None, depth: int
    ) -> list[exp.Expr]:
        """Check a JOIN, add its source to ``scope`` and return its ON condition, if any."""
        self._joins += 1
        if self._joins > self._policy.max_joins:
            self._reject(
                SqlViolation.TOO_MANY_JOINS,
                f"The query has more than max_joins={self._policy.max_joins} joins. Join fewer "
                "tables, or raise SqlPolicy.max_joins.",
                join,
            )
        method = join.args.get("method")
        if method:
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                f"{str(method).upper()} JOIN is not allowed: it joins on every column name the "
                "tables share, including columns the policy leaves out. Use JOIN ... ON.",
                join,
            )
        side = str(join.args.get("side") or "").upper()
        kind = str(join.args.get("kind") or "").upper()
        if side not in _JOIN_SIDES or kind not in _JOIN_KINDS:
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                f"{side} {kind} JOIN is not allowed. Use [LEFT | RIGHT | FULL] [OUTER] JOIN, "
                "INNER JOIN or CROSS JOIN.",
                join,
            )
        self._check_arguments(join, _JOIN_ARGUMENTS, "JOIN")
        earlier = list(scope.sources)
        self._add_source(join.this, scope, outer, depth)
        using = join.args.get("using")
        if using:
            self._using(using, earlier, scope.sources[-1], join)
        condition = join.args.get("on")
        return [condition] if condition is not None else []

    def _using(
        self, columns: Iterable[exp.Expr], earlier: list[_Source], joined: _Source, join: exp.Join
    ) -> None:
        """Check JOIN ... USING columns, which name a column on both sides of the join."""
        for column in columns:
            identifier = column.this if isinstance(column, exp.Column) else column
            if not isinstance(identifier, exp.Identifier):
                self._reject_node(join)
            name = self._identifier(identifier)
            if name not in joined.columns or not any(name in s.columns for s in earlier):
                self._reject(
                    SqlViolation.COLUMN_NOT_ALLOWED,
                    f"USING ({identifier.name}) needs the column allowed in the joined table "
                    "and in an earlier table of the FROM clause.",
                    join,
                )
            self._record_column(joined, name)

    # ORDER BY.

    def _order_by(
        self, order: exp.Expr, scope: _Scope, depth: int, aliases: frozenset[str]
    ) -> None:
        """Check a SELECT's ORDER BY, where a bare name may be one of the SELECT's aliases.

        PostgreSQL, SQLite and MySQL resolve a bare ORDER BY name to an
        output column before an input column, so such a name reads only
        what the SELECT list already returns.
        """
        self._check_arguments(order, frozenset({"expressions"}), "ORDER BY")
        for ordered in order.expressions:
            target = ordered.this if isinstance(ordered, exp.Ordered) else None
            if _is_bare_column(target) and self._identifier(target.this) in aliases:
                rest = [value for key, value in ordered.args.items() if key != "this"]
                for value in rest:
                    if isinstance(value, exp.Expr):
                        self.expression(value, scope, depth)
                continue
            self.expression(ordered, scope, depth)

    def _output_order_by(self, order: exp.Expr, outputs: list[str | None]) -> None:
        """Check ORDER BY on a set operation, which may name output columns or positions only."""
        self._check_arguments(order, frozenset({"expressions"}), "ORDER BY")
        names = frozenset(name for name in outputs if name is not None)
        for ordered in order.expressions:
            target = ordered.this if isinstance(ordered, exp.Ordered) else ordered
            if isinstance(target, exp.Literal) and not target.is_string:
                continue
            if _is_bare_column(target) and self._identifier(target.this) in names:
                continue
            self._reject(
                SqlViolation.COLUMN_NOT_ALLOWED,
                "ORDER BY after UNION, INTERSECT or EXCEPT may name only output columns of the "
                "first query, or their positions.",
                ordered,
            )

    # Expressions.

    def _clause(self, value: object, scope: _Scope, depth: int) -> None:
        """Check a clause argument: one expression, a list of them, or nothing."""
        if isinstance(value, list):
            for item in value:
                self.expression(item, scope, depth)
        elif isinstance(value, exp.Expr):
            self.expression(value, scope, depth)

    def expression(self, root: exp.Expr, scope: _Scope, depth: int) -> None:
        """Check every node of an expression; nested queries are checked at ``depth + 1``."""
        stack: list[exp.Expr] = [root]
        kinds = _KINDS
        while stack:
            node = stack.pop()
            kind = kinds.get(type(node)) or _classify(type(node))
            if kind is _Kind.DESCEND:
                stack.extend(node.iter_expressions())
            elif kind is _Kind.LEAF:
                continue
            elif kind is _Kind.COLUMN:
                self._column(node, scope)
            elif kind is _Kind.FUNCTION:
                self._function(node)
                stack.extend(node.iter_expressions())
            elif kind is _Kind.QUERY:
                self.query(node.this if isinstance(node, exp.Subquery) else node, scope, depth + 1)
            else:
                stack.extend(self._other(node, kind))

    def _other(self, node: exp.Expr, kind: _Kind) -> Iterable[exp.Expr]:
        """Check a node of one of the rarer kinds and return the children still to walk."""
        if kind is _Kind.STRING:
            self._string(node)
        elif kind is _Kind.WORD:
            self._word(node)
        elif kind is _Kind.STAR:
            self._star(node)
        elif kind is _Kind.DOT:
            return (self._dot(node),)
        elif kind is _Kind.DATA_TYPE:
            self._data_type(node)
            return node.iter_expressions()
        elif kind is _Kind.PLACEHOLDER:
            self._placeholder(node)
        elif kind is _Kind.PARAMETER:
            self._parameter(node)
        else:
            self._reject_node(node)
        return ()

    def _column(self, node: exp.Expr, scope: _Scope) -> None:
        identifier = node.this
        if isinstance(identifier, exp.Star):
            self._reject(
                SqlViolation.STAR_NOT_ALLOWED,
                f"{node.sql(self._policy.dialect)} is not allowed: it reads every column, "
                "including columns the policy leaves out. List the columns.",
                node,
            )
        if not isinstance(identifier, exp.Identifier):
            self._reject_node(node)
        name = self._identifier(identifier)
        table = node.args.get("table")
        if table is None:
            source = self._resolve_unqualified(name, scope)
        else:
            source = self._resolve_qualified(node, scope)
            if source is not None and name not in source.columns:
                source = None
        if source is None:
            self._reject_column(node, name, scope)
        self._record_column(source, name)

    def _resolve_unqualified(self, name: str, scope: _Scope) -> _Source | None:
        """Find the source of an unqualified column, or ``None`` if the guard cannot tell.

        SQL looks in the innermost query level first. Tables may have
        columns that the policy does not list, so when a level has a table
        that does not list the name, the column may be that table's: the
        search stops there. A level of CTEs and derived tables only has the
        columns the guard saw, so the search goes on outwards.
        """
        current: _Scope | None = scope
        while current is not None:
            if current.sources:
                for source in current.sources:
                    if name in source.columns:
                        return source
                if any(source.rule is not None for source in current.sources):
                    return None
            current = current.parent
        return None

    def _resolve_qualified(self, node: exp.Expr, scope: _Scope) -> _Source | None:
        table = self._identifier(node.args["table"])
        schema_node = node.args.get("db")
        catalog_node = node.args.get("catalog")
        schema = self._identifier(schema_node) if schema_node is not None else None
        catalog = self._identifier(catalog_node) if catalog_node is not None else ""
        current: _Scope | None = scope
        while current is not None:
            for source in current.sources:
                if source.name != table:
                    continue
                if schema is None:
                    return source
                # schema.table.column names the table as written in FROM, without alias.
                if source.key == (catalog, schema, table) and not source.aliased:
                    return source
            current = current.parent
        return None

    def _reject_column(self, node: exp.Expr, name: str, scope: _Scope) -> NoReturn:
        if node.args.get("table") is None and _names_source(name, scope):
            self._reject(
                SqlViolation.WHOLE_ROW_REFERENCE,
                f"{node.sql(self._policy.dialect)} names a table or alias as a value, which "
                "reads the whole row with every column. Name the allowed columns instead.",
                node,
            )
        self._reject(
            SqlViolation.COLUMN_NOT_ALLOWED,
            f"Column {node.sql(self._policy.dialect)} is not allowed: no table in its scope "
            "lists it in SqlPolicy.tables. Qualify it with its table or alias, remove it, or "
            "add it to the policy.",
            node,
        )

    def _record_column(self, source: _Source, name: str) -> None:
        if source.rule is not None:
            self.columns.add(f"{source.rule.display}.{name}")

    def _function(self, node: exp.Expr) -> None:
        node_type = type(node)
        if node_type in SYNTAX_FUNCTIONS:
            return
        if node_type is exp.If and isinstance(node.parent, exp.Case):
            return  # A WHEN branch of CASE.
        if not isinstance(node, exp.Func):
            self._reject_node(node)
        name = function_name(node)
        if isinstance(node, exp.Anonymous) and isinstance(node.this, exp.Identifier):
            # A quoted name such as "COUNT"(x) is case-sensitive in the
            # server and may name a function other than the allowed one.
            self._reject(
                SqlViolation.FUNCTION_NOT_ALLOWED,
                f"Function names in quotes are not allowed: {name}. Write the name unquoted.",
                node,
            )
        if not self._functions.allows(node):
            self._reject(
                SqlViolation.FUNCTION_NOT_ALLOWED,
                f"Function {name} is not allowed. Remove it, or add it to "
                "SqlPolicy.functions if it is safe for these queries.",
                node,
            )
        self.functions.add(name)

    def _star(self, node: exp.Expr) -> None:
        counted = isinstance(node.parent, exp.Count) and node.arg_key == "this"
        if counted and not any(node.args.values()):
            return  # COUNT(*) counts rows and reads no column.
        self._reject(
            SqlViolation.STAR_NOT_ALLOWED,
            "* is not allowed outside COUNT(*): it reads every column, including columns the "
            "policy leaves out. List the columns.",
            node,
        )

    def _dot(self, node: exp.Expr) -> exp.Expr:
        """Check ``a.b`` that is not a plain column reference and return the part to walk."""
        if isinstance(node.expression, exp.Func):
            self._reject(
                SqlViolation.FUNCTION_NOT_ALLOWED,
                f"Schema-qualified function calls are not allowed: {node.sql(self._policy.dialect)}"
                ". A schema can hold a function of the same name as an allowed one. Call it "
                "without the schema.",
                node,
            )
        target = node.this
        if not isinstance(node.expression, exp.Identifier) or not isinstance(target, exp.Expr):
            self._reject_node(node)
        # (composite).field reads a field of a value that the walk checks.
        return target

    def _string(self, node: exp.Expr) -> None:
        is_string = isinstance(node, exp.RawString) or node.args.get("is_string")
        if is_string and self._backslash_sensitive and "\\" in node.name:
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                "String literals with a backslash are not accepted in PostgreSQL: a server "
                "with standard_conforming_strings off reads the backslash as an escape. Pass "
                "the value as a parameter, or use LIKE ... ESCAPE '!' for patterns.",
                node,
            )

    def _word(self, node: exp.Expr) -> None:
        parent = node.parent
        if (type(parent), node.arg_key) not in _WORD_PLACES:
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                f"The bare word {node.name} in {type(parent).__name__} is not supported: "
                "sqlglot may write it back where the server reads a column. Use a column "
                "reference or a literal.",
                parent,
            )

    def _data_type(self, node: exp.Expr) -> None:
        if node.this == exp.DataType.Type.USERDEFINED or not isinstance(
            node.this, exp.DataType.Type
        ):
            # PostgreSQL's object identifier types (regclass, regproc) look
            # up catalog entries, and user-defined types run input functions.
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                f"Casts to the type {node.sql(self._policy.dialect)} are not allowed: it is an "
                "object identifier or user-defined type. Cast to a built-in type.",
                node,
            )

    def _placeholder(self, node: exp.Expr) -> None:
        name = node.this
        if isinstance(name, exp.Identifier):
            self.named_placeholders.add(name.name)
        elif isinstance(name, str) and name:
            self.named_placeholders.add(name)
        else:
            self.positional_placeholders += 1

    def _parameter(self, node: exp.Expr) -> None:
        value = node.this
        if self._parameters_allowed:
            if isinstance(value, exp.Literal) and not value.is_string and value.name.isdigit():
                self.numbered_placeholders.add(int(value.name))
                return
            if isinstance(value, exp.Var | exp.Identifier) and self._policy.dialect == "sqlite":
                self.named_placeholders.add(value.name)
                return
        self._reject(
            SqlViolation.SYNTAX_NOT_ALLOWED,
            f"{node.sql(self._policy.dialect)} is a user or session variable, not a bind "
            "parameter. Pass the value as a parameter.",
            node,
        )

    # Helpers.

    def _reject(self, code: SqlViolation, message: str, node: exp.Expr | None = None) -> NoReturn:
        reject(code, message, node, dialect=self._policy.dialect)

    def _identifier(self, node: exp.Expr) -> str:
        if not isinstance(node, exp.Identifier):
            self._reject_node(node)
        return self._normalize(node.name, quoted=bool(node.args.get("quoted")))

    def _check_arguments(self, node: exp.Expr, handled: frozenset[str], clause: str) -> None:
        """Reject ``node`` if it has an argument set that the walk does not check."""
        for key, value in node.args.items():
            if key in handled or value is None or value is False or value == []:
                continue
            if key == "into":
                self._reject(
                    SqlViolation.SELECT_INTO,
                    "SELECT ... INTO is not allowed: it writes the result into a table or "
                    "variables. Remove the INTO clause.",
                    value if isinstance(value, exp.Expr) else node,
                )
            if key == "locks":
                self._reject(
                    SqlViolation.LOCKING_CLAUSE,
                    "Locking clauses (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) are not "
                    "allowed in read-only queries. Remove the clause.",
                    node,
                )
            if key == "hint":
                self._reject(
                    SqlViolation.OPTIMIZER_HINT,
                    "Optimizer hints (/*+ ... */) are not allowed: some set server variables. "
                    "Remove the hint.",
                    value if isinstance(value, exp.Expr) else node,
                )
            self._reject(
                SqlViolation.SYNTAX_NOT_ALLOWED,
                f"The {clause} clause {key.rstrip('_').upper()} is not supported by the guard. "
                "Rewrite the query without it.",
                value if isinstance(value, exp.Expr) else node,
            )

    def _reject_node(self, node: exp.Expr) -> NoReturn:
        kind = _KINDS.get(type(node)) or _classify(type(node))
        if kind is _Kind.STATEMENT:
            self._reject(
                SqlViolation.STATEMENT_NOT_ALLOWED,
                f"{node.key.upper()} is not allowed: the guard accepts read-only queries only "
                "(SELECT, UNION, INTERSECT, EXCEPT, VALUES and WITH around them).",
                node,
            )
        if kind is _Kind.COMMAND:
            self._reject(
                SqlViolation.UNPARSED_COMMAND,
                f"sqlglot could not parse this {self._policy.dialect} statement and kept it as "
                "raw text, so it cannot be checked. Write a query that sqlglot understands.",
                node,
            )
        if kind is _Kind.INTO:
            self._reject(
                SqlViolation.SELECT_INTO,
                "SELECT ... INTO is not allowed: it writes the result into a table or variables.",
                node,
            )
        if kind is _Kind.LOCK:
            self._reject(
                SqlViolation.LOCKING_CLAUSE,
                "Locking clauses (FOR UPDATE, FOR SHARE) are not allowed in read-only queries.",
                node,
            )
        if kind is _Kind.HINT:
            self._reject(SqlViolation.OPTIMIZER_HINT, "Optimizer hints are not allowed.", node)
        self._reject(
            SqlViolation.SYNTAX_NOT_ALLOWED,
            f"{type(node).__name__} syntax is not supported by the guard. Rewrite the query "
            "with plain SELECT clauses, joins and allowed functions.",
            node,
        )


def is_executable_comment(comment: str) -> bool:
    """Return whether ``comment`` (without its delimiters) is a MySQL or MariaDB executable comment.

    sqlglot keeps the text after ``/*``, so ``/*!50001 ...*/`` arrives as
    ``!50001 ...`` and MariaDB's ``/*M!...*/`` as ``M!...``. A line comment
    that starts with ``!`` is rejected too, since the stored text does not
    say which kind it was.
    """
    return comment.startswith(("!", "M!"))


def _is_bare_column(node: exp.Expr | None) -> TypeGuard[exp.Column]:
    return (
        isinstance(node, exp.Column)
        and node.args.get("table") is None
        and isinstance(node.this, exp.Identifier)
    )


def _names_source(name: str, scope: _Scope) -> bool:
    current: _Scope | None = scope
    while current is not None:
        if any(source.name == name for source in current.sources):
            return True
        current = current.parent
    return False


def _output_name(projection: exp.Expr, normalize: _Normalize) -> str | None:
    """Return the normalised name of a SELECT list item, or ``None`` if the server invents one."""
    if isinstance(projection, exp.Alias):
        alias = projection.args.get("alias")
    elif isinstance(projection, exp.Column):
        alias = projection.this
    else:
        return None
    if not isinstance(alias, exp.Identifier):
        return None
    return normalize(alias.name, quoted=bool(alias.args.get("quoted")))


class _Normalize(Protocol):
    """The signature of :meth:`SqlPolicy.normalize`."""

    def __call__(self, name: str, *, quoted: bool) -> str: ...


_KINDS: dict[type[exp.Expr], _Kind] = {}


def _classify(node_type: type[exp.Expr]) -> _Kind:
    """Sort a node class into its kind, once, and cache the result."""
    kind = next(
        (kind for classes, kind in _KIND_ORDER if issubclass(node_type, classes)), _Kind.UNKNOWN
    )
    _KINDS[node_type] = kind
    return kind


# The first entry whose classes match decides a node's kind, so the order
# matters: exp.Dot is a Binary node, exp.Exists a function and a predicate.
_KIND_ORDER: tuple[tuple[type[exp.Expr] | tuple[type[exp.Expr], ...], _Kind], ...] = (
    (exp.Column, _Kind.COLUMN),
    (exp.Star, _Kind.STAR),
    (exp.Command, _Kind.COMMAND),
    (exp.Into, _Kind.INTO),
    (exp.Lock, _Kind.LOCK),
    (exp.Hint, _Kind.HINT),
    (_STATEMENTS, _Kind.STATEMENT),
    ((exp.Query, exp.Values), _Kind.QUERY),
    (exp.Func, _Kind.FUNCTION),
    (exp.Dot, _Kind.DOT),
    (exp.DataType, _Kind.DATA_TYPE),
    (exp.Placeholder, _Kind.PLACEHOLDER),
    (exp.Parameter, _Kind.PARAMETER),
    (_NOT_OPERATORS, _Kind.UNKNOWN),
    ((exp.Var, exp.Identifier), _Kind.WORD),
    ((exp.Literal, exp.RawString), _Kind.STRING),
    (_LEAVES, _Kind.LEAF),
    (_DESCEND, _Kind.DESCEND),
)
