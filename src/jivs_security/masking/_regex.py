"""A typed face over the ``re2`` module of google-re2, limited to what masking uses.

The module is imported by name so that type checking does not depend on
third-party stubs, which lag behind the binding (they lack
``Options.Encoding``, for one).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

__all__ = ["Match", "Regex", "RegexError", "RegexSet", "compile_bytes", "compile_set"]

try:
    _re2: Any = importlib.import_module("re2")
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        "jivs_security.masking needs the google-re2 package, which provides the re2 module; "
        "install it with: pip install 'jivs[masking]'",
        name="re2",
    ) from missing

RegexError: Final[type[Exception]] = _re2.error

# Budget in bytes for RE2's DFA cache, per compiled pattern. When a DFA
# outgrows it, RE2 falls back to its NFA, which is slower but still linear.
_MAX_MEMORY: Final = 32 << 20


class Match(Protocol):
    """One match of a :class:`Regex`, with byte offsets."""

    def span(self, group: int = 0) -> tuple[int, int]:
        """Return the start and end of ``group``, or ``(-1, -1)`` when it took no part."""
        ...


class Regex(Protocol):
    """A compiled RE2 pattern over bytes."""

    @property
    def groupindex(self) -> Mapping[bytes, int]:
        """Named groups and their numbers."""
        ...

    def search(self, text: bytes, pos: int | None = None) -> Match | None:
        """Return the leftmost match at or after ``pos``, or None."""
        ...


class RegexSet(Protocol):
    """An RE2 set of patterns searched together."""

    def Match(self, text: bytes) -> list[int] | None:  # noqa: N802 - the binding's name.
        """Return the indices of the patterns that match ``text``, or None."""
        ...


def _options(*, never_capture: bool) -> Any:
    options = _re2.Options()
    # Latin-1 makes every byte one character, so a pattern matches the
    # UTF-8 bytes of the text and no byte sequence is invalid input.
    options.encoding = _re2.Options.Encoding.LATIN1
    options.never_capture = never_capture
    options.max_mem = _MAX_MEMORY
    # An exhausted DFA budget is handled by the caller (see Scanner), so
    # RE2 need not print it to stderr.
    options.log_errors = False
    return options


def compile_bytes(pattern: bytes, *, never_capture: bool = False) -> Regex:
    """Compile ``pattern``; raises :data:`RegexError` when RE2 rejects it."""
    regex: Regex = _re2.compile(pattern, _options(never_capture=never_capture))
    return regex


def compile_set(patterns: Iterable[bytes]) -> RegexSet:
    """Compile ``patterns`` into an unanchored RE2 set."""
    regex_set = _re2.Set.SearchSet(_options(never_capture=True))
    for pattern in patterns:
        regex_set.Add(pattern)
    regex_set.Compile()
    result: RegexSet = regex_set
    return result
