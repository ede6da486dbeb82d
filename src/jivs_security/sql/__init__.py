"""A SQL allowlist guard: parse in the server's dialect, check the syntax tree, run rewritten text.

::

    guard = SqlGuard(SqlPolicy(tables={"orders": {"id", "total"}}, dialect="postgres"))
    checked = guard.check("SELECT id, total FROM orders WHERE total > %(minimum)s",
                          {"minimum": 10})
    connection.exec_driver_sql(checked.sql, checked.params)

The guard accepts one read-only query that reads only the tables, columns
and functions the policy lists, caps its rows, and returns it regenerated
from the checked tree. :class:`SqlViolation` lists the codes a
:class:`SqlRejected` carries. Needs the ``sql`` extra (sqlglot).
"""

from jivs_security.errors import SqlRejected
from jivs_security.sql._functions import default_functions
from jivs_security.sql._guard import CheckedQuery, Params, SqlGuard
from jivs_security.sql._policy import SqlPolicy
from jivs_security.sql._violations import SqlViolation

__all__ = [
    "CheckedQuery",
    "Params",
    "SqlGuard",
    "SqlPolicy",
    "SqlRejected",
    "SqlViolation",
    "default_functions",
]
