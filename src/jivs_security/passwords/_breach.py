"""Breached-password checks: the Pwned Passwords range API and a local file of SHA-1 hashes.

NIST SP 800-63B-4, section 3.1.1.2, requires the blocklist to contain
passwords from previous breach corpuses. Pwned Passwords (Have I Been Pwned)
publishes the SHA-1 hashes of passwords seen in breaches, with how often
each was seen. Both checkers here hash the password with SHA-1 over its
UTF-8 bytes, exactly as given, because that is how the corpus was built.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO, Final, Literal, Protocol, runtime_checkable

from jivs_security.__about__ import __version__
from jivs_security.errors import BreachCheckUnavailable, ConfigurationError

__all__ = [
    "DEFAULT_PWNED_PASSWORDS_URL",
    "BreachChecker",
    "Fetch",
    "OfflineBreachChecker",
    "PwnedPasswordsChecker",
    "sha1_hex",
]

logger = logging.getLogger("jivs_security.passwords")

DEFAULT_PWNED_PASSWORDS_URL: Final = "https://api.pwnedpasswords.com/range/"

# The range API returns every hash suffix that shares the first five hex
# digits of the SHA-1, so the service never learns which password was
# checked (k-anonymity). With "Add-Padding: true" it pads the response to at
# least 800 rows plus a random 0 to 200 more, with random suffixes and a
# count of 0, so the response size does not reveal the prefix either
# (Cloudflare blog, "Pwned Passwords Padding", March 2020).
_PREFIX_LENGTH: Final = 5
_SUFFIX_LENGTH: Final = 35

# Bytes. A padded response is about 1,000 rows of at most 45 bytes; anything
# much larger is not a range response.
_MAX_RESPONSE_BYTES: Final = 1024 * 1024

_RANGE_ROW: Final = re.compile(r"([0-9A-Fa-f]{35}):([0-9]{1,10})")
_HASH_LINE: Final = re.compile(rb"([0-9A-Fa-f]{40})(?::([0-9]{1,10}))?\r?\n?")

#: ``fetch(url, headers, timeout) -> body``: one HTTP GET that returns the
#: body of a 200 response as text and raises ``OSError`` (which includes
#: ``urllib.error.URLError`` and ``TimeoutError``) for any failure.
Fetch = Callable[[str, Mapping[str, str], float], str]


@runtime_checkable
class BreachChecker(Protocol):
    """Anything that reports whether a password appears in a breach corpus."""

    def is_breached(self, password: str) -> bool:
        """Return whether ``password`` is in the corpus often enough to be rejected."""
        ...


def sha1_hex(password: str) -> str:
    """Return the upper-case hex SHA-1 of the UTF-8 bytes of ``password``.

    SHA-1 is what the Pwned Passwords corpus uses. It is used here only to
    look the password up, never to store it.
    """
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error, so a response never comes from another URL."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _urllib_fetch(url: str, headers: Mapping[str, str], timeout: float) -> str:
    """GET ``url`` with certificate verification on and return the body of a 200 response."""
    context = ssl.create_default_context()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _RefuseRedirects()
    )
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        # The error holds the open response; closing it releases the socket.
        exc.close()
        raise
    with response:
        if response.status != 200:
            raise urllib.error.HTTPError(
                url, response.status, "unexpected status", response.headers, None
            )
        body: bytes = response.read(_MAX_RESPONSE_BYTES + 1)
    if len(body) > _MAX_RESPONSE_BYTES:
        raise ValueError(f"response is larger than {_MAX_RESPONSE_BYTES} bytes")
    return body.decode("utf-8")


class _BadResponse(ValueError):
    """The range API responded, but not with a range response."""


def _parse_range(body: str) -> dict[str, int]:
    """Parse ``SUFFIX:COUNT`` rows into a dictionary, dropping padding rows (count 0).

    Raises :class:`_BadResponse` for any row that is not 35 hex digits, a
    colon and a decimal count, and for a response without rows: the API
    returns several hundred rows for every prefix.
    """
    counts: dict[str, int] = {}
    rows = 0
    for number, line in enumerate(body.splitlines(), start=1):
        if not line:
            continue
        match = _RANGE_ROW.fullmatch(line)
        if match is None:
            raise _BadResponse(f"row {number} is not SUFFIX:COUNT")
        rows += 1
        count = int(match.group(2))
        if count:
            counts[match.group(1).upper()] = count
    if not rows:
        raise _BadResponse("the response has no rows")
    return counts


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PwnedPasswordsChecker:
    """Checks passwords against the Pwned Passwords range API with k-anonymity.

    Only the first five hex digits of the password's SHA-1 are sent, with
    the header ``Add-Padding: true``. The response lists every breached hash
    with that prefix, and the match happens here. Padding rows (count 0) are
    ignored.

    ``fetch(url, headers, timeout) -> str`` makes the HTTP request. The
    default uses ``urllib.request`` with certificate verification on, no
    redirects, the process's proxy settings and ``timeout`` seconds. Tests
    and applications with their own HTTP client pass another.

    ``base_url`` must be HTTPS, except on a loopback address, because a
    tampered response could hide a breached password. ``min_count`` is how
    many breach sightings make a password breached.

    ``on_unavailable`` decides what happens when the service cannot be
    reached, times out, responds with an error status or sends something
    that is not a range response:

    - ``"closed"`` (the default) raises
      :class:`~jivs_security.errors.BreachCheckUnavailable`, so no password
      is set without the check NIST SP 800-63B-4 requires (verifiers SHALL
      compare new passwords against breached ones). During an outage this
      stops password changes and sign-ups, but not sign-ins; the error is
      marked ``retryable`` so the application can ask the user to try again
      shortly.
    - ``"open"`` logs a WARNING with the number of failures in a row and
      treats the password as not known to be breached. The local blocklist
      still applies. Choose it where availability of password changes
      matters more than this one check.
    """

    def __init__(
        self,
        *,
        fetch: Fetch | None = None,
        base_url: str = DEFAULT_PWNED_PASSWORDS_URL,
        timeout: float = 2.0,
        on_unavailable: Literal["closed", "open"] = "closed",
        min_count: int = 1,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.endswith("/"):
            raise _setting_error("base_url", base_url, "a URL ending in '/', such as the default")
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme != "https" and not (scheme == "http" and _is_loopback(base_url)):
            raise _setting_error(
                "base_url", base_url, "an https:// URL (http:// is accepted on loopback only)"
            )
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= 60
        ):
            raise _setting_error("timeout", timeout, "seconds, more than 0 and at most 60")
        if on_unavailable not in ("closed", "open"):
            raise _setting_error("on_unavailable", on_unavailable, "'closed' or 'open'")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise _setting_error("min_count", min_count, "an integer of at least 1")
        self._fetch: Fetch = _urllib_fetch if fetch is None else fetch
        self._base_url = base_url
        self._timeout = float(timeout)
        self._on_unavailable = on_unavailable
        self._min_count = min_count
        self._headers = {
            "Add-Padding": "true",
            "User-Agent": f"jivs-security/{__version__} (password policy)",
        }
        self._failures = 0
        self._failures_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"PwnedPasswordsChecker(base_url={self._base_url!r}, timeout={self._timeout!r}, "
            f"on_unavailable={self._on_unavailable!r}, min_count={self._min_count!r})"
        )

    @property
    def on_unavailable(self) -> str:
        """``"closed"`` or ``"open"``: what happens when the service cannot be asked."""
        return self._on_unavailable

    def breach_count(self, password: str) -> int:
        """Return how often the corpus has seen ``password``, 0 when never.

        Raises :class:`~jivs_security.errors.BreachCheckUnavailable` when the
        service cannot be asked and ``on_unavailable`` is ``"closed"``; with
        ``"open"`` it returns 0 then.
        """
        digest = sha1_hex(password)
        prefix, suffix = digest[:_PREFIX_LENGTH], digest[_PREFIX_LENGTH:]
        url = self._base_url + prefix
        try:
            counts = _parse_range(self._fetch(url, self._headers, self._timeout))
        except urllib.error.HTTPError as exc:
            retryable = exc.code == 429 or exc.code >= 500
            return self._unavailable(f"it responded with HTTP status {exc.code}", retryable)
        except (OSError, UnicodeDecodeError) as exc:
            return self._unavailable(f"the request failed ({type(exc).__name__})", True)
        except _BadResponse as exc:
            return self._unavailable(f"the response is not a range response: {exc}", True)
        except ValueError as exc:
            return self._unavailable(f"the response was rejected: {exc}", True)

        with self._failures_lock:
            self._failures = 0
        return counts.get(suffix, 0)

    def is_breached(self, password: str) -> bool:
        """Return whether the corpus has seen ``password`` at least ``min_count`` times."""
        return self.breach_count(password) >= self._min_count

    def _unavailable(self, reason: str, retryable: bool) -> int:
        with self._failures_lock:
            self._failures += 1
            failures = self._failures
        message = f"the Pwned Passwords range API at {self._base_url} could not be used: {reason}"
        if self._on_unavailable == "closed":
            raise BreachCheckUnavailable(
                f"{message}; the password was not accepted, try again later",
                service="pwned_passwords",
                retryable=retryable,
            )
        logger.warning(
            "%s; on_unavailable='open', so the password is treated as not breached "
            "(failures in a row=%d)",
            message,
            failures,
        )
        return 0


class OfflineBreachChecker:
    """Checks passwords against a local, sorted file of SHA-1 hashes, without loading it.

    The file is the Pwned Passwords download "ordered by hash": one
    ``SHA1:COUNT`` line per hash, 40 hex digits, sorted, CRLF or LF line
    ends. A plain list of hashes, one per line and sorted, works too; each
    hash then counts once. Hex digits may be upper or lower case, but one
    case for the whole file, because the sort order differs between them.

    Each lookup opens the file and binary-searches it with ``seek``, about
    30 reads for a billion lines, so the file may be larger than memory and
    may be replaced between calls. ``min_count`` is how many breach
    sightings make a password breached.

    NOTE: the sort order is not verified, because that takes a full pass
    over the file. An unsorted file gives wrong results without an error.
    """

    def __init__(self, path: str | os.PathLike[str], *, min_count: int = 1) -> None:
        self._path = Path(path)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise _setting_error("min_count", min_count, "an integer of at least 1")
        self._min_count = min_count
        try:
            with self._path.open("rb") as handle:
                first = handle.readline()
        except OSError as exc:
            raise ConfigurationError(
                f"breach file {str(self._path)!r} could not be read ({exc.strerror or exc}); "
                "check that it exists and that this process may read it",
                setting="path",
                expected="a readable file of sorted SHA-1 hashes",
                value=str(self._path),
            ) from None
        if _HASH_LINE.fullmatch(first) is None:
            raise self._format_error(0)

    def __repr__(self) -> str:
        return f"OfflineBreachChecker(path={str(self._path)!r}, min_count={self._min_count!r})"

    def breach_count(self, password: str) -> int:
        """Return the count on the line of ``password``'s SHA-1, 0 when it has no line.

        Raises :class:`~jivs_security.errors.ConfigurationError` when a line
        that the search reads is not a hash line.
        """
        target = sha1_hex(password).encode("ascii")
        with self._path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            line, offset = self._first_line_at_or_after(handle, target, size)
        if line is None:
            return 0
        digest, count = self._parse(line, offset)
        if digest != target:
            return 0
        return count

    def is_breached(self, password: str) -> bool:
        """Return whether the file lists ``password`` with a count of at least ``min_count``."""
        return self.breach_count(password) >= self._min_count

    def _first_line_at_or_after(
        self, handle: BinaryIO, target: bytes, size: int
    ) -> tuple[bytes | None, int]:
        """Return the first line whose hash is at least ``target``, and its offset.

        The search runs over byte offsets. For an offset x, the candidate is
        the first line that starts at x or later. Candidates only move
        forward as x grows, so the smallest x whose candidate is at least the
        target (or is past the end) gives the line sought.
        """
        low, high = 0, size
        while low < high:
            middle = (low + high) // 2
            line, offset = self._line_starting_at_or_after(handle, middle)
            if line is None or self._parse(line, offset)[0] >= target:
                high = middle
            else:
                low = middle + 1
        return self._line_starting_at_or_after(handle, low)

    @staticmethod
    def _line_starting_at_or_after(handle: BinaryIO, offset: int) -> tuple[bytes | None, int]:
        if offset == 0:
            handle.seek(0)
        else:
            # Reading from offset - 1 to the end of that line lands on the
            # first line that starts at offset or later, even when a line
            # starts exactly at offset.
            handle.seek(offset - 1)
            handle.readline()
        start = handle.tell()
        line = handle.readline()
        return (line or None), start

    def _parse(self, line: bytes, offset: int) -> tuple[bytes, int]:
        match = _HASH_LINE.fullmatch(line)
        if match is None:
            raise self._format_error(offset)
        count = match.group(2)
        return match.group(1).upper(), 1 if count is None else int(count)

    def _format_error(self, offset: int) -> ConfigurationError:
        return ConfigurationError(
            f"breach file {str(self._path)!r} has a line at byte {offset} that is not "
            "SHA1 or SHA1:COUNT (40 hex digits, then optionally a colon and a count); "
            "use the Pwned Passwords 'ordered by hash' download or a sorted list of hashes",
            setting="path",
            expected="lines of 40 hex digits, optionally followed by :COUNT, sorted",
            value=str(self._path),
        )


def _setting_error(setting: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}",
        setting=setting,
        expected=expected,
        value=value,
    )
