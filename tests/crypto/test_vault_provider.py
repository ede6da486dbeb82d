"""VaultTransitProvider against a real OpenBao dev server, plus its argument checks."""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from uuid import uuid4

import hvac
import pytest

from jivs_security.crypto._provider import KeyProvider, WrappedKey
from jivs_security.crypto._vault import PROVIDER_ID, TransitKeyVersions, VaultTransitProvider
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable
from servers import OpenBaoServer, VaultEndpoint

CONTEXT = {"tenant": "acme", "table": "invoices"}
KEY_NAME = "data-keys"

# A URL under the reserved .invalid domain: it never resolves, and the tests
# that use it only construct providers, which send no request.
UNREACHABLE_URL = "https://vault.invalid:8200"

# The capabilities that the provider's docstring lists for day-to-day use.
MINIMAL_POLICY = """
path "{mount}/keys/{key}" {{ capabilities = ["read"] }}
path "{mount}/datakey/plaintext/{key}" {{ capabilities = ["update"] }}
path "{mount}/encrypt/{key}" {{ capabilities = ["update"] }}
path "{mount}/decrypt/{key}" {{ capabilities = ["update"] }}
path "{mount}/rewrap/{key}" {{ capabilities = ["update"] }}
"""


def admin_client(endpoint: VaultEndpoint, verify: bool | str = True) -> hvac.Client:
    """Return an hvac client with the endpoint's token, for setting up the server."""
    return hvac.Client(url=endpoint.address, token=endpoint.token, verify=verify, timeout=10)


def create_transit_key(
    admin: hvac.Client, mount: str, name: str, *, key_type: str, derived: bool
) -> None:
    """Create a Transit key with the given type and derivation, bypassing the provider."""
    admin.adapter.post(f"/v1/{mount}/keys/{name}", json={"type": key_type, "derived": derived})


def raised(call: Callable[[], object]) -> Exception:
    """Run ``call`` and return the exception it raised."""
    with pytest.raises(Exception) as caught:  # noqa: PT011  (each caller checks the type)
        call()
    return caught.value


def offline_provider(**options: object) -> VaultTransitProvider:
    """Return a provider for an address that is never contacted."""
    settings: dict[str, object] = {"url": UNREACHABLE_URL, "token": "t", "key_name": KEY_NAME}
    settings.update(options)
    return VaultTransitProvider(**settings)  # type: ignore[arg-type]


def flip_character(ciphertext: bytes, index: int) -> bytes:
    """Replace one base64 character so the decoded bytes change."""
    replacement = b"B" if ciphertext[index : index + 1] == b"A" else b"A"
    return ciphertext[:index] + replacement + ciphertext[index + 1 :]


@pytest.fixture
def admin(openbao: VaultEndpoint) -> Iterator[hvac.Client]:
    """An hvac client with the session server's token."""
    client = admin_client(openbao)

    yield client

    client.adapter.close()


@pytest.fixture
def transit_mount(admin: hvac.Client) -> Iterator[str]:
    """A Transit engine mounted at a random path for this test; unmounting deletes its keys."""
    mount = f"transit-{uuid4().hex[:12]}"
    admin.sys.enable_secrets_engine("transit", path=mount)

    yield mount

    admin.adapter.delete(f"/v1/sys/mounts/{mount}")


@pytest.fixture
def provider(openbao: VaultEndpoint, transit_mount: str) -> Iterator[VaultTransitProvider]:
    """A provider with the root token whose derived key exists."""
    with VaultTransitProvider(
        url=openbao.address, token=openbao.token, key_name=KEY_NAME, mount_point=transit_mount
    ) as created:
        created.ensure_key()
        yield created


@pytest.fixture
def token_with_policy(admin: hvac.Client) -> Iterator[Callable[[str], str]]:
    """A factory of tokens limited to one new ACL policy each; the policies are deleted after."""
    policy_names: list[str] = []

    def create(policy: str) -> str:
        name = f"jivs-{uuid4().hex[:12]}"
        admin.sys.create_or_update_policy(name, policy)
        policy_names.append(name)
        token: str = admin.auth.token.create(policies=[name], ttl="10m")["auth"]["client_token"]
        return token

    yield create

    for name in policy_names:
        admin.adapter.delete(f"/v1/sys/policies/acl/{name}")


