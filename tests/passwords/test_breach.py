"""Breached-password checks against a Pwned Passwords range server on loopback and local files.

Every request goes to an HTTP server that the test starts on 127.0.0.1. A
guard fixture fails any test whose request would leave loopback, so the real
service is never contacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jivs_security.errors import BreachCheckUnavailable, ConfigurationError
from jivs_security.passwords._breach import (
    DEFAULT_PWNED_PASSWORDS_URL,
    BreachChecker,
    OfflineBreachChecker,
    PwnedPasswordsChecker,
    sha1_hex,
)
from jivs_security.passwords._policy import PasswordPolicy

PASSWORD = "vq7-Rm2!kZp9wLx"
OTHER_PASSWORD = "Marble otter quietly folds 7"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any urllib request that is not addressed to 127.0.0.1."""
    original = urllib.request.OpenerDirector.open

    def guarded(
        self: urllib.request.OpenerDirector, request: Any, *args: Any, **kwargs: Any
    ) -> Any:
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        host = urllib.parse.urlsplit(url).hostname
        assert host == "127.0.0.1", f"test tried to reach {host}"
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", guarded)


# A Pwned Passwords range server on loopback.


@dataclass
class RecordedRequest:
    """The path and headers of one request the server received."""

    path: str
    headers: dict[str, str]


@dataclass
class RangeServer:
    """A loopback range server: set ``mode`` and ``body`` or ``status``, read ``requests``."""

    base_url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    mode: str = "rows"
    body: str = ""
    status: int = 200
    release: threading.Event = field(default_factory=threading.Event)


def range_rows(breached: Mapping[str, int], *, filler: int = 20, padding: int = 10) -> str:
    """Return a range response body listing ``breached`` passwords among filler and padding rows."""
    rows = [f"{sha1_hex(password)[5:]}:{count}" for password, count in breached.items()]
    rows += [f"{secrets.token_hex(20)[5:].upper()}:{index + 1}" for index in range(filler)]
    rows += [f"{secrets.token_hex(20)[5:].upper()}:0" for _ in range(padding)]
    return "\r\n".join(sorted(rows))


@pytest.fixture
def range_server() -> Iterator[RangeServer]:
    """A range server on a free port of 127.0.0.1, stopped after the test."""
    state = RangeServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(RecordedRequest(self.path, dict(self.headers.items())))
            if state.mode == "slow":
                state.release.wait(timeout=10)
            # The client may have timed out and closed the connection.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._respond()

        def _respond(self) -> None:
            if state.mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            payload = state.body.encode("utf-8") if state.mode != "status" else b"error"
            self.send_response(state.status if state.mode == "status" else 200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_port}/range/"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    yield state

    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


def checker_for(server: RangeServer, **options: Any) -> PwnedPasswordsChecker:
    """Return a checker aimed at the loopback server."""
    return PwnedPasswordsChecker(base_url=server.base_url, **options)


# Hashing and k-anonymity.


def test_sha1_hex_known_vector() -> None:
    """sha1_hex gives the SHA-1 of 'P@ssw0rd' that the Pwned Passwords announcement shows."""
    assert sha1_hex("P@ssw0rd") == "21BD12DC183F740EE76F27B78EB39C8AD972A757"


def test_sha1_hex_hashes_utf8() -> None:
    """Non-ASCII passwords are hashed as UTF-8, as the corpus was."""
    assert sha1_hex("pässwörd") == hashlib.sha1("pässwörd".encode()).hexdigest().upper()


def test_only_five_hex_digits_sent(range_server: RangeServer) -> None:
    """The request path contains the 5-digit prefix, and neither the full hash nor the password."""
    range_server.body = range_rows({})
    digest = sha1_hex(PASSWORD)

    checker_for(range_server).breach_count(PASSWORD)

    request = range_server.requests[0]
    assert request.path == "/range/" + digest[:5]
    assert digest[5:] not in request.path
    assert urllib.parse.quote(PASSWORD) not in request.path
    assert PASSWORD not in request.path
    for value in request.headers.values():
        assert digest[5:] not in value
        assert PASSWORD not in value


