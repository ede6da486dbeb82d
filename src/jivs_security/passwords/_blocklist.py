"""Blocklists of common passwords, compared after NFKC, case folding and look-alike folding.

NIST SP 800-63B-4, section 3.1.1.2, requires verifiers to compare a new
password against a blocklist of commonly used, expected or compromised
values. The built-in list is the ``passwords`` frequency list that ships with
the zxcvbn package (30,000 entries in zxcvbn 4.5.0), so it is maintained
with that package and nothing is copied into this repository. Applications
add their own list as a UTF-8 file with one password per line.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from jivs_security.errors import ConfigurationError

__all__ = ["Blocklist", "casefold_nfkc", "fold_lookalikes", "normalize_for_comparison"]

logger = logging.getLogger("jivs_security.passwords")

# Digits and symbols that people put in place of the letter they resemble.
# It is the substitution table of zxcvbn 4.5.0 (matching.L33T_TABLE), made
# one-to-one: "l" and "i" both fold to "i", so "1", "|" and "!" stand for
# either, and "7" folds to "t". Both the list entries and the password are
# folded, so a merged pair can only make more passwords match.
_LOOKALIKES: Final = str.maketrans(
    {
        "4": "a",
        "@": "a",
        "8": "b",
        "(": "c",
        "{": "c",
        "[": "c",
        "<": "c",
        "3": "e",
        "6": "g",
        "9": "g",
        "1": "i",
        "!": "i",
        "|": "i",
        "l": "i",
        "0": "o",
        "$": "s",
        "5": "s",
        "+": "t",
        "7": "t",
        "%": "x",
        "2": "z",
    }
)

# Characters stripped from both ends of a password before the padded
# variant is looked up: anything that is not a letter.
_NON_LETTERS_AT_ENDS: Final = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_WHITESPACE: Final = re.compile(r"\s+")


def casefold_nfkc(text: str) -> str:
    """Return ``text`` in NFKC, case folded and NFKC again.

    Case folding can produce text that is no longer in NFKC (Unicode
    Standard Annex 15), hence the second normalisation.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded)


def normalize_for_comparison(text: str) -> str:
    """Return :func:`casefold_nfkc` of ``text`` with surrounding whitespace removed."""
    return casefold_nfkc(text).strip()


def fold_lookalikes(normalized: str) -> str:
    """Replace look-alike digits and symbols by the letter they stand for, and ``l`` by ``i``."""
    return normalized.translate(_LOOKALIKES)


def _variants(normalized: str) -> Iterator[str]:
    """Yield the forms of a normalised password that are looked up in a blocklist.

    They are the password itself, the password without whitespace, and both
    with digits, symbols and whitespace stripped from either end (so
    ``"password123!"`` and ``"2024password"`` count as ``"password"``).
    """
    compact = _WHITESPACE.sub("", normalized)
    for form in (normalized, compact):
        yield form
        core = _NON_LETTERS_AT_ENDS.sub("", form)
        if core and core != form:
            yield core


def _skeletons(entries: Iterable[str]) -> frozenset[str]:
    skeletons = set()
    for entry in entries:
        normalized = normalize_for_comparison(entry)
        if normalized:
            skeletons.add(fold_lookalikes(normalized))
    return frozenset(skeletons)


class _LazySet:
    """A frozenset built on first use and kept.

    Concurrent first uses build it once. A build that raises is tried again
    on the next use.
    """

    def __init__(self, build: Callable[[], frozenset[str]]) -> None:
        self._build = build
        self._value: frozenset[str] | None = None
        self._lock = threading.Lock()

    def get(self) -> frozenset[str]:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._build()
                    self._value = value
        return value


def _load_zxcvbn_passwords() -> frozenset[str]:
    entries = _skeletons(FREQUENCY_LISTS["passwords"])
    logger.debug("zxcvbn password list loaded (entries=%d)", len(entries))
    return entries


# Shared by every Blocklist that includes the common passwords.
_COMMON: Final = _LazySet(_load_zxcvbn_passwords)