@pytest.fixture
def silent_address() -> Iterator[str]:
    """Address of a loopback socket that accepts connections but never responds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def openbao_tls(
    vault_test_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenBaoServer]:
    """An OpenBao dev server with TLS, its certificate signed by a CA it created, and Transit."""
    with OpenBaoServer(tls=True, data_dir=tmp_path_factory.mktemp("openbao-tls")) as server:
        client = admin_client(server.endpoint, verify=str(server.ca_cert_path))
        client.sys.enable_secrets_engine("transit")
        client.adapter.close()
        yield server


def private_provider(server: OpenBaoServer, **options: object) -> VaultTransitProvider:
    """Mount Transit on a private server and return a provider whose key exists."""
    client = admin_client(server.endpoint)
    client.sys.enable_secrets_engine("transit")
    client.adapter.close()
    settings: dict[str, object] = {
        "url": server.address,
        "token": server.root_token,
        "key_name": KEY_NAME,
    }
    settings.update(options)
    created = VaultTransitProvider(**settings)  # type: ignore[arg-type]
    created.ensure_key()
    return created


# Round trips.


def test_provider_is_key_provider() -> None:
    """The provider satisfies the KeyProvider protocol."""
    created = offline_provider()

    assert isinstance(created, KeyProvider)


def test_generate_unwrap_round_trip(provider: VaultTransitProvider) -> None:
    """A generated 32-byte data key unwraps to the same bytes under the same context."""
    data_key, wrapped = provider.generate(CONTEXT)

    unwrapped = provider.unwrap(wrapped, CONTEXT)

    assert len(data_key) == 32
    assert unwrapped == data_key


def test_generate_names_key_version(provider: VaultTransitProvider) -> None:
    """The wrapped key carries the provider id, the key name and version, and Vault's text."""
    _, wrapped = provider.generate(CONTEXT)

    assert wrapped.provider_id == "vault-transit"
    assert wrapped.key_id == f"{KEY_NAME}:v1"
    assert wrapped.ciphertext.startswith(b"vault:v1:")


def test_wrap_unwrap_round_trip(provider: VaultTransitProvider) -> None:
    """A data key wrapped with wrap() unwraps to the same bytes."""
    data_key = os.urandom(32)

    wrapped = provider.wrap(data_key, CONTEXT)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_empty_context_round_trip(provider: VaultTransitProvider) -> None:
    """An empty context still works with a derived key, whose context must not be empty."""
    data_key, wrapped = provider.generate({})

    assert provider.unwrap(wrapped, {}) == data_key


def test_supplied_client_round_trip(provider: VaultTransitProvider, admin: hvac.Client) -> None:
    """A provider on a caller's authenticated hvac client unwraps what another provider wrapped."""
    data_key, wrapped = provider.generate(CONTEXT)
    borrowing = VaultTransitProvider(admin, key_name=KEY_NAME, mount_point=provider.mount_point)

    unwrapped = borrowing.unwrap(wrapped, CONTEXT)

    assert unwrapped == data_key


def test_minimal_policy_round_trip(
    openbao: VaultEndpoint,
    provider: VaultTransitProvider,
    token_with_policy: Callable[[str], str],
) -> None:
    """A token with only the documented capabilities can generate, wrap, unwrap and rewrap."""
    token = token_with_policy(MINIMAL_POLICY.format(mount=provider.mount_point, key=KEY_NAME))
    limited = VaultTransitProvider(
        url=openbao.address, token=token, key_name=KEY_NAME, mount_point=provider.mount_point
    )

    data_key, wrapped = limited.generate(CONTEXT)
    rewrapped = limited.rewrap(limited.wrap(data_key, CONTEXT), CONTEXT)

    assert limited.unwrap(wrapped, CONTEXT) == data_key
    assert limited.unwrap(rewrapped, CONTEXT) == data_key


