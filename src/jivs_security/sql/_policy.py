"""The policy a SQL guard enforces: dialect, allowed tables and columns, functions and limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

from jivs_security.errors import ConfigurationError
from jivs_security.sql._functions import (
    FunctionAllowlist,
    compile_functions,
    default_functions,
)

__all__ = ["SqlPolicy", "TableKey", "TableRule"]

# (catalog, schema, table), each normalised the way the dialect resolves
# identifiers; "" where the reference leaves the part out.
TableKey = tuple[str, str, str]

_Normalizer = Callable[[str], str]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Strategies whose rule depends only on the identifier and its quoting. BigQuery's
# CASE_INSENSITIVE_EXCEPT_TABLES depends on where the identifier sits, so it is
# not supported.
_SUPPORTED_STRATEGIES = frozenset(
    {
        NormalizationStrategy.LOWERCASE,
        NormalizationStrategy.UPPERCASE,
        NormalizationStrategy.CASE_SENSITIVE,
        NormalizationStrategy.CASE_INSENSITIVE,
        NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE,
    }
)

# Schemas that hold system catalogs, and prefixes of system table names, by
# dialect. PostgreSQL searches pg_catalog before the search_path, so an
# unqualified pg_* name reaches the catalog. SQLite's pragma_* tables are
# eponymous virtual tables that read database metadata.
_SYSTEM_SCHEMAS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"pg_catalog", "information_schema"}),
    "mysql": frozenset({"information_schema", "mysql", "performance_schema", "sys"}),
}
_SYSTEM_TABLE_PREFIXES: dict[str, tuple[str, ...]] = {
    "postgres": ("pg_",),
    "sqlite": ("sqlite_", "pragma_"),
}
_DEFAULT_SYSTEM_SCHEMAS = frozenset({"information_schema"})

_IDENTIFIER_QUOTES = {'"': '"', "`": "`", "[": "]"}


@dataclass(frozen=True, slots=True)
class TableRule:
    """One allowed table: its name as the policy wrote it and its normalised column names."""

    display: str
    columns: frozenset[str]


class SqlPolicy:
    """The rules a :class:`~jivs_security.sql.SqlGuard` enforces.

    ``tables`` maps each allowed table to its allowed columns. A key is
    written as in the dialect: ``"orders"``, ``"sales.orders"`` for a
    schema-qualified table, ``'"Order Items"'`` for a quoted name. A query
    must name a table the way its key does, because an unqualified name and
    a qualified one can resolve to different tables: list both if both are
    used. Column names are identifiers in the dialect too, so ``'"user"'``
    is the column ``user`` and an unquoted ``"Total"`` folds to ``total`` in
    PostgreSQL. Every column listed must exist in its table, because an
    unqualified column that one allowed table lists is accepted in a join.

    ``dialect`` is the sqlglot dialect of the database that runs the
    queries (``"postgres"``, ``"sqlite"``, ``"mysql"``, ...). The guard
    parses and regenerates in exactly this dialect.

    ``functions`` lists the allowed functions by the names written in the
    dialect. ``None`` takes :func:`~jivs_security.sql.default_functions`
    for PostgreSQL, SQLite and MySQL; other dialects must pass a list.

    ``max_rows`` caps the rows of the outer query (a LIMIT is added or
    lowered). ``max_depth`` is how deep queries may nest: 1 allows no
    subquery or CTE. ``max_joins`` and ``max_set_operations`` count over the
    whole statement. ``max_length`` is the longest accepted input in
    characters, so parse time stays bounded.
    """

    __slots__ = (
        "_dialect",
        "_functions",
        "_normalize_quoted",
        "_normalize_unquoted",
        "_system_prefixes",
        "_system_schemas",
        "_table_names",
        "_tables",
        "dialect",
        "max_depth",
        "max_joins",
        "max_length",
        "max_rows",
        "max_set_operations",
        "tables",
    )

    dialect: str
    tables: Mapping[str, frozenset[str]]
    max_rows: int
    max_depth: int
    max_joins: int
    max_set_operations: int
    max_length: int
    _dialect: Dialect
    _normalize_unquoted: _Normalizer
    _normalize_quoted: _Normalizer
    _functions: FunctionAllowlist
    _tables: dict[TableKey, TableRule]
    _table_names: frozenset[str]
    _system_schemas: frozenset[str]
    _system_prefixes: tuple[str, ...]

    def __init__(
        self,
        tables: Mapping[str, Iterable[str]],
        *,
        dialect: str,
        functions: Iterable[str] | None = None,
        max_rows: int = 1000,
        max_depth: int = 4,
        max_joins: int = 8,
        max_set_operations: int = 4,
        max_length: int = 20_000,
    ) -> None:
        # The policy is immutable once built, so attributes are set through object.
        set_attribute = object.__setattr__
        set_attribute(self, "dialect", dialect)
        set_attribute(self, "_dialect", _load_dialect(dialect))
        unquoted, quoted = _normalizers(self._dialect, dialect)
        set_attribute(self, "_normalize_unquoted", unquoted)
        set_attribute(self, "_normalize_quoted", quoted)

        set_attribute(self, "max_rows", _positive("max_rows", max_rows))
        set_attribute(self, "max_depth", _positive("max_depth", max_depth))
        set_attribute(self, "max_joins", _non_negative("max_joins", max_joins))
        set_attribute(
            self, "max_set_operations", _non_negative("max_set_operations", max_set_operations)
        )
        set_attribute(self, "max_length", _positive("max_length", max_length))

        if functions is None:
            functions = default_functions(dialect)
        set_attribute(self, "_functions", compile_functions(functions, dialect))

        rules, public = self._compile_tables(tables)
        set_attribute(self, "_tables", rules)
        set_attribute(self, "tables", public)
        set_attribute(self, "_table_names", frozenset(key[2] for key in rules))
        set_attribute(
            self, "_system_schemas", _SYSTEM_SCHEMAS.get(dialect, _DEFAULT_SYSTEM_SCHEMAS)
        )
        set_attribute(self, "_system_prefixes", _SYSTEM_TABLE_PREFIXES.get(dialect, ()))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"SqlPolicy is immutable, so {name} cannot be set. Build a new SqlPolicy instead."
        )

    def __repr__(self) -> str:
        return (
            f"SqlPolicy(dialect={self.dialect!r}, tables={sorted(self.tables)!r}, "
            f"functions={len(self.functions)}, max_rows={self.max_rows}, "
            f"max_depth={self.max_depth}, max_joins={self.max_joins}, "
            f"max_set_operations={self.max_set_operations}, max_length={self.max_length})"
        )

    @property
    def functions(self) -> frozenset[str]:
        """The allowed function names, upper-cased."""
        return self._functions.names

    @property
    def function_allowlist(self) -> FunctionAllowlist:
        """The allowed functions compiled to sqlglot node classes and names."""
        return self._functions

    @property
    def sqlglot_dialect(self) -> Dialect:
        """The sqlglot dialect instance that parses and generates."""
        return self._dialect

    def normalize(self, name: str, *, quoted: bool) -> str:
        """Return ``name`` the way the dialect resolves it, for comparison with the policy."""
        if quoted:
            return self._normalize_quoted(name)
        return self._normalize_unquoted(name)

    def table_rule(self, key: TableKey) -> TableRule | None:
        """Return the rule of the allowed table at ``key``, or ``None`` if it is not allowed."""
        return self._tables.get(key)

    def is_table_name(self, name: str) -> bool:
        """Return whether an allowed table, in any schema, has the normalised name ``name``."""
        return name in self._table_names

    def is_system_table(self, key: TableKey) -> bool:
        """Return whether ``key`` names a system catalog of the dialect."""
        _, schema, name = key
        if schema in self._system_schemas:
            return True
        prefixes = self._system_prefixes
        return bool(prefixes) and (schema.startswith(prefixes) or name.startswith(prefixes))

    def _compile_tables(
        self, tables: Mapping[str, Iterable[str]]
    ) -> tuple[dict[TableKey, TableRule], Mapping[str, frozenset[str]]]:
        if not isinstance(tables, Mapping) or not tables:
            raise ConfigurationError(
                "tables must be a non-empty mapping from table name to allowed column names, "
                "such as {'orders': {'id', 'total'}}.",
                setting="tables",
                expected="a non-empty mapping of table name to column names",
                value=tables,
            )
        rules: dict[TableKey, TableRule] = {}
        public: dict[str, frozenset[str]] = {}
        for display, columns in tables.items():
            key = self._parse_table_key(display)
            if isinstance(columns, str) or not isinstance(columns, Iterable):
                raise ConfigurationError(
                    f"The columns of table {display!r} must be a set of names, not {columns!r}. "
                    f"Write {{{display!r}: {{{columns!r}}}}} for a single column.",
                    setting="tables",
                    expected="an iterable of column names per table",
                    value=columns,
                )
            names = frozenset(self._parse_column(display, column) for column in columns)
            if not names:
                raise ConfigurationError(
                    f"Table {display!r} lists no columns. List the columns a query may read; "
                    "to allow no columns, leave the table out.",
                    setting="tables",
                    expected="at least one column per table",
                    value=display,
                )
            if key in rules:
                raise ConfigurationError(
                    f"Tables {rules[key].display!r} and {display!r} name the same table "
                    "in this dialect. Merge their columns under one key.",
                    setting="tables",
                    expected="one key per table",
                    value=display,
                )
            rules[key] = TableRule(display=display, columns=names)
            public[display] = frozenset(columns)
        return rules, MappingProxyType(public)

    def _parse_table_key(self, display: object) -> TableKey:
        parts = _split_identifier(display) if isinstance(display, str) else None
        if parts is None or not 1 <= len(parts) <= 3:
            raise ConfigurationError(
                f"Invalid table name {display!r}: write table, schema.table or "
                'catalog.schema.table, quoting a part that needs it ("Order Items").',
                setting="tables",
                expected="table, schema.table or catalog.schema.table",
                value=display,
            )
        normalized = [self.normalize(name, quoted=quoted) for name, quoted in parts]
        padded = ["", "", *normalized][-3:]
        return (padded[0], padded[1], padded[2])

    def _parse_column(self, table: str, column: object) -> str:
        parts = _split_identifier(column) if isinstance(column, str) else None
        if parts is None or len(parts) != 1 or parts[0][0] == "*":
            raise ConfigurationError(
                f"Invalid column name {column!r} for table {table!r}: write one column name, "
                "without table prefix or '*', quoting it if it needs quotes.",
                setting="tables",
                expected="a single column name",
                value=column,
            )
        name, quoted = parts[0]
        return self.normalize(name, quoted=quoted)


def _load_dialect(dialect: object) -> Dialect:
    if not isinstance(dialect, str) or not dialect:
        raise ConfigurationError(
            f"dialect must be the sqlglot name of the database's dialect, such as 'postgres', "
            f"not {dialect!r}.",
            setting="dialect",
            expected="a sqlglot dialect name",
            value=dialect,
        )
    try:
        loaded = Dialect.get_or_raise(dialect)
    except ValueError:
        raise ConfigurationError(
            f"Unknown SQL dialect {dialect!r}. Use a sqlglot dialect name such as 'postgres', "
            "'sqlite' or 'mysql'.",
            setting="dialect",
            expected="a sqlglot dialect name",
            value=dialect,
        ) from None
    if loaded.normalization_strategy not in _SUPPORTED_STRATEGIES:
        raise ConfigurationError(
            f"Dialect {dialect!r} resolves identifier case by where an identifier sits "
            f"({loaded.normalization_strategy.value}), which the guard does not model.",
            setting="dialect",
            expected="a dialect with a fixed identifier case rule",
            value=dialect,
        )
    return loaded


def _normalizers(dialect: Dialect, name: str) -> tuple[_Normalizer, _Normalizer]:
    """Return the functions that normalise unquoted and quoted identifiers, as sqlglot does."""
    strategy = dialect.normalization_strategy
    ascii_only = dialect.ASCII_ONLY_NORMALIZATION

    def lower(text: str) -> str:
        return text.translate(_ASCII_LOWER) if ascii_only else text.lower()

    def upper(text: str) -> str:
        return text.translate(_ASCII_UPPER) if ascii_only else text.upper()

    def unchanged(text: str) -> str:
        return text

    if strategy is NormalizationStrategy.LOWERCASE:
        return lower, unchanged
    if strategy is NormalizationStrategy.UPPERCASE:
        return upper, unchanged
    if strategy is NormalizationStrategy.CASE_INSENSITIVE:
        return lower, lower
    if strategy is NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE:
        return upper, upper
    if strategy is NormalizationStrategy.CASE_SENSITIVE:
        return unchanged, unchanged
    raise AssertionError(f"unsupported normalization strategy {strategy} for {name}")


def _split_identifier(text: str) -> list[tuple[str, bool]] | None:
    """Split ``a.b."C d"`` into (name, quoted) parts, or return ``None`` if it is malformed."""
    parts: list[tuple[str, bool]] = []
    index = 0
    while index <= len(text):
        if index < len(text) and text[index] in _IDENTIFIER_QUOTES:
            closing = _IDENTIFIER_QUOTES[text[index]]
            name_chars: list[str] = []
            index += 1
            while True:
                if index >= len(text):
                    return None
                if text[index] == closing:
                    # A doubled closing quote is one quote character in the name.
                    if index + 1 < len(text) and text[index + 1] == closing:
                        name_chars.append(closing)
                        index += 2
                        continue
                    index += 1
                    break
                name_chars.append(text[index])
                index += 1
            name, quoted = "".join(name_chars), True
        else:
            end = text.find(".", index)
            end = len(text) if end == -1 else end
            name, quoted = text[index:end].strip(), False
            index = end
        if not name:
            return None
        parts.append((name, quoted))
        if index == len(text):
            return parts
        if text[index] != ".":
            return None
        index += 1
    return None


def _positive(setting: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"{setting} must be a positive integer, not {value!r}.",
            setting=setting,
            expected="an integer of at least 1",
            value=value,
        )
    return value


def _non_negative(setting: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"{setting} must be an integer of at least 0, not {value!r}.",
            setting=setting,
            expected="an integer of at least 0",
            value=value,
        )
    return value