def test_padding_header_sent(range_server: RangeServer) -> None:
    """Each request sends Add-Padding: true and a User-Agent naming the client."""
    range_server.body = range_rows({})

    checker_for(range_server).breach_count(PASSWORD)

    headers = range_server.requests[0].headers
    assert headers["Add-Padding"] == "true"
    assert headers["User-Agent"].startswith("jivs-security/")


# Parsing the range response.


def test_breached_password_counted(range_server: RangeServer) -> None:
    """A listed suffix returns its count and makes the password breached."""
    range_server.body = range_rows({PASSWORD: 42})
    checker = checker_for(range_server)

    count = checker.breach_count(PASSWORD)

    assert count == 42
    assert checker.is_breached(PASSWORD)


def test_unlisted_password_not_breached(range_server: RangeServer) -> None:
    """A suffix missing from the response is not breached."""
    range_server.body = range_rows({OTHER_PASSWORD: 7})

    assert not checker_for(range_server).is_breached(PASSWORD)


def test_padding_rows_ignored(range_server: RangeServer) -> None:
    """A row with count 0 is padding, even when its suffix is the password's."""
    range_server.body = range_rows({PASSWORD: 0})

    assert checker_for(range_server).breach_count(PASSWORD) == 0


def test_min_count_respected(range_server: RangeServer) -> None:
    """A password seen fewer than min_count times is not breached."""
    range_server.body = range_rows({PASSWORD: 4})

    assert not checker_for(range_server, min_count=5).is_breached(PASSWORD)
    assert checker_for(range_server, min_count=4).is_breached(PASSWORD)


def test_lower_case_rows_accepted(range_server: RangeServer) -> None:
    """Hex digits in either case parse, so a change of case does not fail every check."""
    range_server.body = range_rows({PASSWORD: 3}).lower()

    assert checker_for(range_server).breach_count(PASSWORD) == 3


def test_lf_line_ends_accepted(range_server: RangeServer) -> None:
    """Rows separated by LF alone parse as well as CRLF."""
    range_server.body = range_rows({PASSWORD: 3}).replace("\r\n", "\n") + "\n"

    assert checker_for(range_server).breach_count(PASSWORD) == 3


# Failures under both policies.

