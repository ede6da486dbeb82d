"""EnvelopeCipher end to end with each real key provider: round trips, two providers, rotation.

The Transit tests run against an OpenBao dev server and the KMS tests
against moto, both on 127.0.0.1 (see tests/conftest.py). Each test mounts
Transit at a random path or creates its own KMS key, so tests share the
session's servers without seeing each other's keys. The outage tests stop
a private OpenBao server in the middle of the test.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import boto3
import hvac
import pytest

from jivs_security.crypto._aws import AwsKmsProvider
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._local import LocalKeyProvider
from jivs_security.crypto._provider import KeyProvider
from jivs_security.crypto._rewrap import BulkRewrap
from jivs_security.crypto._vault import VaultTransitProvider
from jivs_security.errors import KeyUnavailable
from servers import OpenBaoServer, VaultEndpoint

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

CONTEXT = {"tenant": "acme", "table": "invoices"}
KEY_NAME = "data-keys"
REGION = "us-east-1"
SEGMENT = 1024

# Three full segments and a short fourth one, at the smallest segment size.
MESSAGE = bytes(range(256)) * 13

# Four segments of the default 64 KiB and a short fifth one.
STREAM_BYTES = 4 * 64 * 1024 + 123

integration = pytest.mark.integration
PROVIDER_KINDS = [
    "local",
    pytest.param("vault-transit", marks=integration),
    pytest.param("aws-kms", marks=integration),
]
REMOTE_KINDS = [
    pytest.param("vault-transit", marks=integration),
    pytest.param("aws-kms", marks=integration),
]


def dummy_session() -> boto3.session.Session:
    """Return a boto3 session with dummy credentials, which moto accepts."""
    return boto3.session.Session(
        aws_access_key_id="AKIAJIVSINTEGRATION0",
        aws_secret_access_key="jivs-integration-test-secret",
        region_name=REGION,
    )


def transit_admin(endpoint: VaultEndpoint) -> hvac.Client:
    """Return an hvac client with the endpoint's token, for mounting Transit."""
    return hvac.Client(url=endpoint.address, token=endpoint.token, timeout=10)


@pytest.fixture
def local(tmp_path: Path) -> LocalKeyProvider:
    """A new local keyset in the test's directory."""
    return LocalKeyProvider.create(tmp_path / "keyset.json")


@pytest.fixture
def transit(openbao: VaultEndpoint) -> Iterator[VaultTransitProvider]:
    """A provider whose derived key lives on a Transit mount of its own, removed afterwards."""
    mount = f"transit-{uuid4().hex[:12]}"
    admin = transit_admin(openbao)
    admin.sys.enable_secrets_engine("transit", path=mount)
    provider = VaultTransitProvider(
        url=openbao.address, token=openbao.token, key_name=KEY_NAME, mount_point=mount
    )
    provider.ensure_key()

    yield provider

    provider.close()
    admin.adapter.delete(f"/v1/sys/mounts/{mount}")
    admin.adapter.close()


@pytest.fixture
def kms(kms_endpoint: str) -> Iterator[AwsKmsProvider]:
    """A provider for a new symmetric KMS key."""
    admin: KMSClient = dummy_session().client("kms", endpoint_url=kms_endpoint)
    key_arn = admin.create_key(Description="jivs integration test key")["KeyMetadata"]["Arn"]
    admin.close()
    provider = AwsKmsProvider(key_arn, session=dummy_session(), endpoint_url=kms_endpoint)

    yield provider

    provider.close()


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> KeyProvider:
    """The provider of the kind the test is parametrised with."""
    fixture_name = {"local": "local", "vault-transit": "transit", "aws-kms": "kms"}[request.param]
    chosen: KeyProvider = request.getfixturevalue(fixture_name)
    return chosen


@pytest.fixture
def remote(request: pytest.FixtureRequest) -> KeyProvider:
    """The key-service provider of the kind the test is parametrised with."""
    chosen: KeyProvider = request.getfixturevalue(
        {"vault-transit": "transit", "aws-kms": "kms"}[request.param]
    )
    return chosen


def private_transit(server: OpenBaoServer) -> VaultTransitProvider:
    """Mount Transit on a private server and return a provider with a 2-second timeout."""
    admin = transit_admin(server.endpoint)
    admin.sys.enable_secrets_engine("transit")
    admin.adapter.close()
    provider = VaultTransitProvider(
        url=server.address, token=server.root_token, key_name=KEY_NAME, timeout=2.0
    )
    provider.ensure_key()
    return provider