def _load_file(path: Path) -> frozenset[str]:
    try:
        data = path.read_bytes()
        # Decoding the whole file at once, after any byte order mark, makes
        # the error offset a file offset.
        start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        lines = data[start:].decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"blocklist file {str(path)!r} is not valid UTF-8 at byte {start + exc.start}; "
            "save it as UTF-8 with one password per line",
            setting="path",
            expected="a UTF-8 text file with one password per line",
            value=str(path),
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"blocklist file {str(path)!r} could not be read ({exc.strerror or exc}); "
            "check that it exists and that this process may read it",
            setting="path",
            expected="a readable UTF-8 text file with one password per line",
            value=str(path),
        ) from None
    entries = _skeletons(lines)
    logger.debug("blocklist file loaded (path=%s, entries=%d)", path, len(entries))
    return entries


class Blocklist:
    """A set of passwords that a policy rejects, with their common variants.

    ``path`` names an application list: a UTF-8 text file (a byte order mark
    is allowed) with one password per line. Blank lines are skipped and
    surrounding whitespace is ignored, so every other line is an entry,
    including lines that start with ``#``. ``include_common`` adds the
    zxcvbn list of 30,000 common passwords.

    Entries are stored NFKC-normalised, case folded and with look-alike
    characters folded (``"P@ssw0rd"`` is stored as ``"password"``), in a
    frozenset that is built on first use and kept. Call :meth:`load` at
    start-up to read the file then and not during the first request. A
    password is blocklisted when any of these forms of it is an entry, after
    the same folding:

    - the password itself;
    - the password without whitespace;
    - either of them with digits, symbols and whitespace stripped from both
      ends, because adding ``"123"`` or ``"!"`` to a common password adds
      almost nothing to the number of guesses an attacker needs.

    Folding look-alikes and stripping digits can only add matches, so a few
    passwords that are not on the list are rejected too (``"1etmein"``
    matches ``"letmein"``). For a blocklist, rejecting too many is the safe
    side.

    NOTE: every entry is held in memory. By an estimate of about 100 bytes
    per short entry in CPython 3.11, a list of a million entries takes about
    100 MB. For breach corpora of
    hundreds of millions of hashes use
    :class:`~jivs_security.passwords._breach.OfflineBreachChecker`, which
    searches the file on disk.
    """

    def __init__(
        self, *, path: str | os.PathLike[str] | None = None, include_common: bool = True
    ) -> None:
        if path is None and not include_common:
            raise ConfigurationError(
                "a Blocklist needs a path, include_common=True or both; "
                "pass blocklist=None to the policy to turn the blocklist off",
                setting="path",
                expected="a path to a UTF-8 file, or include_common=True",
            )
        self._path = None if path is None else Path(path)
        if self._path is not None and not self._path.is_file():
            raise ConfigurationError(
                f"blocklist file {str(self._path)!r} does not exist or is not a regular file; "
                "check the path",
                setting="path",
                expected="an existing UTF-8 text file with one password per line",
                value=str(self._path),
            )
        self._include_common = include_common
        file_path = self._path
        self._file: _LazySet | None = (
            None if file_path is None else _LazySet(lambda: _load_file(file_path))
        )

    @classmethod
    def common(cls) -> Blocklist:
        """Return a blocklist of the zxcvbn common passwords alone."""
        return cls(include_common=True)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, include_common: bool = True) -> Blocklist:
        """Return a blocklist of the passwords in ``path``, plus the common ones by default."""
        return cls(path=path, include_common=include_common)

    def __repr__(self) -> str:
        path = None if self._path is None else str(self._path)
        return f"Blocklist(path={path!r}, include_common={self._include_common!r})"

    @property
    def path(self) -> Path | None:
        """The application's list, or ``None`` when there is none."""
        return self._path

    def load(self) -> None:
        """Read every list now, so that errors show at start-up.

        Raises :class:`~jivs_security.errors.ConfigurationError` when the
        file cannot be read or is not UTF-8. Loading happens once; later
        calls return at once.
        """
        for entries in self._sets():
            entries.get()

    def __contains__(self, password: object) -> bool:
        """Return whether ``password`` or one of its variants is on the list."""
        if not isinstance(password, str):
            return False
        return self.contains_normalized(normalize_for_comparison(password))

    def contains_normalized(self, normalized: str) -> bool:
        """Return whether ``normalized``, from :func:`normalize_for_comparison`, is listed."""
        sets = [entries.get() for entries in self._sets()]
        for variant in _variants(normalized):
            skeleton = fold_lookalikes(variant)
            if any(skeleton in entries for entries in sets):
                return True
        return False

    def _sets(self) -> list[_LazySet]:
        sets = []
        if self._include_common:
            sets.append(_COMMON)
        if self._file is not None:
            sets.append(self._file)
        return sets
