"""GDPR data-subject rights, consent, legal holds and audit trails.

The engines build on :mod:`jivs_security`; they are not released yet, and
this package currently exports its error base only.
"""

from jivs_compliance.errors import JivsComplianceError
from jivs_security.__about__ import __version__

__all__ = ["JivsComplianceError", "__version__"]
