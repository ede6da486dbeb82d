"""AwsKmsProvider against moto's KMS and a loopback server that returns chosen KMS errors.

Every client gets dummy credentials and a loopback endpoint, so no request
can reach AWS or the instance metadata service. What moto 5.2.6 checks, as
read in its source and shown by the tests below: the encryption context
(AES-GCM additional data), ciphertext integrity, and the KeyId of Decrypt.
What it does not check: the key state (Decrypt, Encrypt, GenerateDataKey and
ReEncrypt all work on a disabled key or one pending deletion), the
SourceKeyId of ReEncrypt, and the key usage of GenerateDataKey. Its
RotateKeyOnDemand records a rotation but keeps the key material. Where moto
lacks a check, the KMS error is returned by the loopback server instead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import boto3
import botocore.credentials
import botocore.session
import pytest

from jivs_security.crypto._aws import AwsKmsProvider
from jivs_security.crypto._provider import KeyProvider, WrappedKey
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable
from servers import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

REGION = "us-east-1"
CONTEXT = {"tenant": "acme", "purpose": "invoice"}

# Distinctive dummy credentials, so a test can search errors, reprs and logs for them.
ACCESS_KEY_ID = "AKIAJIVSTESTMARKER01"
SECRET_ACCESS_KEY = "jivs-test-secret-access-key-0123456789abcdef"
SESSION_TOKEN = "jivs-test-session-token-0123456789abcdef"
CREDENTIAL_VALUES = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)


def dummy_session() -> boto3.session.Session:
    """Return a boto3 session with explicit dummy credentials, so no credential chain runs."""
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        aws_session_token=SESSION_TOKEN,
        region_name=REGION,
    )


def admin_client(endpoint_url: str) -> KMSClient:
    """Return a KMS client that tests use to create and change keys."""
    return dummy_session().client("kms", endpoint_url=endpoint_url)


ProviderFactory = Callable[..., AwsKmsProvider]


@pytest.fixture
def kms_admin(kms_endpoint: str) -> Iterator[KMSClient]:
    """A KMS client on the session's KMS endpoint, for setting up keys."""
    client = admin_client(kms_endpoint)

    yield client

    client.close()


@pytest.fixture
def key_arn(kms_admin: KMSClient) -> str:
    """ARN of a new symmetric encryption key."""
    return kms_admin.create_key(Description="jivs test key")["KeyMetadata"]["Arn"]


@pytest.fixture
def other_key_arn(kms_admin: KMSClient) -> str:
    """ARN of a second new symmetric encryption key."""
    return kms_admin.create_key(Description="jivs second test key")["KeyMetadata"]["Arn"]


@pytest.fixture
def make_provider(kms_endpoint: str) -> Iterator[ProviderFactory]:
    """A factory of providers on the session's KMS endpoint; all are closed after the test."""
    providers: list[AwsKmsProvider] = []

    def make(key_id: str, **options: Any) -> AwsKmsProvider:
        options.setdefault("session", dummy_session())
        options.setdefault("endpoint_url", kms_endpoint)
        provider = AwsKmsProvider(key_id, **options)
        providers.append(provider)
        return provider

    yield make

    for provider in providers:
        provider.close()


@pytest.fixture
def provider(make_provider: ProviderFactory, key_arn: str) -> AwsKmsProvider:
    """A provider for the key ``key_arn``."""
    return make_provider(key_arn)


# ----------------------------------------------------------- round trips


def test_provider_satisfies_protocol(provider: AwsKmsProvider) -> None:
    """AwsKmsProvider is a KeyProvider."""
    assert isinstance(provider, KeyProvider)


def test_generate_returns_32_byte_key(provider: AwsKmsProvider) -> None:
    """generate returns a 32-byte data key."""
    data_key, _ = provider.generate(CONTEXT)

    assert len(data_key) == 32


def test_generate_records_key_arn(provider: AwsKmsProvider, key_arn: str) -> None:
    """generate writes the provider kind and the key ARN into the wrapped key."""
    _, wrapped = provider.generate(CONTEXT)

    assert wrapped.provider_id == "aws-kms"
    assert wrapped.key_id == key_arn