BAD_BODIES = {
    "garbage": "<html>Service temporarily unavailable</html>",
    "short suffix": "ABCDEF:12",
    "no count": sha1_hex(PASSWORD)[5:],
    "negative count": f"{sha1_hex(PASSWORD)[5:]}:-1",
    "extra field": f"{sha1_hex(PASSWORD)[5:]}:1:2",
    "empty": "",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_body_fails_closed(range_server: RangeServer, body: str) -> None:
    """A body that is not SUFFIX:COUNT rows raises BreachCheckUnavailable by default."""
    range_server.body = body

    with pytest.raises(BreachCheckUnavailable) as caught:
        checker_for(range_server).is_breached(PASSWORD)

    assert caught.value.service == "pwned_passwords"
    assert caught.value.retryable


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_body_fails_open(
    range_server: RangeServer, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With on_unavailable='open', a bad body counts as not breached and logs a WARNING."""
    range_server.body = body
    caplog.set_level(logging.WARNING, logger="jivs_security.passwords")

    breached = checker_for(range_server, on_unavailable="open").is_breached(PASSWORD)

    assert not breached
    assert [record.levelno for record in caplog.records] == [logging.WARNING]


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (404, False)]
)
def test_error_status_fails_closed(range_server: RangeServer, status: int, retryable: bool) -> None:
    """An error status raises, retryable for 5xx and 429 only."""
    range_server.mode = "status"
    range_server.status = status

    with pytest.raises(BreachCheckUnavailable, match=str(status)) as caught:
        checker_for(range_server).is_breached(PASSWORD)

    assert caught.value.retryable is retryable


def test_error_status_fails_open(
    range_server: RangeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With on_unavailable='open', HTTP 500 counts as not breached and logs the failure count."""
    range_server.mode = "status"
    range_server.status = 500
    checker = checker_for(range_server, on_unavailable="open")
    caplog.set_level(logging.WARNING, logger="jivs_security.passwords")

    first = checker.is_breached(PASSWORD)
    second = checker.is_breached(PASSWORD)

    assert not first
    assert not second
    assert "failures in a row=2" in caplog.records[-1].getMessage()


def test_timeout_fails_closed(range_server: RangeServer) -> None:
    """A server slower than the timeout raises BreachCheckUnavailable."""
    range_server.mode = "slow"
    range_server.body = range_rows({PASSWORD: 1})

    with pytest.raises(BreachCheckUnavailable) as caught:
        checker_for(range_server, timeout=0.2).is_breached(PASSWORD)

    assert caught.value.retryable


def test_timeout_fails_open(range_server: RangeServer, caplog: pytest.LogCaptureFixture) -> None:
    """With on_unavailable='open', a timeout counts as not breached and logs a WARNING."""
    range_server.mode = "slow"
    range_server.body = range_rows({PASSWORD: 1})
    caplog.set_level(logging.WARNING, logger="jivs_security.passwords")

    breached = checker_for(range_server, timeout=0.2, on_unavailable="open").is_breached(PASSWORD)

    assert not breached
    assert caplog.records[0].levelno == logging.WARNING


def test_refused_connection_fails_closed() -> None:
    """Nothing listening on the port raises BreachCheckUnavailable."""
    url = f"http://127.0.0.1:{free_loopback_port()}/range/"
    checker = PwnedPasswordsChecker(base_url=url, timeout=1.0)

    with pytest.raises(BreachCheckUnavailable):
        checker.is_breached(PASSWORD)


def test_redirect_not_followed(range_server: RangeServer) -> None:
    """A redirect is a failure, so a response never comes from another URL."""
    range_server.mode = "redirect"

    with pytest.raises(BreachCheckUnavailable, match="302"):
        checker_for(range_server).is_breached(PASSWORD)

    assert [request.path[:7] for request in range_server.requests] == ["/range/"]


def test_failure_messages_hide_password(
    range_server: RangeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors and warnings name the service and the cause, never the password or its hash."""
    range_server.body = "garbage"
    caplog.set_level(logging.DEBUG, logger="jivs_security")
    digest = sha1_hex(PASSWORD)

    with pytest.raises(BreachCheckUnavailable) as caught:
        checker_for(range_server).is_breached(PASSWORD)
    checker_for(range_server, on_unavailable="open").is_breached(PASSWORD)

    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert PASSWORD not in text
        assert digest[5:] not in text


# Injected fetch.


def test_injected_fetch_receives_request() -> None:
    """A custom fetch gets the URL, the headers and the timeout, and its body is parsed."""
    calls: list[tuple[str, Mapping[str, str], float]] = []

    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> str:
        calls.append((url, headers, timeout))
        return range_rows({PASSWORD: 9})

    checker = PwnedPasswordsChecker(fetch=fetch, base_url="https://range.test/range/", timeout=1.5)

    count = checker.breach_count(PASSWORD)

    assert count == 9
    assert calls[0][0] == "https://range.test/range/" + sha1_hex(PASSWORD)[:5]
    assert calls[0][1]["Add-Padding"] == "true"
    assert calls[0][2] == 1.5


def test_injected_fetch_oserror_unavailable() -> None:
    """An OSError from a custom fetch is an outage like any other."""

    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> str:
        raise TimeoutError("timed out")

    checker = PwnedPasswordsChecker(fetch=fetch)

    with pytest.raises(BreachCheckUnavailable, match="TimeoutError"):
        checker.is_breached(PASSWORD)


# Configuration.


def test_default_fails_closed() -> None:
    """The default is to fail closed, and the default URL is the HTTPS range API."""
    checker = PwnedPasswordsChecker()

    assert checker.on_unavailable == "closed"
    assert DEFAULT_PWNED_PASSWORDS_URL.startswith("https://")
    assert DEFAULT_PWNED_PASSWORDS_URL in repr(checker)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("base_url", "http://range.example/range/"),
        ("base_url", "https://range.example/range"),
        ("base_url", "ftp://127.0.0.1/range/"),
        ("timeout", 0),
        ("timeout", 61),
        ("timeout", True),
        ("on_unavailable", "ignore"),
        ("min_count", 0),
        ("min_count", 1.5),
    ],
)
def test_bad_settings_rejected(setting: str, value: object) -> None:
    """Plain HTTP off loopback, bad timeouts, unknown policies and counts below 1 are rejected."""
    with pytest.raises(ConfigurationError) as caught:
        PwnedPasswordsChecker(**{setting: value})  # type: ignore[arg-type]

    assert caught.value.setting == setting


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/range/", "http://localhost/range/", "http://[::1]/range/"]
)
def test_http_allowed_on_loopback(url: str) -> None:
    """Plain HTTP is accepted for loopback addresses, where tests and local mirrors run."""
    checker = PwnedPasswordsChecker(base_url=url)

    assert url in repr(checker)


def test_checkers_satisfy_protocol(tmp_path: Path) -> None:
    """Both checkers are BreachCheckers."""
    path = tmp_path / "hashes.txt"
    path.write_text(sha1_hex(PASSWORD) + ":1\n", encoding="ascii")

    assert isinstance(PwnedPasswordsChecker(), BreachChecker)
    assert isinstance(OfflineBreachChecker(path), BreachChecker)


# The policy with a breach checker.


def test_policy_reports_breached(range_server: RangeServer) -> None:
    """nist(breach_checker=...) adds a breached violation for a listed password."""
    range_server.body = range_rows({PASSWORD: 1234})
    policy = PasswordPolicy.nist(breach_checker=checker_for(range_server))

    breached = policy.check(PASSWORD)
    fresh = policy.check(OTHER_PASSWORD)

    assert breached.codes == ("breached",)
    assert fresh.ok


def test_policy_outage_fails_closed(range_server: RangeServer) -> None:
    """A policy whose checker fails closed raises for an otherwise good password."""
    range_server.mode = "status"
    range_server.status = 503
    policy = PasswordPolicy.nist(breach_checker=checker_for(range_server))

    with pytest.raises(BreachCheckUnavailable):
        policy.check(PASSWORD)


def test_policy_outage_fails_open(range_server: RangeServer) -> None:
    """A policy whose checker fails open accepts an otherwise good password."""
    range_server.mode = "status"
    range_server.status = 503
    policy = PasswordPolicy.nist(breach_checker=checker_for(range_server, on_unavailable="open"))

    result = policy.check(PASSWORD)

    assert result.ok


# The offline checker.


def write_hash_file(
    path: Path,
    entries: Mapping[str, int],
    *,
    counts: bool = True,
    lower: bool = False,
    newline: str = "\r\n",
) -> Path:
    """Write ``entries`` (hash to count) sorted, in the Pwned Passwords download format."""
    lines = []
    for digest in sorted(entries):
        text = digest.lower() if lower else digest
        lines.append(f"{text}:{entries[digest]}" if counts else text)
    path.write_text(newline.join(lines) + newline, encoding="ascii", newline="")
    return path


def corpus(size: int, *passwords: str) -> dict[str, int]:
    """Return ``size`` random hashes with counts, plus the hashes of ``passwords`` with count 5."""
    entries = {secrets.token_hex(20).upper(): index + 1 for index in range(size)}
    entries.update({sha1_hex(password): 5 for password in passwords})
    return entries


def test_offline_finds_listed_password(tmp_path: Path) -> None:
    """A password whose hash is listed returns its count."""
    checker = OfflineBreachChecker(write_hash_file(tmp_path / "h.txt", corpus(500, PASSWORD)))

    assert checker.breach_count(PASSWORD) == 5
    assert checker.is_breached(PASSWORD)
    assert not checker.is_breached(OTHER_PASSWORD)


def test_offline_first_and_last_lines(tmp_path: Path) -> None:
    """The search finds the passwords on the first and the last line of the file."""
    passwords = [f"listed-{index}" for index in range(300)]
    by_hash = sorted(passwords, key=sha1_hex)
    checker = OfflineBreachChecker(write_hash_file(tmp_path / "h.txt", corpus(0, *passwords)))

    assert checker.breach_count(by_hash[0]) == 5
    assert checker.breach_count(by_hash[-1]) == 5


@pytest.mark.parametrize(
    ("counts", "lower", "newline"),
    [(False, False, "\n"), (True, True, "\n"), (False, True, "\r\n"), (True, False, "\n")],
)
def test_offline_file_variants(tmp_path: Path, counts: bool, lower: bool, newline: str) -> None:
    """Plain hash lists, lower-case hex and LF line ends work; plain lists count once."""
    path = write_hash_file(
        tmp_path / "h.txt", corpus(200, PASSWORD), counts=counts, lower=lower, newline=newline
    )

    count = OfflineBreachChecker(path).breach_count(PASSWORD)

    assert count == (5 if counts else 1)


def test_offline_min_count(tmp_path: Path) -> None:
    """min_count applies to the offline file too."""
    path = write_hash_file(tmp_path / "h.txt", corpus(50, PASSWORD))

    assert not OfflineBreachChecker(path, min_count=6).is_breached(PASSWORD)


class CountingReader:
    """A binary file that counts the bytes its readline calls return."""

    def __init__(self, handle: BinaryIO, counter: list[int]) -> None:
        self._handle = handle
        self._counter = counter

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def readline(self) -> bytes:
        line = self._handle.readline()
        self._counter[0] += len(line)
        return line


def test_offline_reads_few_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lookup in 100,000 lines reads a few kilobytes, not the file."""
    path = write_hash_file(tmp_path / "h.txt", corpus(100_000, PASSWORD))
    checker = OfflineBreachChecker(path)
    counter = [0]
    original_open: Callable[..., Any] = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        return CountingReader(original_open(self, *args, **kwargs), counter)

    monkeypatch.setattr(Path, "open", counting_open)

    found = checker.breach_count(PASSWORD)

    assert found == 5
    assert path.stat().st_size > 4_000_000
    assert counter[0] < 5_000


@settings(max_examples=60, deadline=None)
@given(
    listed=st.sets(st.text(max_size=12), min_size=1, max_size=40),
    probes=st.lists(st.text(max_size=12), max_size=10),
)
def test_offline_search_matches_set(listed: set[str], probes: list[str]) -> None:
    """Binary search over the file agrees with set membership for listed and other passwords."""
    with tempfile.TemporaryDirectory() as directory:
        path = write_hash_file(Path(directory) / "h.txt", corpus(0, *listed))
        checker = OfflineBreachChecker(path)

        for password in [*listed, *probes]:
            assert checker.is_breached(password) is (password in listed)


def test_offline_bad_first_line_rejected(tmp_path: Path) -> None:
    """A file that does not start with a hash line is rejected at construction."""
    path = tmp_path / "h.txt"
    path.write_text("password123\n", encoding="ascii")

    with pytest.raises(ConfigurationError, match="byte 0"):
        OfflineBreachChecker(path)


def test_offline_bad_middle_line_reported(tmp_path: Path) -> None:
    """A malformed line met by the search is a configuration error naming its offset."""
    path = tmp_path / "h.txt"
    path.write_text(sha1_hex(OTHER_PASSWORD) + "\n" + "not a hash line\n" * 50, encoding="ascii")
    checker = OfflineBreachChecker(path)

    with pytest.raises(ConfigurationError, match=r"line at byte [1-9][0-9]* that is not SHA1"):
        checker.is_breached(PASSWORD)


def test_offline_missing_file_rejected(tmp_path: Path) -> None:
    """A missing file is rejected at construction, naming the path."""
    with pytest.raises(ConfigurationError, match=r"absent\.txt"):
        OfflineBreachChecker(tmp_path / "absent.txt")


def free_loopback_port() -> int:
    """Return a loopback port that nothing listens on: bind it, note it, close it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
