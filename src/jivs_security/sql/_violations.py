"""The stable violation codes that :class:`~jivs_security.errors.SqlRejected` carries."""

from __future__ import annotations

import enum

__all__ = ["SqlViolation"]


class SqlViolation(enum.StrEnum):
    """Reason codes for rejected queries, stable and safe to match on.

    Each member is a ``str``, so ``error.code == "table_not_allowed"`` and
    ``error.code == SqlViolation.TABLE_NOT_ALLOWED`` both work.
    """

    #: The text is not valid SQL in the policy's dialect, or sqlglot failed on it.
    PARSE_ERROR = "parse_error"
    #: The text is longer than ``SqlPolicy.max_length`` characters.
    TOO_LONG = "too_long"
    #: The expressions nest deeper than the parser or generator can recurse.
    TOO_COMPLEX = "too_complex"
    #: The text contains no statement, only whitespace, comments or semicolons.
    EMPTY = "empty"
    #: The text contains more than one statement.
    MULTIPLE_STATEMENTS = "multiple_statements"
    #: The statement is not a read-only query, or a data-changing or DDL
    #: statement sits inside the query (a CTE that deletes, for example).
    STATEMENT_NOT_ALLOWED = "statement_not_allowed"
    #: sqlglot did not understand the statement and kept it as raw text
    #: (``exp.Command``), so nothing about it can be checked.
    UNPARSED_COMMAND = "unparsed_command"
    #: ``SELECT ... INTO`` creates a table from the result.
    SELECT_INTO = "select_into"
    #: ``FOR UPDATE``, ``FOR SHARE``, ``LOCK IN SHARE MODE`` and their kin take row locks.
    LOCKING_CLAUSE = "locking_clause"
    #: A comment that MySQL or MariaDB executes: ``/*! ... */`` or ``/*M! ... */``.
    EXECUTABLE_COMMENT = "executable_comment"
    #: An optimizer hint (``/*+ ... */``) that sqlglot parsed and would regenerate.
    OPTIMIZER_HINT = "optimizer_hint"
    #: Syntax outside the read-only subset that the guard can check, such as
    #: LATERAL, NATURAL JOIN, table functions, user variables, casts to object
    #: identifier types, a bare word where a value goes, or, in PostgreSQL, a
    #: string literal with a backslash.
    SYNTAX_NOT_ALLOWED = "syntax_not_allowed"
    #: A table that the policy does not list.
    TABLE_NOT_ALLOWED = "table_not_allowed"
    #: A system catalog (``information_schema``, ``pg_catalog``, ``sqlite_master``,
    #: ``mysql``, ...) that the policy does not list.
    SYSTEM_TABLE = "system_table"
    #: A CTE named like a table of the policy.
    CTE_SHADOWS_TABLE = "cte_shadows_table"
    #: ``WITH RECURSIVE``, whose run time the row cap does not bound.
    RECURSIVE_CTE = "recursive_cte"
    #: A column that the policy does not list for its table, or that the guard
    #: cannot attribute to an allowed table.
    COLUMN_NOT_ALLOWED = "column_not_allowed"
    #: ``*`` or ``t.*`` anywhere but ``COUNT(*)``.
    STAR_NOT_ALLOWED = "star_not_allowed"
    #: A table or alias used as a value, which reads every column of the row
    #: (``SELECT o FROM orders o``, ``row_to_json(o)``).
    WHOLE_ROW_REFERENCE = "whole_row_reference"
    #: A function that the policy does not list, a schema-qualified function
    #: call or a function name in quotes.
    FUNCTION_NOT_ALLOWED = "function_not_allowed"
    #: Queries nest deeper than ``SqlPolicy.max_depth``.
    TOO_DEEP = "too_deep"
    #: More joins than ``SqlPolicy.max_joins``.
    TOO_MANY_JOINS = "too_many_joins"
    #: More UNION, INTERSECT and EXCEPT operations than ``SqlPolicy.max_set_operations``.
    TOO_MANY_SET_OPERATIONS = "too_many_set_operations"
    #: The row cap cannot be applied: the outer LIMIT is not an integer
    #: literal, FETCH uses PERCENT or WITH TIES, or a VALUES list has more
    #: rows than ``SqlPolicy.max_rows``.
    UNSUPPORTED_LIMIT = "unsupported_limit"
    #: The parameters passed to ``check`` do not match the placeholders in the query.
    PARAMETER_MISMATCH = "parameter_mismatch"