# Wrapped keys that do not authenticate.


@pytest.mark.parametrize(
    "other_context",
    [{"tenant": "acme", "table": "orders"}, {"tenant": "acme"}, {}, {**CONTEXT, "extra": ""}],
    ids=["other-value", "missing-pair", "empty", "extra-pair"],
)
def test_unwrap_other_context_fails(
    provider: VaultTransitProvider, other_context: dict[str, str]
) -> None:
    """A data key does not unwrap under any context other than its own."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.unwrap(wrapped, other_context)


@pytest.mark.parametrize("change", ["flip-nonce", "flip-tag", "truncate", "extend"])
def test_unwrap_tampered_ciphertext_fails(provider: VaultTransitProvider, change: str) -> None:
    """A ciphertext altered anywhere after its version prefix does not unwrap."""
    _, wrapped = provider.generate(CONTEXT)
    body_start = len(b"vault:v1:")
    tampered = {
        "flip-nonce": flip_character(wrapped.ciphertext, body_start + 2),
        "flip-tag": flip_character(wrapped.ciphertext, len(wrapped.ciphertext) - 3),
        "truncate": wrapped.ciphertext[:-4],
        "extend": wrapped.ciphertext + b"AAAA",
    }[change]

    with pytest.raises(DecryptionFailed):
        provider.unwrap(WrappedKey(PROVIDER_ID, wrapped.key_id, tampered), CONTEXT)


def test_rewrap_other_context_fails(provider: VaultTransitProvider) -> None:
    """Rewrap checks the context too, so it cannot launder a key into another context."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.rewrap(wrapped, {"tenant": "other"})


def test_unwrap_edited_key_id_fails(provider: VaultTransitProvider) -> None:
    """A key id naming another version than the ciphertext contains does not unwrap."""
    _, wrapped = provider.generate(CONTEXT)
    provider.rotate()
    edited = WrappedKey(PROVIDER_ID, f"{KEY_NAME}:v2", wrapped.ciphertext)

    with pytest.raises(DecryptionFailed):
        provider.unwrap(edited, CONTEXT)


@pytest.mark.parametrize(
    "ciphertext",
    [b"\xffvault:v1:AAAA", b"not-a-ciphertext", b"vault:v1:" + b"A" * 2000, b"vault:v1:"],
    ids=["not-ascii", "no-prefix", "oversized", "empty-body"],
)
def test_unwrap_malformed_ciphertext_fails(ciphertext: bytes) -> None:
    """Ciphertexts that are not Transit ciphertexts fail before any request is sent."""
    created = offline_provider()

    with pytest.raises(DecryptionFailed):
        created.unwrap(WrappedKey(PROVIDER_ID, f"{KEY_NAME}:v1", ciphertext), CONTEXT)


# Rotation, rewrap and retirement.


def test_rotate_returns_new_version(provider: VaultTransitProvider) -> None:
    """rotate() returns the number of the version it added."""
    version = provider.rotate()

    assert version == 2


def test_rotation_keeps_old_keys_readable(provider: VaultTransitProvider) -> None:
    """A data key wrapped before a rotation still unwraps after it."""
    data_key, wrapped = provider.generate(CONTEXT)

    provider.rotate()

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_wrap_after_rotation_uses_latest(provider: VaultTransitProvider) -> None:
    """New data keys are wrapped under the newest key version."""
    provider.rotate()

    _, wrapped = provider.generate(CONTEXT)

    assert wrapped.key_id == f"{KEY_NAME}:v2"


def test_rewrap_moves_to_latest_version(provider: VaultTransitProvider) -> None:
    """rewrap() re-encrypts under the newest version, and the data key stays the same."""
    data_key, wrapped = provider.generate(CONTEXT)
    provider.rotate()

    rewrapped = provider.rewrap(wrapped, CONTEXT)

    assert rewrapped.key_id == f"{KEY_NAME}:v2"
    assert rewrapped.ciphertext.startswith(b"vault:v2:")
    assert provider.unwrap(rewrapped, CONTEXT) == data_key


