"""Headless Chromium on loopback, a DevTools protocol client, and a page server for it.

:class:`Chromium` starts the browser with the flags in
:data:`CHROMIUM_FLAGS`, a new empty profile directory and remote debugging
on a free port of 127.0.0.1. :class:`DevTools` speaks the DevTools protocol
over that port's websocket, with flattened sessions. :class:`PageServer`
serves the pages the browser loads, from 127.0.0.1. Set
``JIVS_TEST_CHROMIUM`` to the path of a Chromium binary to use another
build.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM_FLAGS",
    "CHROMIUM_VARIABLE",
    "Chromium",
    "DevTools",
    "PageServer",
    "find_chromium",
]

CHROMIUM_VARIABLE = "JIVS_TEST_CHROMIUM"

# Debian's /usr/bin/chromium is a shell wrapper that adds flags and loads
# extensions from /etc/chromium.d. The binary behind it takes only the
# flags given here.
_DEBIAN_BINARY = "/usr/lib/chromium/chromium"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)

# Seconds.
_STARTUP_TIMEOUT = 30.0
_COMMAND_TIMEOUT = 30.0


def find_chromium() -> str | None:
    """Return the Chromium binary to run, or None when none is installed."""
    configured = os.environ.get(CHROMIUM_VARIABLE)
    if configured:
        if not os.access(configured, os.X_OK):
            raise RuntimeError(
                f"{CHROMIUM_VARIABLE} is set to {configured!r}, which is not an executable "
                "file; point it at a Chromium binary or unset it"
            )
        return configured
    if os.access(_DEBIAN_BINARY, os.X_OK):
        return _DEBIAN_BINARY
    return shutil.which("chromium")


class PageServer:
    """An HTTP server on 127.0.0.1 that serves the pages published to it, in a thread.

    Unknown paths get an empty 404, so ``<img src=x>`` fails fast and locally.
    """

    def __init__(self) -> None:
        self._pages: dict[str, bytes] = {}
        pages = self._pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?", 1)[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                """Keep request lines out of the test output."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def publish(self, path: str, html: str) -> str:
        """Serve ``html`` at ``path`` from now on and return its URL."""
        self._pages[path] = html.encode("utf-8")
        return self.origin + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Chromium:
    """A headless Chromium process with an empty profile and DevTools on a loopback port."""

    def __init__(self, binary: str, start_url: str) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="jivs-chromium-"))
        profile = self._directory / "profile"
        profile.mkdir()
        self.log_path = self._directory / "chromium.log"
        command = [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            # Port 0: Chromium picks a free port on 127.0.0.1 and writes it
            # to DevToolsActivePort in the profile directory.
            "--remote-debugging-port=0",
            start_url,
        ]
        self._log = self.log_path.open("wb")
        # A session of its own, so close() can tell when the helper processes
        # (renderers, the crash handler) have exited too.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.websocket_url = self._wait_for_port(profile / "DevToolsActivePort")
        except BaseException:
            self.close()
            raise

    def _wait_for_port(self, port_file: Path) -> str:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"Chromium exited with code {self._process.returncode} during start-up; "
                    f"its output:\n{self.log_path.read_text(errors='replace')[-4000:]}"
                )
            with contextlib.suppress(OSError):
                lines = port_file.read_text(encoding="ascii").splitlines()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            time.sleep(0.05)
        raise RuntimeError(
            f"Chromium did not open its DevTools port within {_STARTUP_TIMEOUT} s; its output:\n"
            f"{self.log_path.read_text(errors='replace')[-4000:]}"
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def close(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s) and delete the profile.

        Helper processes exit on their own once the browser is gone, and may
        write to the profile until then, so the profile is deleted after
        they have exited, or after 10 s.
        """
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._helpers_running():
            time.sleep(0.05)
        shutil.rmtree(self._directory, ignore_errors=True)

    def _helpers_running(self) -> bool:
        # Signal 0 sends nothing. It only checks whether the session's
        # process group still has a member.
        try:
            os.killpg(self._process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class DevTools:
    """A DevTools protocol connection with flattened sessions over one websocket.

    Event handlers run as soon as their event is read, also while
    :meth:`send` waits for a response. So a handler must not call
    :meth:`send`, but it may :meth:`post` commands whose responses are
    dropped.
    """

    def __init__(self, websocket_url: str) -> None:
        import websocket  # Imported here because only the browser tests need it.

        self._timeout_error: type[Exception] = websocket.WebSocketTimeoutException
        #: What the websocket raises when Chromium closes the connection.
        self.connection_errors: tuple[type[Exception], ...] = (websocket.WebSocketException,)
        # Chromium rejects websocket handshakes that carry an Origin header
        # unless started with --remote-allow-origins, so none is sent.
        self._socket = websocket.create_connection(
            websocket_url, timeout=_COMMAND_TIMEOUT, suppress_origin=True
        )
        self._next_id = 0
        self._responses: dict[int, dict[str, Any]] = {}
        self._dropped: set[int] = set()
        self._handlers: dict[str, list[Callable[[dict[str, Any], str | None], None]]] = {}
        self.last_event_at = time.monotonic()

    def on(self, method: str, handler: Callable[[dict[str, Any], str | None], None]) -> None:
        """Call ``handler(params, session_id)`` for every ``method`` event."""
        self._handlers.setdefault(method, []).append(handler)

    def post(
        self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None
    ) -> int:
        """Send a command without waiting; its response is dropped."""
        message_id = self._write(method, params, session)
        self._dropped.add(message_id)
        return message_id

    def send(
        self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send a command and return its result; raise RuntimeError for a protocol error."""
        message_id = self._write(method, params, session)
        deadline = time.monotonic() + _COMMAND_TIMEOUT
        while message_id not in self._responses:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no DevTools response to {method} in {_COMMAND_TIMEOUT} s")
            self.read(timeout=max(0.01, deadline - time.monotonic()))
        response = self._responses.pop(message_id)
        if "error" in response:
            raise RuntimeError(f"DevTools {method} failed: {response['error']}")
        result: dict[str, Any] = response.get("result", {})
        return result

    def pump(self, until: Callable[[], bool], timeout: float) -> bool:
        """Read and handle messages until ``until()`` is true or ``timeout`` s pass."""
        deadline = time.monotonic() + timeout
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.read(timeout=min(0.05, remaining))
        return True

    def read(self, timeout: float) -> None:
        """Read one message, if one arrives within ``timeout`` s, and handle it."""
        self._socket.settimeout(timeout)
        try:
            raw = self._socket.recv()
        except self._timeout_error:
            return
        message = json.loads(raw)
        if "id" in message:
            if message["id"] in self._dropped:
                self._dropped.discard(message["id"])
            else:
                self._responses[message["id"]] = message
            return
        self.last_event_at = time.monotonic()
        for handler in self._handlers.get(message.get("method", ""), ()):
            handler(message.get("params", {}), message.get("sessionId"))

    def close(self) -> None:
        self._socket.close()

    def _write(self, method: str, params: Mapping[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        return self._next_id
