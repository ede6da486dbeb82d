"""Errors raised by ``jivs_compliance``.

Every error the package raises on purpose derives from
:class:`JivsComplianceError`, which is never raised itself::

    JivsComplianceError

Specific subclasses arrive with the engines that raise them.
"""

from __future__ import annotations

__all__ = ["JivsComplianceError"]


class JivsComplianceError(Exception):
    """Base of every error raised by ``jivs_compliance``; never raised itself."""