def test_key_versions_track_retirement(provider: VaultTransitProvider) -> None:
    """key_versions() reports the latest and the minimum decryption version."""
    provider.rotate()
    provider.rotate()

    provider.set_min_decryption_version(2)

    assert provider.key_versions() == TransitKeyVersions(3, 2)


def test_retired_version_is_unavailable(provider: VaultTransitProvider) -> None:
    """A data key wrapped under a retired version raises a non-retryable KeyUnavailable."""
    _, wrapped = provider.generate(CONTEXT)
    provider.rotate()
    provider.set_min_decryption_version(2)

    error = raised(lambda: provider.unwrap(wrapped, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert error.key_id == f"{KEY_NAME}:v1"
    assert "min_decryption_version" in str(error)


def test_rewrap_retired_version_unavailable(provider: VaultTransitProvider) -> None:
    """Rewrap cannot rescue a data key once its version is retired."""
    _, wrapped = provider.generate(CONTEXT)
    provider.rotate()
    provider.set_min_decryption_version(2)

    error = raised(lambda: provider.rewrap(wrapped, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False


def test_lowered_minimum_restores_version(provider: VaultTransitProvider) -> None:
    """Lowering min_decryption_version makes a retired version unwrap again."""
    data_key, wrapped = provider.generate(CONTEXT)
    provider.rotate()
    provider.set_min_decryption_version(2)

    provider.set_min_decryption_version(1)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.parametrize("version", [3, 0, -1, True, "2"])
def test_invalid_min_decryption_rejected(provider: VaultTransitProvider, version: object) -> None:
    """A minimum above the latest version, below 1 or not an int is rejected."""
    provider.rotate()

    error = raised(lambda: provider.set_min_decryption_version(version))  # type: ignore[arg-type]

    assert isinstance(error, ConfigurationError)
    assert error.setting == "min_decryption_version"


# Key creation and key checks.


def test_ensure_key_creates_derived_key(
    openbao: VaultEndpoint, transit_mount: str, admin: hvac.Client
) -> None:
    """ensure_key() creates a derived, non-exportable aes256-gcm96 key."""
    created = VaultTransitProvider(
        url=openbao.address, token=openbao.token, key_name="fresh", mount_point=transit_mount
    )

    result = created.ensure_key()

    info = admin.adapter.get(f"/v1/{transit_mount}/keys/fresh")["data"]
    assert result is True
    assert info["type"] == "aes256-gcm96"
    assert info["derived"] is True
    assert info["exportable"] is False


def test_ensure_key_existing_key_kept(provider: VaultTransitProvider) -> None:
    """ensure_key() on an existing derived key changes nothing and returns False."""
    provider.rotate()

    result = provider.ensure_key()

    assert result is False
    assert provider.key_versions().latest_version == 2


@pytest.mark.parametrize(
    ("key_type", "derived"),
    [("aes256-gcm96", False), ("chacha20-poly1305", True)],
    ids=["not-derived", "other-type"],
)
def test_ensure_key_rejects_unsuitable_key(
    openbao: VaultEndpoint, transit_mount: str, admin: hvac.Client, key_type: str, derived: bool
) -> None:
    """An existing key that is not a derived aes256-gcm96 key is rejected, not used."""
    create_transit_key(admin, transit_mount, "unsuitable", key_type=key_type, derived=derived)
    created = VaultTransitProvider(
        url=openbao.address, token=openbao.token, key_name="unsuitable", mount_point=transit_mount
    )

    error = raised(created.ensure_key)

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert "derived aes256-gcm96" in str(error)


def test_wrap_rejects_non_derived_key(
    openbao: VaultEndpoint, transit_mount: str, admin: hvac.Client
) -> None:
    """Without ensure_key(), a non-derived key is still refused before it could drop the context.

    Transit ignores the context for such a key, so a data key wrapped under
    it would unwrap under any context.
    """
    create_transit_key(admin, transit_mount, "plain", key_type="aes256-gcm96", derived=False)
    created = VaultTransitProvider(
        url=openbao.address, token=openbao.token, key_name="plain", mount_point=transit_mount
    )

    error = raised(lambda: created.wrap(os.urandom(32), CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert "derived=true" in str(error)


@pytest.mark.parametrize("missing", ["key", "mount"])
def test_missing_key_unavailable(openbao: VaultEndpoint, transit_mount: str, missing: str) -> None:
    """A key or mount that does not exist raises a non-retryable KeyUnavailable."""
    created = VaultTransitProvider(
        url=openbao.address,
        token=openbao.token,
        key_name="absent" if missing == "key" else KEY_NAME,
        mount_point=transit_mount if missing == "key" else f"{transit_mount}-absent",
    )

    error = raised(lambda: created.generate(CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert "ensure_key()" in str(error)


def test_unwrap_other_key_unavailable(provider: VaultTransitProvider) -> None:
    """A wrapped key naming another Transit key is refused as unavailable, not tried."""
    _, wrapped = provider.generate(CONTEXT)
    foreign = WrappedKey(PROVIDER_ID, "other-key:v1", wrapped.ciphertext)

    error = raised(lambda: provider.unwrap(foreign, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert error.key_id == "other-key:v1"


@pytest.mark.parametrize(
    ("provider_id", "key_id", "expected"),
    [
        (PROVIDER_ID, f"{KEY_NAME}:v1", True),
        (PROVIDER_ID, f"{KEY_NAME}:v12", True),
        (PROVIDER_ID, "other-key:v1", False),
        (PROVIDER_ID, KEY_NAME, False),
        (PROVIDER_ID, f"{KEY_NAME}:vx", False),
        ("local", f"{KEY_NAME}:v1", False),
    ],
)
def test_can_unwrap_by_key_name(provider_id: str, key_id: str, expected: bool) -> None:
    """can_unwrap() accepts this provider kind and key name at any version."""
    created = offline_provider()

    result = created.can_unwrap(WrappedKey(provider_id, key_id, b"vault:v1:AAAA"))

    assert result is expected


# Unreachable, failing and unauthorised servers.


def test_wrong_token_unavailable(openbao: VaultEndpoint, provider: VaultTransitProvider) -> None:
    """A token that Vault does not accept raises a non-retryable KeyUnavailable."""
    _, wrapped = provider.generate(CONTEXT)
    rejected = VaultTransitProvider(
        url=openbao.address,
        token="not-a-valid-token",
        key_name=KEY_NAME,
        mount_point=provider.mount_point,
    )

    error = raised(lambda: rejected.unwrap(wrapped, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert "HTTP 403" in str(error)


def test_missing_capability_unavailable(
    openbao: VaultEndpoint,
    provider: VaultTransitProvider,
    token_with_policy: Callable[[str], str],
) -> None:
    """A token whose policy lacks decrypt raises a non-retryable KeyUnavailable on unwrap."""
    _, wrapped = provider.generate(CONTEXT)
    policy = MINIMAL_POLICY.format(mount=provider.mount_point, key=KEY_NAME)
    without_decrypt = "\n".join(line for line in policy.splitlines() if "/decrypt/" not in line)
    token = token_with_policy(without_decrypt)
    limited = VaultTransitProvider(
        url=openbao.address, token=token, key_name=KEY_NAME, mount_point=provider.mount_point
    )

    error = raised(lambda: limited.unwrap(wrapped, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert "HTTP 403" in str(error)


@pytest.mark.timeout(60)
def test_stopped_server_is_retryable(openbao_server: OpenBaoServer) -> None:
    """A server that stopped mid-test raises a retryable KeyUnavailable instead of hanging."""
    created = private_provider(openbao_server, timeout=2.0)
    _, wrapped = created.generate(CONTEXT)

    openbao_server.stop()
    error = raised(lambda: created.unwrap(wrapped, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is True
    assert error.provider == "vault-transit"


def test_sealed_server_is_retryable(openbao_server: OpenBaoServer) -> None:
    """A sealed server returns HTTP 503, which is retryable."""
    created = private_provider(openbao_server)
    _, wrapped = created.generate(CONTEXT)
    admin_client(openbao_server.endpoint).adapter.put("/v1/sys/seal")

    error = raised(lambda: created.unwrap(wrapped, CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is True
    assert "HTTP 503" in str(error)


@pytest.mark.timeout(20)
def test_silent_server_times_out(silent_address: str) -> None:
    """A server that accepts the connection but never responds times out as retryable."""
    created = VaultTransitProvider(url=silent_address, token="t", key_name=KEY_NAME, timeout=0.2)

    error = raised(lambda: created.generate(CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is True
    assert "timed out after 0.2 s" in str(error)


@pytest.mark.timeout(20)
def test_timeout_overrides_client_timeout(silent_address: str) -> None:
    """The provider's timeout applies to a supplied client whose own timeout is 30 s."""
    client = hvac.Client(url=silent_address, token="t", timeout=30)
    created = VaultTransitProvider(client, key_name=KEY_NAME, timeout=0.2)

    error = raised(lambda: created.generate(CONTEXT))

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is True


@pytest.mark.integration
def test_tls_unknown_ca_rejected(openbao_tls: OpenBaoServer) -> None:
    """With verification on by default, a certificate from an unknown CA is not accepted."""
    created = VaultTransitProvider(
        url=openbao_tls.address, token=openbao_tls.root_token, key_name=KEY_NAME
    )

    error = raised(created.ensure_key)

    assert isinstance(error, KeyUnavailable)
    assert error.retryable is False
    assert "verify=" in str(error)


@pytest.mark.integration
def test_tls_with_ca_round_trip(openbao_tls: OpenBaoServer) -> None:
    """With verify set to the server's CA, the provider works over TLS."""
    created = VaultTransitProvider(
        url=openbao_tls.address,
        token=openbao_tls.root_token,
        key_name=KEY_NAME,
        verify=str(openbao_tls.ca_cert_path),
    )
    created.ensure_key()

    data_key, wrapped = created.generate(CONTEXT)

    assert created.unwrap(wrapped, CONTEXT) == data_key


# Secrecy of the token.


def test_token_absent_from_errors_and_logs(
    openbao_server: OpenBaoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the working token nor a rejected one appears in repr, errors, tracebacks or logs."""
    caplog.set_level(logging.DEBUG)
    canary = f"jivs-canary-{uuid4().hex}"
    created = private_provider(openbao_server)
    rejected = VaultTransitProvider(url=openbao_server.address, token=canary, key_name=KEY_NAME)
    missing = VaultTransitProvider(
        url=openbao_server.address, token=openbao_server.root_token, key_name="absent"
    )
    _, wrapped = created.generate(CONTEXT)
    errors = [
        raised(lambda: created.unwrap(wrapped, {"tenant": "other"})),
        raised(lambda: rejected.unwrap(wrapped, CONTEXT)),
        raised(lambda: missing.generate(CONTEXT)),
    ]
    openbao_server.stop()
    errors.append(raised(lambda: created.unwrap(wrapped, CONTEXT)))

    texts = [repr(created), repr(rejected), caplog.text]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    for text in texts:
        assert openbao_server.root_token not in text
        assert canary not in text


def test_transport_error_has_no_cause(openbao_server: OpenBaoServer) -> None:
    """A connection error is raised without the requests exception, which contains the token."""
    created = private_provider(openbao_server)
    openbao_server.stop()

    error = raised(lambda: created.generate(CONTEXT))

    assert error.__cause__ is None
    assert error.__context__ is None


# Arguments.


def test_verify_on_by_default() -> None:
    """A provider built from url and token verifies TLS certificates and follows no redirect."""
    created = offline_provider()

    assert created.client.session.verify is True
    assert created.client.allow_redirects is False


def test_url_required_without_client() -> None:
    """Without a client, url is required, so no default address is ever contacted."""
    error = raised(lambda: VaultTransitProvider(token="t", key_name=KEY_NAME))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "url"


@pytest.mark.parametrize("token", [None, "", " padded", "two\nlines"])
def test_invalid_token_rejected(token: str | None) -> None:
    """A missing or malformed token is rejected without showing it."""
    error = raised(lambda: offline_provider(token=token))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "token"
    assert error.value is None


@pytest.mark.parametrize(
    "url",
    [
        "http://vault.invalid:8200",
        "ftp://127.0.0.1",
        "127.0.0.1:8200",
        "https://vault.invalid/?x=1",
    ],
    ids=["plain-http-remote", "other-scheme", "no-scheme", "query"],
)
def test_invalid_url_rejected(url: str) -> None:
    """URLs that are not https, or plain http to a host other than loopback, are rejected."""
    error = raised(lambda: offline_provider(url=url))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "url"


def test_url_credentials_not_shown() -> None:
    """A URL with a password is rejected without repeating the password."""
    error = raised(lambda: offline_provider(url="https://user:hunter2@vault.invalid"))

    assert isinstance(error, ConfigurationError)
    assert "hunter2" not in str(error)
    assert error.value is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8200", "http://localhost:8200", "http://[::1]"])
def test_plain_http_loopback_accepted(url: str) -> None:
    """Plain http is accepted for loopback addresses."""
    created = offline_provider(url=url)

    assert created.client.url == url


@pytest.mark.parametrize("key_name", ["", "a/b", "-lead", "trail.", "has space", "k:v1", 5])
def test_invalid_key_name_rejected(key_name: object) -> None:
    """Key names outside Transit's name pattern are rejected."""
    error = raised(lambda: offline_provider(key_name=key_name))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "key_name"


@pytest.mark.parametrize("mount_point", ["", "/", "a/../b", "a b", "a//b", None])
def test_invalid_mount_point_rejected(mount_point: object) -> None:
    """Mount points with empty, dot-only or unusual segments are rejected."""
    error = raised(lambda: offline_provider(mount_point=mount_point))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "mount_point"


def test_nested_mount_point_accepted() -> None:
    """A nested mount path is kept without its outer slashes."""
    created = offline_provider(mount_point="/kms/transit/")

    assert created.mount_point == "kms/transit"


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), float("inf"), True, "5"])
def test_invalid_timeout_rejected(timeout: object) -> None:
    """A timeout that is not a positive finite number of seconds is rejected."""
    error = raised(lambda: offline_provider(timeout=timeout))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "timeout"


def test_missing_ca_path_rejected() -> None:
    """verify naming a CA bundle path that does not exist is rejected."""
    error = raised(lambda: offline_provider(verify="/nonexistent/ca.pem"))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "verify"


@pytest.mark.parametrize(
    "options",
    [{"url": UNREACHABLE_URL}, {"token": "t"}, {"verify": False}],
    ids=["url", "token", "verify"],
)
def test_client_with_settings_rejected(options: dict[str, object]) -> None:
    """A supplied client cannot be combined with url, token or verify."""
    client = hvac.Client(url=UNREACHABLE_URL, token="t")

    error = raised(lambda: VaultTransitProvider(client, key_name=KEY_NAME, **options))  # type: ignore[arg-type]

    assert isinstance(error, ConfigurationError)
    assert error.setting == "client"


def test_wrong_size_data_key_rejected() -> None:
    """wrap() accepts only 32-byte data keys and sends nothing otherwise."""
    created = offline_provider()

    error = raised(lambda: created.wrap(b"\x00" * 16, CONTEXT))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "data_key"
    assert error.value is None


def test_invalid_context_rejected() -> None:
    """A context that has no canonical form is rejected before any request."""
    created = offline_provider()

    error = raised(lambda: created.generate({"": "empty key"}))

    assert isinstance(error, ConfigurationError)
    assert error.setting == "context"


def test_repr_omits_token() -> None:
    """repr names the server, mount and key but not the token."""
    created = offline_provider(token="s.repr-canary-token")

    text = repr(created)

    assert "repr-canary-token" not in text
    assert KEY_NAME in text
