"""Security controls for applications: tokens, stores and, as they land, more.

Each area is a subpackage (:mod:`jivs_security.tokens`,
:mod:`jivs_security.stores`); every error derives from
:class:`~jivs_security.errors.JivsSecurityError`.
"""

from jivs_security.__about__ import __version__
from jivs_security.errors import JivsSecurityError

__all__ = ["JivsSecurityError", "__version__"]
