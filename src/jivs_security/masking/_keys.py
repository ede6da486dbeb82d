"""Sensitive key names: matching them in mappings, and ``key=value`` pairs in text.

A key is sensitive when its normalised form (lowercase ASCII letters and
digits only) contains the normalised form of a configured name, so the name
``api_key`` matches ``API-Key``, ``x_api_key`` and ``apiKey``, and
``password`` matches ``db_password``. Substring matching masks more than it
must (``token`` matches ``tokenizer``), which is the safe side for logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from jivs_security.errors import ConfigurationError
from jivs_security.masking._detectors import Detector

__all__ = ["DEFAULT_KEYS", "KEY_DETECTOR_NAME", "KeyMatcher", "normalise_key"]

# Names whose values are masked wherever they appear as a key.
DEFAULT_KEYS: Final = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "authorization",
    "cookie",
    "credential",
    "private_key",
    "access_key",
    "session_id",
)

# The detector name in placeholders for values masked because of their key.
KEY_DETECTOR_NAME: Final = "key"

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")

# Authorization schemes whose credential follows after a space (RFC 9110,
# section 11.4); the scheme name stays readable, the credential is masked.
_AUTH_SCHEMES: Final = r"(?:basic|bearer|digest|negotiate|ntlm|token|apikey)[ \t]+"

# Cached verdicts per key string, for mappings that repeat the same keys in
# every log record. Bounded so that a stream of distinct keys cannot grow it
# without limit.
_CACHE_LIMIT: Final = 4096


def normalise_key(key: str) -> str:
    """Lowercase ``key`` and drop every character that is not an ASCII letter or digit."""
    return _NOT_ALPHANUMERIC.sub("", key.lower())


class KeyMatcher:
    """Decides which mapping keys are sensitive, and builds the detectors for ``key=value`` text."""

    def __init__(self, names: Iterable[str]) -> None:
        if isinstance(names, str):
            raise ConfigurationError(
                f"Invalid keys {names!r}: expected an iterable of key names, got one string.",
                setting="keys",
                expected="an iterable of str, such as ('password', 'token')",
                value=names,
            )
        needles = []
        for name in names:
            needle = normalise_key(name) if isinstance(name, str) else ""
            if not needle:
                raise ConfigurationError(
                    f"Invalid key name {name!r}: it must contain at least one ASCII letter or "
                    "digit, because keys are compared on letters and digits only.",
                    setting="keys",
                    expected="str names with ASCII letters or digits",
                    value=name,
                )
            needles.append(needle)
        self.needles: tuple[str, ...] = tuple(sorted(set(needles)))
        self._verdicts: dict[str, bool] = {}

    def is_sensitive(self, key: str) -> bool:
        """Return whether ``key`` contains one of the configured names, after normalising both."""
        verdict = self._verdicts.get(key)
        if verdict is None:
            normalised = normalise_key(key)
            verdict = any(needle in normalised for needle in self.needles)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def detectors(self) -> list[Detector]:
        """Return the detectors that mask the value in ``name=value`` and ``"name": "value"`` text.

        Cookie headers get a pattern of their own, whose unquoted value runs
        over ``; name=value`` pairs. For every other key, ``;`` ends the
        value, as in connection strings (``Password=x;Host=db``).
        """
        if not self.needles:
            return []
        cookie_needles = [needle for needle in self.needles if "cookie" in needle]
        detectors = [Detector(KEY_DETECTOR_NAME, _key_value_pattern(self.needles, cookie=False))]
        if cookie_needles:
            detectors.append(
                Detector(KEY_DETECTOR_NAME, _key_value_pattern(cookie_needles, cookie=True))
            )
        return detectors


def _spelled_loosely(needle: str) -> str:
    """Return a pattern for ``needle`` with an optional ``-``, ``_`` or ``.`` between characters."""
    return "[-_.]?".join(re.escape(character) for character in needle)


def _key_value_pattern(needles: Iterable[str], *, cookie: bool) -> str:
    """Build the RE2 pattern for a sensitive key, a separator and the value after it.

    The key may be quoted, or quoted with escaped quotes as in JSON inside
    a JSON string. The value is one of: a double-quoted string (masked up
    to the closing quote, or to the end of the line when the quote is
    missing), a single-quoted string, or an unquoted run that ends at
    whitespace, a quote, ``,``, ``;`` or ``&``.
    """
    names = "|".join(_spelled_loosely(needle) for needle in needles)
    key = rf"[A-Za-z0-9_.-]*(?:{names})[A-Za-z0-9_.-]*\\{{0,3}}[\"']?"
    separator = r"[ \t]*(?:[:=]|=>)[ \t]*"
    double_quoted = r"\"(?P<value>(?:[^\"\\\r\n]|\\[^\r\n])*)"
    escaped_quoted = r"\\{1,3}\"(?P<value_2>(?:[^\"\\\r\n]|\\[^\"\r\n])*)"
    single_quoted = r"'(?P<value_3>(?:[^'\\\r\n]|\\[^\r\n])*)"
    # NOTE: an unquoted value ends at whitespace, a quote, ",", ";" or "&",
    # so the part of a password after such a character stays readable.
    # Quoted values (JSON, repr) are masked whole.
    unquoted = r"[^\s\"',;&]+"
    if cookie:
        unquoted += r"(?:;[ \t]*[^\s\"',;&=]+=[^\s\"',;&]*)*"
    unquoted_value = rf"(?:{_AUTH_SCHEMES})?(?P<value_4>{unquoted})"
    return (
        rf"(?i){key}{separator}"
        rf"(?:{double_quoted}|{escaped_quoted}|{single_quoted}|{unquoted_value})"
    )