def test_unwrap_returns_generated_key(provider: AwsKmsProvider) -> None:
    """unwrap returns the data key that generate returned."""
    data_key, wrapped = provider.generate(CONTEXT)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_wrap_then_unwrap_round_trip(provider: AwsKmsProvider) -> None:
    """unwrap returns the data key that wrap encrypted."""
    data_key = os.urandom(32)

    wrapped = provider.wrap(data_key, CONTEXT)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_empty_context_round_trip(provider: AwsKmsProvider) -> None:
    """An empty encryption context works for generate and unwrap."""
    data_key, wrapped = provider.generate({})

    assert provider.unwrap(wrapped, {}) == data_key


def test_alias_resolves_to_key_arn(
    make_provider: ProviderFactory, kms_admin: KMSClient, key_arn: str
) -> None:
    """A provider configured with an alias records the key ARN, not the alias."""
    kms_admin.create_alias(AliasName="alias/jivs-resolve", TargetKeyId=key_arn)
    aliased = make_provider("alias/jivs-resolve")

    _, wrapped = aliased.generate(CONTEXT)

    assert wrapped.key_id == key_arn


def test_bare_key_id_resolves_to_arn(make_provider: ProviderFactory, key_arn: str) -> None:
    """key_arn looks up the ARN of a key configured by its bare key id."""
    bare_id = key_arn.rsplit("/", 1)[1]

    resolved = make_provider(bare_id).key_arn()

    assert resolved == key_arn


def test_alias_provider_unwraps_arn_wrapped_key(
    make_provider: ProviderFactory, kms_admin: KMSClient, key_arn: str
) -> None:
    """Providers configured by alias and by ARN read each other's wrapped keys."""
    kms_admin.create_alias(AliasName="alias/jivs-shared", TargetKeyId=key_arn)
    data_key, wrapped = make_provider(key_arn).generate(CONTEXT)

    unwrapped = make_provider("alias/jivs-shared").unwrap(wrapped, CONTEXT)

    assert unwrapped == data_key


# ------------------------------------------------------ authentication


@pytest.mark.parametrize(
    "other_context",
    [
        pytest.param({"tenant": "acme", "purpose": "payroll"}, id="changed-value"),
        pytest.param({"tenant": "acme"}, id="missing-pair"),
        pytest.param({**CONTEXT, "extra": "1"}, id="added-pair"),
        pytest.param({"tenant": "ACME", "purpose": "invoice"}, id="changed-case"),
        pytest.param({}, id="empty"),
    ],
)
def test_unwrap_other_context_fails(
    provider: AwsKmsProvider, other_context: dict[str, str]
) -> None:
    """KMS binds the encryption context: unwrap with any other context fails."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.unwrap(wrapped, other_context)


def test_unwrap_tampered_ciphertext_fails(provider: AwsKmsProvider) -> None:
    """A wrapped key with one bit flipped does not decrypt."""
    _, wrapped = provider.generate(CONTEXT)
    damaged = bytearray(wrapped.ciphertext)
    damaged[-1] ^= 0x01
    tampered = WrappedKey(wrapped.provider_id, wrapped.key_id, bytes(damaged))

    with pytest.raises(DecryptionFailed):
        provider.unwrap(tampered, CONTEXT)


def test_unwrap_truncated_ciphertext_fails(provider: AwsKmsProvider) -> None:
    """A wrapped key cut short does not decrypt."""
    _, wrapped = provider.generate(CONTEXT)
    truncated = WrappedKey(wrapped.provider_id, wrapped.key_id, wrapped.ciphertext[:20])

    with pytest.raises(DecryptionFailed):
        provider.unwrap(truncated, CONTEXT)


def test_unwrap_swapped_ciphertext_refused(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """A ciphertext of another key, relabelled with this key's ARN, is refused through KeyId.

    NOTE: moto returns AccessDeniedException, which maps to KeyUnavailable.
    AWS KMS returns IncorrectKeyException, which maps to DecryptionFailed
    (see test_incorrect_key_fails_decryption). Either way no key is returned.
    """
    _, foreign = make_provider(other_key_arn).generate(CONTEXT)
    relabelled = WrappedKey("aws-kms", key_arn, foreign.ciphertext)

    with pytest.raises((DecryptionFailed, KeyUnavailable)):
        make_provider(key_arn).unwrap(relabelled, CONTEXT)


def test_unwrap_other_key_arn_rejected(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """unwrap raises KeyUnavailable, not retryable, for a wrapped key naming another key."""
    _, wrapped = make_provider(other_key_arn).generate(CONTEXT)

    with pytest.raises(KeyUnavailable) as caught:
        make_provider(key_arn).unwrap(wrapped, CONTEXT)

    assert caught.value.retryable is False
    assert caught.value.key_id == other_key_arn


def test_unwrap_other_provider_rejected(provider: AwsKmsProvider, key_arn: str) -> None:
    """unwrap raises KeyUnavailable for a wrapped key of another provider kind."""
    wrapped = WrappedKey("local", key_arn, b"\x00" * 60)

    with pytest.raises(KeyUnavailable, match="'local'"):
        provider.unwrap(wrapped, CONTEXT)


def test_can_unwrap_own_key(provider: AwsKmsProvider) -> None:
    """can_unwrap accepts a wrapped key under the provider's key."""
    _, wrapped = provider.generate(CONTEXT)

    assert provider.can_unwrap(wrapped) is True