def stream_round_trip(cipher: EnvelopeCipher, tmp_path: Path, data: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``data`` from a file into a file and back; return the message and the output."""
    plain, sealed, opened = tmp_path / "plain", tmp_path / "sealed", tmp_path / "opened"
    plain.write_bytes(data)
    with plain.open("rb") as source, sealed.open("wb") as destination:
        cipher.encrypt_stream(source, destination, context=CONTEXT)
    with sealed.open("rb") as source, opened.open("wb") as destination:
        cipher.decrypt_stream(source, destination, context=CONTEXT)
    return sealed.read_bytes(), opened.read_bytes()


# Round trips through each provider.


@pytest.mark.parametrize("provider", PROVIDER_KINDS, indirect=True)
def test_round_trip_in_memory(provider: KeyProvider) -> None:
    """A message of four segments decrypts to its plaintext."""
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)

    blob = cipher.encrypt(MESSAGE, context=CONTEXT)

    assert cipher.decrypt(blob, context=CONTEXT) == MESSAGE


@pytest.mark.parametrize("provider", PROVIDER_KINDS, indirect=True)
def test_round_trip_empty_message(provider: KeyProvider) -> None:
    """An empty plaintext round-trips."""
    cipher = EnvelopeCipher(provider)

    blob = cipher.encrypt(b"", context=CONTEXT)

    assert cipher.decrypt(blob, context=CONTEXT) == b""


@pytest.mark.parametrize("provider", PROVIDER_KINDS, indirect=True)
def test_round_trip_streaming(provider: KeyProvider, tmp_path: Path) -> None:
    """A file of five segments streams through encryption and decryption unchanged."""
    data = os.urandom(STREAM_BYTES)
    cipher = EnvelopeCipher(provider)

    sealed, opened = stream_round_trip(cipher, tmp_path, data)

    assert opened == data
    assert cipher.decrypt(sealed, context=CONTEXT) == data


@pytest.mark.parametrize("provider", PROVIDER_KINDS, indirect=True)
def test_header_names_provider(provider: KeyProvider) -> None:
    """The header's one wrapped key names the provider kind."""
    blob = EnvelopeCipher(provider).encrypt(b"data", context=CONTEXT)

    ((provider_id, _),) = EnvelopeCipher.inspect(blob).key_ids

    assert provider_id == provider.provider_id


# Two providers.


@pytest.mark.parametrize("remote", REMOTE_KINDS, indirect=True)
@pytest.mark.parametrize("holder", ["local", "remote"])
def test_two_providers_either_decrypts(
    local: LocalKeyProvider, remote: KeyProvider, holder: str
) -> None:
    """A message wrapped by the local keyset and a key service decrypts with either alone."""
    blob = EnvelopeCipher(local, remote).encrypt(MESSAGE, context=CONTEXT)
    alone = EnvelopeCipher(local if holder == "local" else remote)

    assert alone.decrypt(blob, context=CONTEXT) == MESSAGE


@pytest.mark.parametrize("remote", REMOTE_KINDS, indirect=True)
def test_two_providers_stream_either_decrypts(
    local: LocalKeyProvider, remote: KeyProvider, tmp_path: Path
) -> None:
    """A stream wrapped by both providers decrypts with the key service alone."""
    data = os.urandom(STREAM_BYTES)
    sealed, _ = stream_round_trip(EnvelopeCipher(local, remote), tmp_path, data)

    opened = io.BytesIO()
    EnvelopeCipher(remote).decrypt_stream(io.BytesIO(sealed), opened, context=CONTEXT)

    assert opened.getvalue() == data


@pytest.mark.parametrize("remote", REMOTE_KINDS, indirect=True)
def test_two_providers_header_order(local: LocalKeyProvider, remote: KeyProvider) -> None:
    """The header lists the local wrapped key first and the key service's second."""
    blob = EnvelopeCipher(local, remote).encrypt(b"data", context=CONTEXT)

    providers = [provider_id for provider_id, _ in EnvelopeCipher.inspect(blob).key_ids]

    assert providers == ["local", remote.provider_id]


@pytest.mark.integration
def test_local_rotation_rewrap_keeps_kms(local: LocalKeyProvider, kms: AwsKmsProvider) -> None:
    """After a local rotation, rewrap moves the local key to v2 and re-encrypts the KMS one."""
    cipher = EnvelopeCipher(local, kms)
    blob = cipher.encrypt(MESSAGE, context=CONTEXT)
    old = EnvelopeCipher.inspect(blob).wrapped_keys
    local.promote(local.add_version())

    rewrapped = cipher.rewrap(blob)
    local.retire(1)

    new = EnvelopeCipher.inspect(rewrapped).wrapped_keys
    assert new[0].key_id == f"{local.keyset_id}/v2"
    assert new[1].key_id == old[1].key_id
    assert new[1].ciphertext != old[1].ciphertext
    assert EnvelopeCipher(local).decrypt(rewrapped, context=CONTEXT) == MESSAGE
    assert EnvelopeCipher(kms).decrypt(rewrapped, context=CONTEXT) == MESSAGE


# Rotation in Transit.


@pytest.mark.integration
def test_transit_rewrap_after_rotation(transit: VaultTransitProvider) -> None:
    """Rewrap moves a message to v2; once v1 is retired, only the rewrapped message opens."""
    cipher = EnvelopeCipher(transit)
    blob = cipher.encrypt(MESSAGE, context=CONTEXT)
    transit.rotate()

    rewrapped = cipher.rewrap(blob)
    transit.set_min_decryption_version(2)

    assert EnvelopeCipher.inspect(blob).key_ids == (("vault-transit", f"{KEY_NAME}:v1"),)
    assert EnvelopeCipher.inspect(rewrapped).key_ids == (("vault-transit", f"{KEY_NAME}:v2"),)
    assert cipher.decrypt(rewrapped, context=CONTEXT) == MESSAGE
    with pytest.raises(KeyUnavailable) as caught:
        cipher.decrypt(blob, context=CONTEXT)
    assert caught.value.retryable is False
    assert "min_decryption_version" in str(caught.value)


@pytest.mark.integration
def test_transit_bulk_rewrap(transit: VaultTransitProvider, tmp_path: Path) -> None:
    """A bulk rewrap after rotation leaves only v2 in use, and v1 can then be retired."""
    cipher = EnvelopeCipher(transit, segment_size=SEGMENT)
    stored = {f"record-{n}": cipher.encrypt(MESSAGE[: n * 300], context=CONTEXT) for n in range(8)}
    transit.rotate()

    report = BulkRewrap(cipher, checkpoint=tmp_path / "rewrap.checkpoint").run(
        list(stored.items()), stored.__setitem__
    )
    transit.set_min_decryption_version(2)

    assert report.rewrapped == 8
    assert report.still_in_use("vault-transit") == {f"{KEY_NAME}:v2"}
    for number in range(8):
        plaintext = cipher.decrypt(stored[f"record-{number}"], context=CONTEXT)
        assert plaintext == MESSAGE[: number * 300]


# OpenBao going away in the middle of a test.


@pytest.mark.timeout(60)
def test_stopped_openbao_stream_writes_nothing(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    """With OpenBao stopped, encrypt_stream raises KeyUnavailable and writes no byte."""
    cipher = EnvelopeCipher(private_transit(openbao_server))
    source_path, destination_path = tmp_path / "plain", tmp_path / "sealed"
    source_path.write_bytes(os.urandom(STREAM_BYTES))
    openbao_server.stop()

    with (
        source_path.open("rb") as source,
        destination_path.open("wb") as destination,
        pytest.raises(KeyUnavailable) as caught,
    ):
        cipher.encrypt_stream(source, destination, context=CONTEXT)

    assert caught.value.retryable is True
    assert destination_path.stat().st_size == 0


@pytest.mark.timeout(60)
def test_stopped_openbao_stream_source_unread(openbao_server: OpenBaoServer) -> None:
    """With OpenBao stopped, encrypt_stream fails before it reads the source."""
    cipher = EnvelopeCipher(private_transit(openbao_server))
    source = io.BytesIO(b"plaintext")
    openbao_server.stop()

    with pytest.raises(KeyUnavailable):
        cipher.encrypt_stream(source, io.BytesIO(), context=CONTEXT)

    assert source.tell() == 0


@pytest.mark.timeout(60)
def test_stopped_openbao_decrypt_retryable(openbao_server: OpenBaoServer) -> None:
    """A message whose only provider stopped raises a retryable KeyUnavailable."""
    cipher = EnvelopeCipher(private_transit(openbao_server))
    blob = cipher.encrypt(MESSAGE, context=CONTEXT)

    openbao_server.stop()

    with pytest.raises(KeyUnavailable) as caught:
        cipher.decrypt(blob, context=CONTEXT)
    assert caught.value.retryable is True
    assert caught.value.provider == "vault-transit"


@pytest.mark.timeout(60)
def test_stopped_openbao_local_still_decrypts(
    openbao_server: OpenBaoServer, local: LocalKeyProvider
) -> None:
    """A message wrapped by Transit, then the local keyset, opens while OpenBao is down."""
    cipher = EnvelopeCipher(private_transit(openbao_server), local)
    blob = cipher.encrypt(MESSAGE, context=CONTEXT)

    openbao_server.stop()

    assert EnvelopeCipher.inspect(blob).key_ids[0][0] == "vault-transit"
    assert cipher.decrypt(blob, context=CONTEXT) == MESSAGE


@pytest.mark.timeout(60)
def test_stopped_openbao_local_stream_decrypts(
    openbao_server: OpenBaoServer, local: LocalKeyProvider
) -> None:
    """Streaming decryption also falls back to the local keyset while OpenBao is down."""
    cipher = EnvelopeCipher(private_transit(openbao_server), local)
    sealed = io.BytesIO()
    cipher.encrypt_stream(io.BytesIO(MESSAGE), sealed, context=CONTEXT)
    openbao_server.stop()

    opened = io.BytesIO()
    cipher.decrypt_stream(io.BytesIO(sealed.getvalue()), opened, context=CONTEXT)

    assert opened.getvalue() == MESSAGE


@pytest.mark.timeout(60)
def test_stopped_openbao_blocks_encryption(
    openbao_server: OpenBaoServer, local: LocalKeyProvider
) -> None:
    """Encryption needs every provider, so a local keyset does not stand in for OpenBao."""
    cipher = EnvelopeCipher(local, private_transit(openbao_server))
    openbao_server.stop()

    with pytest.raises(KeyUnavailable) as caught:
        cipher.encrypt(MESSAGE, context=CONTEXT)

    assert caught.value.provider == "vault-transit"
