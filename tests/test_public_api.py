"""The public names each package exports, as the documentation promises them."""

from __future__ import annotations

import importlib

import pytest

import jivs_compliance
import jivs_security
from jivs_security import errors

PROMISED = {
    "jivs_security.tokens": {
        "Claims",
        "InvalidToken",
        "KeyRing",
        "RefreshTokenReused",
        "TokenExpired",
        "TokenPair",
        "TokenRevoked",
        "TokenService",
    },
    "jivs_security.stores": {"AtomicScript", "KeyValueStore", "MemoryStore", "RedisStore"},
    "jivs_security.crypto": {
        "AwsKmsProvider",
        "DecryptionFailed",
        "EnvelopeCipher",
        "KeyUnavailable",
        "LocalKeyProvider",
        "SubjectKeys",
        "VaultTransitProvider",
    },
    "jivs_security.sql": {"CheckedQuery", "SqlGuard", "SqlPolicy", "SqlRejected"},
    "jivs_security.masking": {"Masker", "MaskingFilter", "structlog_processor"},
    "jivs_security.web": {
        "ContentSecurityPolicy",
        "RateLimiter",
        "SecurityHeaders",
        "sanitize_html",
    },
    "jivs_security.passwords": {
        "AccountLocked",
        "LockoutGuard",
        "PasswordHasher",
        "PasswordPolicy",
        "PasswordReused",
        "PolicyResult",
        "WeakPassword",
    },
}


@pytest.mark.parametrize("module_name", sorted(PROMISED))
def test_promised_names_exported(module_name: str) -> None:
    """Every documented name is in the module's __all__."""
    module = importlib.import_module(module_name)

    missing = PROMISED[module_name] - set(module.__all__)

    assert not missing


@pytest.mark.parametrize("module_name", sorted(PROMISED))
def test_all_names_importable(module_name: str) -> None:
    """Every name in __all__ exists on the module."""
    module = importlib.import_module(module_name)

    absent = [name for name in module.__all__ if not hasattr(module, name)]

    assert not absent


def isort_key(name: str) -> tuple[int, str]:
    """Order constants first, then classes, then functions, as ruff's RUF022 sorts __all__."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def test_all_is_sorted() -> None:
    """__all__ lists are sorted, so additions show up in review."""
    for module_name in PROMISED:
        names = importlib.import_module(module_name).__all__

        assert list(names) == sorted(names, key=isort_key), module_name


def test_security_errors_share_base() -> None:
    """Every error class in jivs_security.errors derives from JivsSecurityError."""
    classes = [getattr(errors, name) for name in errors.__all__]
    exceptions = [cls for cls in classes if isinstance(cls, type)]

    outside = [
        cls.__name__ for cls in exceptions if not issubclass(cls, jivs_security.JivsSecurityError)
    ]

    assert not outside


def test_error_tree_drawn_in_docstring() -> None:
    """The errors module docstring names every error class it exports."""
    doc = errors.__doc__ or ""

    undrawn = [name for name in errors.__all__ if name not in doc]

    assert not undrawn


def test_compliance_error_base() -> None:
    """jivs_compliance exports its error base, which is not a security error."""
    assert issubclass(jivs_compliance.JivsComplianceError, Exception)
    assert not issubclass(jivs_compliance.JivsComplianceError, jivs_security.JivsSecurityError)


def test_security_never_imports_compliance() -> None:
    """jivs_security stays independent of jivs_compliance, as the layering requires."""
    import pathlib

    source = pathlib.Path(jivs_security.__file__).parent
    offenders = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if "jivs_compliance" in path.read_text(encoding="utf-8")
    ]

    assert not offenders


def test_error_bases_never_raised() -> None:
    """No module raises the base errors themselves, only their specific subclasses."""
    import pathlib
    import re

    raising_base = re.compile(r"raise\s+(JivsSecurityError|JivsComplianceError)\b")
    roots = [
        pathlib.Path(jivs_security.__file__).parent,
        pathlib.Path(jivs_compliance.__file__).parent,
    ]

    offenders = [
        str(path)
        for root in roots
        for path in root.rglob("*.py")
        if raising_base.search(path.read_text(encoding="utf-8"))
    ]

    assert not offenders