def test_can_unwrap_other_key(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """can_unwrap rejects a wrapped key under another key."""
    _, wrapped = make_provider(other_key_arn).generate(CONTEXT)

    assert make_provider(key_arn).can_unwrap(wrapped) is False


def test_can_unwrap_other_provider(provider: AwsKmsProvider, key_arn: str) -> None:
    """can_unwrap rejects a wrapped key of another provider kind, even with the same key id."""
    wrapped = WrappedKey("vault-transit", key_arn, b"ciphertext")

    assert provider.can_unwrap(wrapped) is False


# ------------------------------------------------------------- rewrap


def test_rewrap_moves_to_provider_key(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """rewrap re-encrypts a wrapped key under the provider's own key."""
    _, old = make_provider(other_key_arn).generate(CONTEXT)

    renewed = make_provider(key_arn).rewrap(old, CONTEXT)

    assert renewed.key_id == key_arn


def test_rewrap_keeps_data_key(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """The rewrapped key unwraps to the original data key."""
    data_key, old = make_provider(other_key_arn).generate(CONTEXT)
    provider = make_provider(key_arn)

    renewed = provider.rewrap(old, CONTEXT)

    assert provider.unwrap(renewed, CONTEXT) == data_key


def test_rewrap_wrong_context_fails(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """ReEncrypt checks the source encryption context."""
    _, old = make_provider(other_key_arn).generate(CONTEXT)

    with pytest.raises(DecryptionFailed):
        make_provider(key_arn).rewrap(old, {"tenant": "other"})


def test_rewrapped_key_bound_to_context(
    make_provider: ProviderFactory, key_arn: str, other_key_arn: str
) -> None:
    """The rewrapped key is bound to the same context as before."""
    _, old = make_provider(other_key_arn).generate(CONTEXT)
    provider = make_provider(key_arn)
    renewed = provider.rewrap(old, CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.unwrap(renewed, {"tenant": "other"})


@pytest.mark.xfail(
    reason="moto 5.2.6 ignores the SourceKeyId of ReEncrypt; AWS KMS returns IncorrectKeyException",
    raises=pytest.fail.Exception,
    strict=True,
)
def test_rewrap_checks_source_key(
    make_provider: ProviderFactory, kms_admin: KMSClient, key_arn: str, other_key_arn: str
) -> None:
    """ReEncrypt refuses a ciphertext whose recorded source key is not the one that encrypted it."""
    third_arn = kms_admin.create_key()["KeyMetadata"]["Arn"]
    _, old = make_provider(other_key_arn).generate(CONTEXT)
    relabelled = WrappedKey("aws-kms", third_arn, old.ciphertext)

    with pytest.raises(DecryptionFailed):
        make_provider(key_arn).rewrap(relabelled, CONTEXT)


def test_rewrap_other_provider_rejected(provider: AwsKmsProvider) -> None:
    """rewrap raises KeyUnavailable for a wrapped key of another provider kind."""
    wrapped = WrappedKey("local", "keyset/v1", b"\x00" * 60)

    with pytest.raises(KeyUnavailable, match="'local'"):
        provider.rewrap(wrapped, CONTEXT)


def test_unwrap_after_rotation(
    provider: AwsKmsProvider, kms_admin: KMSClient, key_arn: str
) -> None:
    """A data key wrapped before a key rotation still unwraps after it.

    NOTE: moto's RotateKeyOnDemand does not change the key material, so this
    test cannot show that KMS decrypts with the material of an older rotation.
    """
    data_key, wrapped = provider.generate(CONTEXT)

    kms_admin.rotate_key_on_demand(KeyId=key_arn)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


# ------------------------------------------------------ unusable keys


def test_missing_alias_unavailable(make_provider: ProviderFactory) -> None:
    """A provider whose alias does not exist raises KeyUnavailable, not retryable."""
    missing = make_provider("alias/jivs-does-not-exist")

    with pytest.raises(KeyUnavailable) as caught:
        missing.generate(CONTEXT)

    assert caught.value.retryable is False
    assert caught.value.key_id == "alias/jivs-does-not-exist"
    assert "NotFoundException" in str(caught.value)


def test_denied_describe_key_unavailable(
    make_provider: ProviderFactory, kms_admin: KMSClient
) -> None:
    """A key policy that denies DescribeKey makes ARN resolution raise KeyUnavailable."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}
        ],
    }
    key_id = kms_admin.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    wrapped = WrappedKey("aws-kms", "arn:aws:kms:us-east-1:123456789012:key/x", b"blob")

    with pytest.raises(KeyUnavailable) as caught:
        make_provider(key_id).can_unwrap(wrapped)

    assert caught.value.retryable is False
    assert "AccessDeniedException" in str(caught.value)


def test_asymmetric_key_rejected(make_provider: ProviderFactory, kms_admin: KMSClient) -> None:
    """A signing key raises KeyUnavailable from the DescribeKey check, before GenerateDataKey."""
    metadata = kms_admin.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]

    with pytest.raises(KeyUnavailable, match="SYMMETRIC_DEFAULT") as caught:
        make_provider(metadata["KeyId"]).generate(CONTEXT)

    assert caught.value.retryable is False


@pytest.mark.xfail(
    reason="moto 5.2.6 does not check the key state; AWS KMS returns DisabledException",
    raises=pytest.fail.Exception,
    strict=True,
)
def test_disabled_key_refused_by_kms(
    provider: AwsKmsProvider, kms_admin: KMSClient, key_arn: str
) -> None:
    """KMS rejects GenerateDataKey with a disabled key."""
    # moto 5.2.6 fails with HTTP 500 when DisableKey is given a key ARN.
    kms_admin.disable_key(KeyId=key_arn.rsplit("/", 1)[1])

    with pytest.raises(KeyUnavailable):
        provider.generate(CONTEXT)


# ------------------------------------------------------- stopped server


@pytest.mark.timeout(60)
def test_stopped_server_retryable(moto_server: MotoServer) -> None:
    """A KMS endpoint that went away raises KeyUnavailable marked retryable, within the timeouts."""
    admin = admin_client(moto_server.endpoint_url)
    key_arn = admin.create_key()["KeyMetadata"]["Arn"]
    admin.close()
    provider = AwsKmsProvider(
        key_arn, session=dummy_session(), endpoint_url=moto_server.endpoint_url
    )
    _, wrapped = provider.generate(CONTEXT)

    moto_server.stop()
    with pytest.raises(KeyUnavailable) as caught:
        provider.unwrap(wrapped, CONTEXT)
    provider.close()

    assert caught.value.retryable is True
    assert "EndpointConnectionError" in str(caught.value)


def test_arn_provider_needs_no_lookup(moto_server: MotoServer) -> None:
    """A provider configured with a key ARN decides can_unwrap without calling KMS."""
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    provider = AwsKmsProvider(
        key_arn, session=dummy_session(), endpoint_url=moto_server.endpoint_url
    )
    moto_server.stop()

    accepted = provider.can_unwrap(WrappedKey("aws-kms", key_arn, b"blob"))
    provider.close()

    assert accepted is True


# ------------------------------------------------------------- secrets


def test_repr_hides_credentials(provider: AwsKmsProvider, key_arn: str) -> None:
    """repr shows the key, region and endpoint but no credential."""
    text = repr(provider)

    assert key_arn in text
    for secret in CREDENTIAL_VALUES:
        assert secret not in text


def test_errors_hide_credentials_and_keys(
    make_provider: ProviderFactory, provider: AwsKmsProvider
) -> None:
    """Errors and their causes contain neither credentials nor data key bytes."""
    data_key, wrapped = provider.generate(CONTEXT)
    errors: list[BaseException] = []
    attempts: list[Callable[[], object]] = [
        lambda: provider.unwrap(wrapped, {"tenant": "other"}),
        lambda: make_provider("alias/jivs-missing").wrap(data_key, CONTEXT),
        lambda: provider.wrap(data_key[:31], CONTEXT),
    ]
    for attempt in attempts:
        with pytest.raises((DecryptionFailed, KeyUnavailable, ConfigurationError)) as caught:
            attempt()
        errors.append(caught.value)

    for error in errors:
        texts = [str(error), repr(error), str(error.__cause__), repr(error.__cause__)]
        for text in texts:
            for secret in CREDENTIAL_VALUES:
                assert secret not in text
            assert data_key.hex() not in text
            assert repr(data_key)[2:-1] not in text


def test_logs_hide_credentials_and_keys(
    provider: AwsKmsProvider, make_provider: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Debug and info logs of every operation contain neither credentials nor data keys."""
    caplog.set_level(logging.DEBUG, logger="jivs_security.crypto")
    data_key, wrapped = provider.generate(CONTEXT)
    provider.unwrap(wrapped, CONTEXT)
    provider.rewrap(wrapped, CONTEXT)
    with pytest.raises(DecryptionFailed):
        provider.unwrap(wrapped, {"tenant": "other"})

    logged = "\n".join(record.getMessage() for record in caplog.records)

    assert "aws-kms" in logged
    for secret in CREDENTIAL_VALUES:
        assert secret not in logged
    assert data_key.hex() not in logged
    assert repr(data_key)[2:-1] not in logged


# ---------------------------------------------------------- validation


@pytest.mark.parametrize("key_id", ["", " alias/app", "alias/app\n", "k" * 2049, 42, None])
def test_invalid_key_id_rejected(aws_test_environment: None, key_id: object) -> None:
    """An empty, padded, overlong or non-str key id raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        AwsKmsProvider(key_id, session=dummy_session())  # type: ignore[arg-type]

    assert caught.value.setting == "key_id"


@pytest.mark.parametrize("setting", ["connect_timeout", "read_timeout"])
@pytest.mark.parametrize("value", [0, -1.0, float("nan"), True, "5"])
def test_invalid_timeout_rejected(aws_test_environment: None, setting: str, value: object) -> None:
    """A timeout that is not a positive number of seconds raises ConfigurationError."""
    options: dict[str, Any] = {setting: value}

    with pytest.raises(ConfigurationError) as caught:
        AwsKmsProvider("alias/app", session=dummy_session(), **options)

    assert caught.value.setting == setting


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_invalid_max_attempts_rejected(aws_test_environment: None, value: object) -> None:
    """max_attempts below 1 or not an int raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        AwsKmsProvider("alias/app", session=dummy_session(), max_attempts=value)  # type: ignore[arg-type]

    assert caught.value.setting == "max_attempts"


def test_client_with_endpoint_rejected(aws_test_environment: None) -> None:
    """A client together with endpoint_url raises ConfigurationError."""
    client = admin_client("http://127.0.0.1:1")

    with pytest.raises(ConfigurationError) as caught:
        AwsKmsProvider("alias/app", client=client, endpoint_url="http://127.0.0.1:1")
    client.close()

    assert caught.value.setting == "client"


def test_missing_region_rejected(aws_test_environment: None) -> None:
    """Without a region from the arguments, session or environment, construction fails."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY
    )

    with pytest.raises(ConfigurationError) as caught:
        AwsKmsProvider("alias/app", session=session)

    assert caught.value.setting == "region_name"


def test_invalid_endpoint_rejected(aws_test_environment: None) -> None:
    """An endpoint_url that botocore cannot parse raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        AwsKmsProvider("alias/app", session=dummy_session(), endpoint_url="not a url")

    assert caught.value.setting == "endpoint_url"


def test_endpoint_userinfo_hidden_in_repr(aws_test_environment: None) -> None:
    """A user name and password in endpoint_url do not appear in repr."""
    provider = AwsKmsProvider(
        "alias/app", session=dummy_session(), endpoint_url="http://user:hunter2@127.0.0.1:1"
    )

    text = repr(provider)
    provider.close()

    assert "hunter2" not in text


# ------------------------------------- KMS errors from a loopback server


class FakeKms:
    """A loopback HTTP server that responds to every KMS request with one chosen error.

    ``requests`` records the operation (from the X-Amz-Target header
    ``TrentService.<Operation>``) and the JSON body of each request. With
    ``hang`` set, requests get no response until the server is closed, so the
    client's read timeout fires.
    """

    def __init__(self) -> None:
        self.status = 400
        self.code = "ThrottlingException"
        self.hang = False
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeKmsHandler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def operations(self) -> list[str]:
        """The KMS operation of each request received, in order."""
        return [operation for operation, _ in self.requests]

    @property
    def endpoint_url(self) -> str:
        """The ``http://`` URL of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Release hanging requests and stop the server."""
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def wait_released(self) -> None:
        """Block a request handler until close(), for at most 30 seconds."""
        self._released.wait(timeout=30)


class _FakeKmsHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        fake: FakeKms = self.server.fake  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        operation = self.headers.get("X-Amz-Target", "").removeprefix("TrentService.")
        fake.requests.append((operation, body))
        if fake.hang:
            fake.wait_released()
            return

        error = json.dumps({"__type": fake.code, "message": "chosen by the test"}).encode()
        self.send_response(fake.status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(error)))
        self.end_headers()
        self.wfile.write(error)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep request lines out of the test output."""


KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def fake_kms(aws_test_environment: None) -> Iterator[FakeKms]:
    """A loopback server that responds to every KMS request with the error a test chooses."""
    server = FakeKms()

    yield server

    server.close()


@pytest.fixture
def fake_provider(fake_kms: FakeKms) -> Iterator[ProviderFactory]:
    """A factory of providers for KEY_ARN on the fake server; all are closed after the test."""
    providers: list[AwsKmsProvider] = []

    def make(**options: Any) -> AwsKmsProvider:
        provider = AwsKmsProvider(
            KEY_ARN, session=dummy_session(), endpoint_url=fake_kms.endpoint_url, **options
        )
        providers.append(provider)
        return provider

    yield make

    for provider in providers:
        provider.close()


@pytest.mark.integration
@pytest.mark.parametrize(
    "code",
    ["NotFoundException", "DisabledException", "KMSInvalidStateException", "AccessDeniedException"],
)
def test_permanent_error_not_retryable(
    fake_kms: FakeKms, fake_provider: ProviderFactory, code: str
) -> None:
    """A missing, disabled, unusable or forbidden key raises KeyUnavailable, not retryable."""
    fake_kms.code = code

    with pytest.raises(KeyUnavailable, match=code) as caught:
        fake_provider().generate(CONTEXT)

    assert caught.value.retryable is False
    assert caught.value.key_id == KEY_ARN


@pytest.mark.integration
def test_permanent_error_sent_once(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """botocore does not retry an error that a retry cannot fix."""
    fake_kms.code = "DisabledException"

    with pytest.raises(KeyUnavailable):
        fake_provider().generate(CONTEXT)

    assert fake_kms.operations == ["GenerateDataKey"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ThrottlingException"),
        (500, "KMSInternalException"),
        (503, "DependencyTimeoutException"),
    ],
)
def test_transient_error_retryable(
    fake_kms: FakeKms, fake_provider: ProviderFactory, status: int, code: str
) -> None:
    """Throttling and server errors raise KeyUnavailable marked retryable."""
    fake_kms.status = status
    fake_kms.code = code

    with pytest.raises(KeyUnavailable, match=code) as caught:
        fake_provider().generate(CONTEXT)

    assert caught.value.retryable is True


@pytest.mark.integration
def test_throttling_tried_max_attempts(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """The default max_attempts of 2 sends a throttled request twice."""
    with pytest.raises(KeyUnavailable, match="after 2 attempt"):
        fake_provider().generate(CONTEXT)

    assert len(fake_kms.requests) == 2


@pytest.mark.integration
def test_single_attempt_not_retried(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """max_attempts=1 sends a throttled request once."""
    with pytest.raises(KeyUnavailable):
        fake_provider(max_attempts=1).generate(CONTEXT)

    assert len(fake_kms.requests) == 1


@pytest.mark.integration
@pytest.mark.parametrize("code", ["IncorrectKeyException", "InvalidCiphertextException"])
@pytest.mark.parametrize("method", ["unwrap", "rewrap"])
def test_incorrect_key_fails_decryption(
    fake_kms: FakeKms, fake_provider: ProviderFactory, code: str, method: str
) -> None:
    """Errors meaning the ciphertext does not authenticate raise DecryptionFailed, unchained."""
    fake_kms.code = code
    wrapped = WrappedKey("aws-kms", KEY_ARN, b"blob")

    with pytest.raises(DecryptionFailed) as caught:
        getattr(fake_provider(), method)(wrapped, CONTEXT)

    assert caught.value.__cause__ is None


@pytest.mark.integration
def test_generate_request_fields(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """GenerateDataKey requests an AES-256 key under the key ARN, bound to the context."""
    with pytest.raises(KeyUnavailable):
        fake_provider(max_attempts=1).generate(CONTEXT)

    operation, body = fake_kms.requests[0]
    assert operation == "GenerateDataKey"
    assert body["KeyId"] == KEY_ARN
    assert body["KeySpec"] == "AES_256"
    assert body["EncryptionContext"] == CONTEXT


@pytest.mark.integration
def test_decrypt_request_fields(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """Decrypt names the key ARN as KeyId and sends the context."""
    wrapped = WrappedKey("aws-kms", KEY_ARN, b"blob")

    with pytest.raises(KeyUnavailable):
        fake_provider(max_attempts=1).unwrap(wrapped, CONTEXT)

    operation, body = fake_kms.requests[0]
    assert operation == "Decrypt"
    assert body["KeyId"] == KEY_ARN
    assert body["EncryptionContext"] == CONTEXT


@pytest.mark.integration
def test_reencrypt_request_fields(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """ReEncrypt names the recorded source key and this key, with the context on both sides."""
    source_arn = KEY_ARN.replace("1234abcd", "5678ef01")
    wrapped = WrappedKey("aws-kms", source_arn, b"blob")

    with pytest.raises(KeyUnavailable):
        fake_provider(max_attempts=1).rewrap(wrapped, CONTEXT)

    operation, body = fake_kms.requests[0]
    assert operation == "ReEncrypt"
    assert body["SourceKeyId"] == source_arn
    assert body["DestinationKeyId"] == KEY_ARN
    assert body["SourceEncryptionContext"] == CONTEXT
    assert body["DestinationEncryptionContext"] == CONTEXT


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_read_timeout_retryable(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """A KMS endpoint that accepts but never responds raises KeyUnavailable marked retryable."""
    fake_kms.hang = True

    with pytest.raises(KeyUnavailable, match=r"within 0\.5 s") as caught:
        fake_provider(read_timeout=0.5, max_attempts=1).generate(CONTEXT)

    assert caught.value.retryable is True


@pytest.mark.integration
def test_missing_credentials_unavailable(fake_kms: FakeKms) -> None:
    """Without credentials the provider raises KeyUnavailable, not retryable, and sends nothing."""
    botocore_session = botocore.session.Session()
    botocore_session.register_component(
        "credential_provider", botocore.credentials.CredentialResolver(providers=[])
    )
    session = boto3.session.Session(botocore_session=botocore_session, region_name=REGION)
    provider = AwsKmsProvider(KEY_ARN, session=session, endpoint_url=fake_kms.endpoint_url)

    with pytest.raises(KeyUnavailable, match="NoCredentialsError") as caught:
        provider.generate(CONTEXT)
    provider.close()

    assert caught.value.retryable is False
    assert fake_kms.requests == []


@pytest.mark.integration
def test_short_data_key_rejected(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """wrap raises ConfigurationError for a data key that is not 32 bytes, before any request."""
    with pytest.raises(ConfigurationError) as caught:
        fake_provider().wrap(b"k" * 16, CONTEXT)

    assert caught.value.setting == "data_key"
    assert fake_kms.requests == []


@pytest.mark.integration
def test_invalid_context_rejected(fake_kms: FakeKms, fake_provider: ProviderFactory) -> None:
    """generate raises ConfigurationError for a context with a non-str value, before any request."""
    with pytest.raises(ConfigurationError):
        fake_provider().generate({"tenant": 42})  # type: ignore[dict-item]

    assert fake_kms.requests == []
