"""Function allowlists: the defaults per dialect and how a name maps to sqlglot's function nodes.

sqlglot parses most function calls of its dialects into typed nodes
(``DATE_TRUNC(...)`` in PostgreSQL becomes ``exp.TimestampTrunc``,
``strftime(...)`` in SQLite becomes ``exp.TimeToStr`` around
``exp.TsOrDsToTimestamp``) and the rest into ``exp.Anonymous`` with the
name as written. An allowlist entry is the name a user writes in the
policy's dialect. :func:`compile_functions` parses sample calls of each name
in that dialect and allows every typed node class the calls produce, plus
the name itself for ``exp.Anonymous``. So the same allowlist applies however
sqlglot models the function, and a spelling that sqlglot maps to the same
class (``SUBSTR`` and ``SUBSTRING``) is the same function.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from jivs_security.errors import ConfigurationError

__all__ = [
    "SQLGLOT_FAILURES",
    "SYNTAX_FUNCTIONS",
    "FunctionAllowlist",
    "compile_functions",
    "default_functions",
    "function_name",
]

# sqlglot 30.31.0 raises ParseError or TokenError for most bad input, but
# some inputs reach internal errors instead: "SELECT DATE_ADD(a)" in MySQL
# raises AttributeError. Each is a failure to understand the text.
SQLGLOT_FAILURES: tuple[type[Exception], ...] = (
    SqlglotError,
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
)

# Syntax that sqlglot models as function nodes although no function is
# called by name: AND, OR, XOR, CASE, CAST, EXISTS and COLLATE. They are
# always allowed; the WHEN branches of a CASE (exp.If under exp.Case) are
# allowed where the walk meets them.
SYNTAX_FUNCTIONS: frozenset[type[exp.Func]] = frozenset(
    {exp.And, exp.Or, exp.Xor, exp.Case, exp.Cast, exp.TryCast, exp.Exists, exp.Collate}
)

_AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX")
_WINDOW = (
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "PERCENT_RANK",
    "CUME_DIST",
    "NTILE",
    "LAG",
    "LEAD",
    "FIRST_VALUE",
    "LAST_VALUE",
    "NTH_VALUE",
)
_STRING = ("LOWER", "UPPER", "LENGTH", "SUBSTR", "SUBSTRING", "TRIM", "LTRIM", "RTRIM", "REPLACE")
_CONDITIONAL = ("COALESCE", "NULLIF")
_CURRENT_TIME = ("CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP")
_STATISTICS = ("STDDEV", "STDDEV_POP", "STDDEV_SAMP", "VARIANCE", "VAR_POP", "VAR_SAMP")
_MATH = (
    "ABS",
    "ROUND",
    "CEIL",
    "CEILING",
    "FLOOR",
    "POWER",
    "SQRT",
    "SIGN",
    "LN",
    "LOG",
    "EXP",
    "MOD",
    "GREATEST",
    "LEAST",
)

# Functions for reporting queries: aggregates, window, date and time,
# string, math and conditional functions. Left out on purpose are functions
# that sleep (pg_sleep, SLEEP, BENCHMARK) or read or write files
# (pg_read_file, lo_import, lo_export, LOAD_FILE, readfile, writefile).
# So are functions that connect elsewhere (dblink), load code
# (load_extension), read server state (version, current_setting,
# current_user) or change it (set_config, nextval). Functions that build
# large values from small input (repeat, lpad, rpad, randomblob, zeroblob,
# printf, generate_series) are left out too. PostgreSQL's DATE_BIN is left out
# because sqlglot 30.31.0 mis-parses its origin argument (see _walk.py).
_DEFAULT_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        {
            *_AGGREGATES,
            *_WINDOW,
            *_STRING,
            *_CONDITIONAL,
            *_CURRENT_TIME,
            *_STATISTICS,
            *_MATH,
            "STRING_AGG",
            "ARRAY_AGG",
            "BOOL_AND",
            "BOOL_OR",
            "PERCENTILE_CONT",
            "PERCENTILE_DISC",
            "MODE",
            "CORR",
            "LOCALTIMESTAMP",
            "NOW",
            "DATE_TRUNC",
            "DATE_PART",
            "EXTRACT",
            "AGE",
            "TO_CHAR",
            "TO_DATE",
            "TO_TIMESTAMP",
            "MAKE_DATE",
            "CHAR_LENGTH",
            "CONCAT",
            "CONCAT_WS",
            "LEFT",
            "RIGHT",
            "POSITION",
            "STRPOS",
            "SPLIT_PART",
            "INITCAP",
            "REVERSE",
            "TRUNC",
        }
    ),
    # SQLite's math functions (ceil, sqrt, ...) exist only in builds with
    # SQLITE_ENABLE_MATH_FUNCTIONS, so only ABS and ROUND are listed.
    "sqlite": frozenset(
        {
            *_AGGREGATES,
            *_WINDOW,
            *_STRING,
            *_CONDITIONAL,
            *_CURRENT_TIME,
            "TOTAL",
            "GROUP_CONCAT",
            "DATE",
            "TIME",
            "DATETIME",
            "JULIANDAY",
            "STRFTIME",
            "INSTR",
            "IFNULL",
            "IIF",
            "ABS",
            "ROUND",
        }
    ),
    "mysql": frozenset(
        {
            *_AGGREGATES,
            *_WINDOW,
            *_STRING,
            *_CONDITIONAL,
            *_CURRENT_TIME,
            *_STATISTICS,
            *_MATH,
            "GROUP_CONCAT",
            "NOW",
            "CURDATE",
            "DATE",
            "YEAR",
            "MONTH",
            "DAY",
            "DAYOFWEEK",
            "WEEK",
            "EXTRACT",
            "DATE_FORMAT",
            "DATEDIFF",
            "TIMESTAMPDIFF",
            "LAST_DAY",
            "STR_TO_DATE",
            "CHAR_LENGTH",
            "CONCAT",
            "CONCAT_WS",
            "LEFT",
            "RIGHT",
            "LOCATE",
            "INSTR",
            "TRUNCATE",
            "IFNULL",
            "IF",
        }
    ),
}

_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Argument lists tried when probing a name: none at all (CURRENT_DATE), empty
# parentheses, then one to three column arguments.
_PROBE_ARGUMENTS = (None, "", "a", "a, b", "a, b, c")


@dataclass(frozen=True, slots=True)
class FunctionAllowlist:
    """The allowed functions of a policy, compiled for one dialect.

    ``names`` are the entries as given, upper-cased. ``classes`` are the
    typed sqlglot nodes they parse into, and ``anonymous`` the names
    accepted on ``exp.Anonymous`` nodes.
    """

    names: frozenset[str]
    classes: frozenset[type[exp.Func]]
    anonymous: frozenset[str]

    def allows(self, node: exp.Func) -> bool:
        """Return whether ``node`` calls an allowed function."""
        if type(node) is exp.Anonymous:
            return node.name.upper() in self.anonymous
        return type(node) in self.classes


def default_functions(dialect: str) -> frozenset[str]:
    """Return the default function allowlist for ``dialect``: postgres, sqlite or mysql.

    Raises ConfigurationError for any other dialect, whose policy must list
    its functions.
    """
    try:
        return _DEFAULT_FUNCTIONS[dialect]
    except KeyError:
        raise ConfigurationError(
            f"There is no default function allowlist for dialect {dialect!r}. Pass "
            f"functions=[...] to SqlPolicy, or use one of {sorted(_DEFAULT_FUNCTIONS)}.",
            setting="functions",
            expected="an iterable of function names",
            value=None,
        ) from None


def compile_functions(names: Iterable[str], dialect: str) -> FunctionAllowlist:
    """Map each allowed function name to the sqlglot nodes that it parses into in ``dialect``."""
    if isinstance(names, str):
        raise ConfigurationError(
            f"functions must be an iterable of names, not the string {names!r}. "
            f"Write functions=[{names!r}].",
            setting="functions",
            expected="an iterable of function names",
            value=names,
        )
    upper: set[str] = set()
    classes: set[type[exp.Func]] = set()
    for name in names:
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise ConfigurationError(
                f"Invalid function name {name!r} in functions: write the bare name as it is "
                "called, such as 'DATE_TRUNC', without schema, parentheses or quotes.",
                setting="functions",
                expected="names matching [A-Za-z_][A-Za-z0-9_]*",
                value=name,
            )
        upper.add(name.upper())
        classes.update(_probe(name.upper(), dialect))
    return FunctionAllowlist(
        names=frozenset(upper), classes=frozenset(classes), anonymous=frozenset(upper)
    )


@functools.lru_cache(maxsize=4096)
def _probe(name: str, dialect: str) -> frozenset[type[exp.Func]]:
    """Return the typed function classes that calls of ``name`` parse into in ``dialect``."""
    found: set[type[exp.Func]] = set()
    named_class = exp.FUNCTION_BY_NAME.get(name)
    if named_class is not None:
        found.add(named_class)

    for arguments in _PROBE_ARGUMENTS:
        text = f"SELECT {name}" if arguments is None else f"SELECT {name}({arguments})"
        try:
            trees = sqlglot.parse(text, read=dialect, error_level=ErrorLevel.RAISE)
        except SQLGLOT_FAILURES:
            continue
        for tree in trees:
            if tree is None:
                continue
            for node in tree.walk():
                if isinstance(node, exp.Func) and type(node) is not exp.Anonymous:
                    found.add(type(node))
    return frozenset(found - SYNTAX_FUNCTIONS)


def function_name(node: exp.Func) -> str:
    """Return the name that error messages and ``CheckedQuery.functions`` use for ``node``."""
    if type(node) is exp.Anonymous:
        return node.name.upper()
    return node.sql_name()
