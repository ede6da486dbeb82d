"""LocalKeyProvider: wrapping, rotation, the keyset file, passphrases and secrecy of the keys.

Passphrase-protected keysets use SCRYPT_TESTS_ONLY, except one round trip
that shows the default OWASP parameters work.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jivs_security.crypto._local import (
    MAX_FILE_BYTES,
    SCRYPT_OWASP_MINIMUM,
    SCRYPT_TESTS_ONLY,
    KeyVersionState,
    LocalKeyProvider,
    ScryptParameters,
)
from jivs_security.crypto._provider import KeyProvider, WrappedKey
from jivs_security.errors import (
    ConfigurationError,
    DecryptionFailed,
    InsecureKeyFile,
    KeyNotFound,
    KeyRingError,
    KeyUnavailable,
)

CONTEXT = {"tenant": "acme", "purpose": "invoices"}
PASSPHRASE = "correct horse battery staple"
OTHER_PASSPHRASE = "Tr0ub4dor&3"

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def keyset_path(tmp_path: Path) -> Path:
    """The path of the test's keyset file, which does not exist yet."""
    return tmp_path / "keyset.json"


@pytest.fixture
def provider(keyset_path: Path) -> LocalKeyProvider:
    """A new keyset without a passphrase: version 1, primary."""
    return LocalKeyProvider.create(keyset_path)


@pytest.fixture
def protected(keyset_path: Path) -> LocalKeyProvider:
    """A passphrase-protected keyset: version 1 primary, 2 enabled, 3 disabled."""
    provider = LocalKeyProvider.create(
        keyset_path, passphrase=PASSPHRASE, scrypt_parameters=SCRYPT_TESTS_ONLY
    )
    provider.add_version()
    provider.disable(provider.add_version())
    return provider


def read_document(path: Path) -> dict[str, Any]:
    """Return the keyset file as parsed JSON."""
    document: dict[str, Any] = json.loads(path.read_bytes())
    return document


def write_document(path: Path, document: object) -> None:
    """Replace the keyset file with ``document`` as JSON, readable by its owner only."""
    path.write_text(json.dumps(document))
    path.chmod(0o600)


def file_keys(path: Path) -> dict[int, bytes]:
    """Return the KEKs of an unprotected keyset file by version."""
    return {
        entry["version"]: base64.b64decode(entry["key"])
        for entry in read_document(path)["versions"]
        if "key" in entry
    }


def spellings(secret: bytes) -> list[str]:
    """Return the ways a leaked key could be written in text."""
    standard = base64.b64encode(secret).decode()
    urlsafe = base64.urlsafe_b64encode(secret).decode()
    return [
        secret.hex(),
        secret.hex().upper(),
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        repr(secret),
    ]


def leaks(text: str, secrets: list[bytes]) -> list[str]:
    """Return the spellings of ``secrets`` that appear in ``text``."""
    return [spelling for secret in secrets for spelling in spellings(secret) if spelling in text]


def flip_byte(data: bytes, index: int) -> bytes:
    """Return ``data`` with every bit of the byte at ``index`` inverted."""
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def with_key_id(wrapped: WrappedKey, key_id: str) -> WrappedKey:
    """Return ``wrapped`` claiming to come from ``key_id``."""
    return WrappedKey(wrapped.provider_id, key_id, wrapped.ciphertext)


# Wrapping and unwrapping


def test_provider_is_key_provider(provider: LocalKeyProvider) -> None:
    """LocalKeyProvider satisfies the KeyProvider protocol."""
    assert isinstance(provider, KeyProvider)


def test_wrap_unwrap_round_trip(provider: LocalKeyProvider) -> None:
    """A wrapped data key unwraps to the same bytes."""
    data_key = os.urandom(32)

    wrapped = provider.wrap(data_key, CONTEXT)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_generate_returns_wrapped_key(provider: LocalKeyProvider) -> None:
    """generate returns a 32-byte data key and its wrapped form."""
    data_key, wrapped = provider.generate(CONTEXT)

    assert len(data_key) == 32
    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_wrap_names_primary_version(provider: LocalKeyProvider) -> None:
    """A wrapped key names the provider, keyset and version, with a 60-byte ciphertext."""
    _, wrapped = provider.generate(CONTEXT)

    assert wrapped.provider_id == "local"
    assert wrapped.key_id == f"{provider.keyset_id}/v1"
    assert len(wrapped.ciphertext) == 12 + 32 + 16


def test_wrap_uses_fresh_nonce(provider: LocalKeyProvider) -> None:
    """Wrapping the same data key twice gives different ciphertexts."""
    data_key = os.urandom(32)

    first = provider.wrap(data_key, CONTEXT)
    second = provider.wrap(data_key, CONTEXT)

    assert first.ciphertext[:12] != second.ciphertext[:12]
    assert first.ciphertext != second.ciphertext


def test_unwrap_empty_context(provider: LocalKeyProvider) -> None:
    """An empty context works as long as unwrap uses it too."""
    data_key, wrapped = provider.generate({})

    assert provider.unwrap(wrapped, {}) == data_key


@pytest.mark.parametrize("data_key", [b"", b"\x00" * 31, b"\x00" * 33, "0" * 32])
def test_wrap_rejects_bad_data_key(provider: LocalKeyProvider, data_key: Any) -> None:
    """A data key that is not 32 bytes is rejected before wrapping."""
    with pytest.raises(ConfigurationError, match="expected 32 bytes") as caught:
        provider.wrap(data_key, CONTEXT)

    assert caught.value.setting == "data_key"
    assert caught.value.value is None


def test_unwrap_rejects_non_wrapped_key(provider: LocalKeyProvider) -> None:
    """unwrap takes a WrappedKey, not raw bytes."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(ConfigurationError, match="expected a WrappedKey"):
        provider.unwrap(wrapped.ciphertext, CONTEXT)  # type: ignore[arg-type]


# Authentication: the context, the ciphertext and the key id are all bound


@pytest.mark.parametrize(
    "context",
    [
        {"tenant": "acme", "purpose": "payroll"},
        {"tenant": "acme"},
        {**CONTEXT, "extra": ""},
        {},
    ],
    ids=["other-value", "missing-pair", "extra-pair", "empty"],
)
def test_unwrap_wrong_context_fails(provider: LocalKeyProvider, context: dict[str, str]) -> None:
    """A context other than the one used to wrap does not authenticate."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.unwrap(wrapped, context)


@pytest.mark.parametrize(
    ("start", "end"), [(0, 12), (12, 44), (44, 60)], ids=["nonce", "body", "tag"]
)
def test_unwrap_tampered_ciphertext_fails(provider: LocalKeyProvider, start: int, end: int) -> None:
    """Changing any byte of the nonce, encrypted key or tag makes unwrap fail."""
    _, wrapped = provider.generate(CONTEXT)

    for index in range(start, end):
        tampered = WrappedKey("local", wrapped.key_id, flip_byte(wrapped.ciphertext, index))

        with pytest.raises(DecryptionFailed):
            provider.unwrap(tampered, CONTEXT)


@pytest.mark.parametrize("size", [0, 12, 59, 61, 120])
def test_unwrap_wrong_length_fails(provider: LocalKeyProvider, size: int) -> None:
    """A ciphertext cut short or extended does not authenticate."""
    _, wrapped = provider.generate(CONTEXT)
    ciphertext = (wrapped.ciphertext * 2)[:size]

    with pytest.raises(DecryptionFailed):
        provider.unwrap(WrappedKey("local", wrapped.key_id, ciphertext), CONTEXT)


def test_unwrap_relabelled_version_fails(provider: LocalKeyProvider) -> None:
    """A wrapped key relabelled with another enabled version does not authenticate."""
    _, wrapped = provider.generate(CONTEXT)
    provider.add_version()

    relabelled = with_key_id(wrapped, f"{provider.keyset_id}/v2")

    with pytest.raises(DecryptionFailed):
        provider.unwrap(relabelled, CONTEXT)


def test_version_bound_to_wrapped_key(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """The version is authenticated, so relabelling fails even where two versions share a key."""
    provider.add_version()
    document = read_document(keyset_path)
    document["versions"][1]["key"] = document["versions"][0]["key"]
    write_document(keyset_path, document)
    same_keys = LocalKeyProvider.open(keyset_path)
    _, wrapped = same_keys.generate(CONTEXT)

    relabelled = with_key_id(wrapped, f"{same_keys.keyset_id}/v2")

    with pytest.raises(DecryptionFailed):
        same_keys.unwrap(relabelled, CONTEXT)


def test_keyset_id_bound_to_wrapped_key(provider: LocalKeyProvider, tmp_path: Path) -> None:
    """The keyset id is authenticated, so a copy of the keyset under a new id cannot unwrap."""
    _, wrapped = provider.generate(CONTEXT)
    copy_path = tmp_path / "copy.json"
    document = read_document(provider.path)
    document["keyset_id"] = "0123456789abcdef"
    write_document(copy_path, document)
    copy = LocalKeyProvider.open(copy_path)

    relabelled = with_key_id(wrapped, "0123456789abcdef/v1")

    with pytest.raises(DecryptionFailed):
        copy.unwrap(relabelled, CONTEXT)


def test_decryption_failed_message_uniform(provider: LocalKeyProvider) -> None:
    """A wrong context and a tampered tag give the same message."""
    _, wrapped = provider.generate(CONTEXT)
    tampered = WrappedKey("local", wrapped.key_id, flip_byte(wrapped.ciphertext, 59))

    with pytest.raises(DecryptionFailed) as wrong_context:
        provider.unwrap(wrapped, {})
    with pytest.raises(DecryptionFailed) as wrong_tag:
        provider.unwrap(tampered, CONTEXT)

    assert str(wrong_context.value) == str(wrong_tag.value)


# Key ids this provider cannot use


def test_unwrap_unknown_keyset_id(provider: LocalKeyProvider, tmp_path: Path) -> None:
    """A key wrapped by another keyset is unavailable here, for good."""
    other = LocalKeyProvider.create(tmp_path / "other.json")
    _, wrapped = other.generate(CONTEXT)

    with pytest.raises(KeyUnavailable, match=other.keyset_id) as caught:
        provider.unwrap(wrapped, CONTEXT)

    assert caught.value.retryable is False
    assert caught.value.provider == "local"
    assert caught.value.key_id == wrapped.key_id


def test_unwrap_unknown_version(provider: LocalKeyProvider) -> None:
    """A version the keyset does not have is unavailable, for good."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(KeyUnavailable, match="no version 7") as caught:
        provider.unwrap(with_key_id(wrapped, f"{provider.keyset_id}/v7"), CONTEXT)

    assert caught.value.retryable is False


def test_unwrap_other_provider(provider: LocalKeyProvider) -> None:
    """A key wrapped by another provider kind is unavailable here."""
    _, wrapped = provider.generate(CONTEXT)
    foreign = WrappedKey("aws-kms", wrapped.key_id, wrapped.ciphertext)

    with pytest.raises(KeyUnavailable, match="aws-kms") as caught:
        provider.unwrap(foreign, CONTEXT)

    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "key_id",
    ["", "v1", "{id}", "{id}/1", "{id}/v0", "{id}/v01", "{id}/v1\n", "{id}/v4294967296", "x" * 500],
)
def test_unwrap_malformed_key_id(provider: LocalKeyProvider, key_id: str) -> None:
    """A key id not in '<keyset id>/v<version>' form is unavailable, and no message grows long."""
    _, wrapped = provider.generate(CONTEXT)
    relabelled = with_key_id(wrapped, key_id.format(id=provider.keyset_id))

    with pytest.raises(KeyUnavailable) as caught:
        provider.unwrap(relabelled, CONTEXT)

    assert caught.value.retryable is False
    assert len(str(caught.value)) < 300


def test_unwrap_upper_case_keyset_id(provider: LocalKeyProvider) -> None:
    """Key ids have one spelling: an upper-case keyset id is not accepted."""
    _, wrapped = provider.generate(CONTEXT)
    relabelled = with_key_id(wrapped, wrapped.key_id.upper().replace("/V", "/v"))

    with pytest.raises(KeyUnavailable):
        provider.unwrap(relabelled, CONTEXT)


# Rotation


def test_add_version_not_primary(provider: LocalKeyProvider) -> None:
    """A new version is enabled but does not wrap until promoted."""
    version = provider.add_version()

    _, wrapped = provider.generate(CONTEXT)

    assert version == 2
    assert provider.primary_version == 1
    assert wrapped.key_id.endswith("/v1")


def test_promote_switches_wrapping_version(provider: LocalKeyProvider) -> None:
    """After promote, new data keys are wrapped under the promoted version."""
    provider.promote(provider.add_version())

    _, wrapped = provider.generate(CONTEXT)

    assert provider.primary_version == 2
    assert wrapped.key_id == f"{provider.keyset_id}/v2"


def test_rotation_old_keys_unwrap(provider: LocalKeyProvider) -> None:
    """Data keys wrapped before a rotation still unwrap after it."""
    data_key, wrapped = provider.generate(CONTEXT)

    provider.promote(provider.add_version())

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_rewrap_moves_to_primary(provider: LocalKeyProvider) -> None:
    """rewrap wraps the same data key under the current primary version."""
    data_key, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    rewrapped = provider.rewrap(wrapped, CONTEXT)

    assert rewrapped.key_id == f"{provider.keyset_id}/v2"
    assert provider.unwrap(rewrapped, CONTEXT) == data_key


def test_rewrap_keeps_context_binding(provider: LocalKeyProvider) -> None:
    """A rewrapped key still unwraps only under its context."""
    _, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    rewrapped = provider.rewrap(wrapped, CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.unwrap(rewrapped, {})


def test_rewrap_wrong_context_fails(provider: LocalKeyProvider) -> None:
    """rewrap checks the context before wrapping anything again."""
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(DecryptionFailed):
        provider.rewrap(wrapped, {})


def test_promote_disabled_version_rejected(provider: LocalKeyProvider) -> None:
    """Only an enabled version can become primary."""
    version = provider.add_version()
    provider.disable(version)

    with pytest.raises(KeyRingError, match="only an enabled version"):
        provider.promote(version)

    assert provider.primary_version == 1


def test_promote_retired_version_rejected(provider: LocalKeyProvider) -> None:
    """A retired version cannot become primary."""
    version = provider.add_version()
    provider.retire(version)

    with pytest.raises(KeyRingError, match="retired"):
        provider.promote(version)


@pytest.mark.parametrize("method", ["promote", "disable", "enable", "retire"])
def test_unknown_version_rejected(provider: LocalKeyProvider, method: str) -> None:
    """Changing a version the keyset does not have raises KeyNotFound naming it."""
    with pytest.raises(KeyNotFound, match="no version 5") as caught:
        getattr(provider, method)(5)

    assert caught.value.kid == f"{provider.keyset_id}/v5"


@pytest.mark.parametrize("version", ["1", 1.0, True, None])
def test_version_must_be_int(provider: LocalKeyProvider, version: object) -> None:
    """Version arguments must be ints, not look-alikes."""
    with pytest.raises(ConfigurationError, match="expected an int"):
        provider.promote(version)  # type: ignore[arg-type]


def test_rotation_persists(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A rotation is in the file as soon as promote returns."""
    data_key, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    reopened = LocalKeyProvider.open(keyset_path)

    assert reopened.primary_version == 2
    assert reopened.unwrap(wrapped, CONTEXT) == data_key


# Disabling and enabling


def test_disabled_version_cannot_unwrap(provider: LocalKeyProvider) -> None:
    """A disabled version refuses to unwrap, naming the version, and not retryably."""
    _, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    provider.disable(1)

    with pytest.raises(KeyUnavailable, match=r"version 1 is disabled") as caught:
        provider.unwrap(wrapped, CONTEXT)
    assert caught.value.retryable is False
    assert caught.value.key_id == wrapped.key_id


def test_enable_restores_unwrap(provider: LocalKeyProvider) -> None:
    """Enabling a disabled version lets it unwrap again."""
    data_key, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())
    provider.disable(1)

    provider.enable(1)

    assert provider.unwrap(wrapped, CONTEXT) == data_key


def test_disable_primary_rejected(provider: LocalKeyProvider) -> None:
    """The primary version cannot be disabled."""
    with pytest.raises(KeyRingError, match="primary version"):
        provider.disable(1)


def test_disable_persists(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A disabled version is disabled in the file too."""
    version = provider.add_version()

    provider.disable(version)

    states = [info.state for info in LocalKeyProvider.open(keyset_path).versions()]
    assert states == [KeyVersionState.ENABLED, KeyVersionState.DISABLED]


def test_disable_twice_is_harmless(provider: LocalKeyProvider) -> None:
    """Disabling a disabled version, or enabling an enabled one, changes nothing."""
    version = provider.add_version()
    provider.disable(version)

    provider.disable(version)
    provider.enable(1)

    assert provider.versions()[1].state is KeyVersionState.DISABLED


# Retiring


def test_retired_version_cannot_unwrap(provider: LocalKeyProvider) -> None:
    """Keys wrapped under a retired version are unavailable for good."""
    _, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    provider.retire(1)

    with pytest.raises(KeyUnavailable, match="retired") as caught:
        provider.unwrap(wrapped, CONTEXT)
    assert caught.value.retryable is False


def test_retire_removes_key_from_file(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """After retire, the raw file contains no trace of the old key."""
    old_key = file_keys(keyset_path)[1]
    provider.promote(provider.add_version())

    provider.retire(1)

    raw = keyset_path.read_bytes()
    assert old_key not in raw
    assert not leaks(raw.decode(), [old_key])


def test_retire_persists(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A retired version stays retired and keyless when the file is opened again."""
    _, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())
    provider.retire(1)

    reopened = LocalKeyProvider.open(keyset_path)

    assert reopened.versions()[0].state is KeyVersionState.RETIRED
    assert reopened.versions()[0].retired is not None
    with pytest.raises(KeyUnavailable, match="retired"):
        reopened.unwrap(wrapped, CONTEXT)


def test_retire_twice_is_harmless(provider: LocalKeyProvider) -> None:
    """Retiring a retired version changes nothing, not even its retirement time."""
    version = provider.add_version()
    provider.retire(version)
    retired_at = provider.versions()[1].retired

    provider.retire(version)

    assert provider.versions()[1].retired == retired_at


def test_retire_primary_rejected(provider: LocalKeyProvider) -> None:
    """The primary version cannot be retired."""
    with pytest.raises(KeyRingError, match="primary version"):
        provider.retire(1)


def test_retire_disabled_version(provider: LocalKeyProvider) -> None:
    """A disabled version can be retired."""
    version = provider.add_version()
    provider.disable(version)

    provider.retire(version)

    assert provider.versions()[1].state is KeyVersionState.RETIRED


@pytest.mark.parametrize("method", ["enable", "disable"])
def test_retired_version_stays_retired(provider: LocalKeyProvider, method: str) -> None:
    """A retired version can be neither enabled nor disabled."""
    version = provider.add_version()
    provider.retire(version)

    with pytest.raises(KeyRingError, match="key was destroyed"):
        getattr(provider, method)(version)


def test_retire_protected_keyset(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """Retiring in a protected keyset drops the key from the encrypted part too."""
    _, wrapped = protected.generate(CONTEXT)
    protected.promote(2)

    protected.retire(1)

    reopened = LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)
    with pytest.raises(KeyUnavailable, match="retired"):
        reopened.unwrap(wrapped, CONTEXT)


# Describing versions


def test_versions_describe_states(protected: LocalKeyProvider) -> None:
    """versions lists each version's number, key id, state and primary flag, oldest first."""
    infos = protected.versions()

    assert [info.version for info in infos] == [1, 2, 3]
    assert [info.key_id for info in infos] == [f"{protected.keyset_id}/v{n}" for n in (1, 2, 3)]
    assert [info.state for info in infos] == ["enabled", "enabled", "disabled"]
    assert [info.primary for info in infos] == [True, False, False]


def test_versions_times_are_utc(provider: LocalKeyProvider) -> None:
    """Creation times are timezone-aware UTC."""
    info = provider.versions()[0]

    assert info.created.utcoffset() == timedelta(0)
    assert info.retired is None


# can_unwrap


def test_can_unwrap_own_key(provider: LocalKeyProvider) -> None:
    """A key wrapped by this keyset can be unwrapped."""
    _, wrapped = provider.generate(CONTEXT)

    assert provider.can_unwrap(wrapped)


def test_can_unwrap_other_provider(provider: LocalKeyProvider) -> None:
    """A key of another provider kind cannot."""
    _, wrapped = provider.generate(CONTEXT)

    assert not provider.can_unwrap(WrappedKey("vault-transit", wrapped.key_id, wrapped.ciphertext))


def test_can_unwrap_other_keyset(provider: LocalKeyProvider, tmp_path: Path) -> None:
    """A key of another keyset cannot."""
    _, wrapped = LocalKeyProvider.create(tmp_path / "other.json").generate(CONTEXT)

    assert not provider.can_unwrap(wrapped)


@pytest.mark.parametrize("key_id", ["{id}/v9", "{id}", "nonsense"])
def test_can_unwrap_unknown_version(provider: LocalKeyProvider, key_id: str) -> None:
    """A missing version or malformed key id cannot."""
    _, wrapped = provider.generate(CONTEXT)

    assert not provider.can_unwrap(with_key_id(wrapped, key_id.format(id=provider.keyset_id)))


def test_can_unwrap_retired_version(provider: LocalKeyProvider) -> None:
    """A key of a retired version cannot."""
    _, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    provider.retire(1)

    assert not provider.can_unwrap(wrapped)


def test_can_unwrap_disabled_version(provider: LocalKeyProvider) -> None:
    """A key of a disabled version still counts: enable() makes it usable again."""
    _, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())

    provider.disable(1)

    assert provider.can_unwrap(wrapped)


# The keyset file: permissions and writing


@posix_only
def test_created_file_mode_0600(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A new keyset file is readable and writable by its owner only."""
    assert keyset_path.stat().st_mode & 0o777 == 0o600


@posix_only
def test_changed_file_mode_0600(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """The file written by a change is created with mode 0600 too."""
    provider.add_version()

    assert keyset_path.stat().st_mode & 0o777 == 0o600


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_shared_file_rejected(provider: LocalKeyProvider, keyset_path: Path, mode: int) -> None:
    """A keyset file that group or others can access is not opened."""
    keyset_path.chmod(mode)

    with pytest.raises(InsecureKeyFile, match="chmod 600") as caught:
        LocalKeyProvider.open(keyset_path)

    assert caught.value.mode == mode
    assert caught.value.path == str(keyset_path)


@posix_only
def test_shared_file_blocks_changes(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A change is not written over a file whose mode was widened meanwhile."""
    keyset_path.chmod(0o644)

    with pytest.raises(InsecureKeyFile):
        provider.add_version()


@posix_only
def test_symlink_rejected(provider: LocalKeyProvider, keyset_path: Path, tmp_path: Path) -> None:
    """A symbolic link is not followed to a keyset file."""
    link = tmp_path / "link.json"
    link.symlink_to(keyset_path)

    with pytest.raises(KeyRingError, match="symbolic link"):
        LocalKeyProvider.open(link)


@posix_only
def test_fifo_rejected(tmp_path: Path) -> None:
    """A FIFO in place of the file is rejected without blocking."""
    fifo = tmp_path / "keyset.json"
    os.mkfifo(fifo, 0o600)

    with pytest.raises(KeyRingError, match="not a regular file"):
        LocalKeyProvider.open(fifo)


def test_open_missing_file(tmp_path: Path) -> None:
    """A missing file raises KeyRingError naming it."""
    path = tmp_path / "absent.json"

    with pytest.raises(KeyRingError, match=r"absent\.json"):
        LocalKeyProvider.open(path)


def test_create_existing_path_rejected(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """create never overwrites an existing keyset."""
    before = keyset_path.read_bytes()

    with pytest.raises(KeyRingError, match="already exists"):
        LocalKeyProvider.create(keyset_path)

    assert keyset_path.read_bytes() == before


def test_create_missing_directory(tmp_path: Path) -> None:
    """create in a directory that does not exist raises KeyRingError."""
    with pytest.raises(KeyRingError, match="cannot create keyset file"):
        LocalKeyProvider.create(tmp_path / "absent" / "keyset.json")


def test_no_temporary_files_left(provider: LocalKeyProvider, tmp_path: Path) -> None:
    """Writes leave only the keyset file in its directory."""
    provider.promote(provider.add_version())
    provider.retire(1)
    provider.save()

    assert [path.name for path in tmp_path.iterdir()] == ["keyset.json"]


def test_open_reads_created_file(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A reopened keyset has the same id and unwraps what the first one wrapped."""
    data_key, wrapped = provider.generate(CONTEXT)

    reopened = LocalKeyProvider.open(keyset_path)

    assert reopened.keyset_id == provider.keyset_id
    assert reopened.unwrap(wrapped, CONTEXT) == data_key


def test_stale_provider_change_rejected(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A provider does not overwrite a rotation that another writer made after it read."""
    stale = LocalKeyProvider.open(keyset_path)
    provider.promote(provider.add_version())
    _, wrapped = provider.generate(CONTEXT)

    with pytest.raises(KeyRingError, match="changed on disk"):
        stale.add_version()

    assert LocalKeyProvider.open(keyset_path).can_unwrap(wrapped)


def test_save_restores_deleted_file(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """save writes the keyset again from memory after the file was deleted."""
    data_key, wrapped = provider.generate(CONTEXT)
    keyset_path.unlink()

    provider.save()

    assert LocalKeyProvider.open(keyset_path).unwrap(wrapped, CONTEXT) == data_key


# The keyset file: format checks


def set_format_version(document: dict[str, Any]) -> None:
    document["format_version"] = 2


def set_format_version_text(document: dict[str, Any]) -> None:
    document["format_version"] = "1"


def set_format_name(document: dict[str, Any]) -> None:
    document["format"] = "jwks"


def add_unknown_member(document: dict[str, Any]) -> None:
    document["comment"] = "hello"


def remove_primary(document: dict[str, Any]) -> None:
    del document["primary"]


def set_keyset_id(document: dict[str, Any]) -> None:
    document["keyset_id"] = "../../etc/passwd"


def empty_versions(document: dict[str, Any]) -> None:
    document["versions"] = []


def set_unknown_state(document: dict[str, Any]) -> None:
    document["versions"][1]["state"] = "active"


def set_state_list(document: dict[str, Any]) -> None:
    document["versions"][1]["state"] = ["enabled"]


def repeat_version(document: dict[str, Any]) -> None:
    document["versions"][1]["version"] = 1


def shorten_key(document: dict[str, Any]) -> None:
    document["versions"][0]["key"] = base64.b64encode(b"\x00" * 31).decode()


def break_key_base64(document: dict[str, Any]) -> None:
    document["versions"][0]["key"] = "not base64!"


def set_version_bool(document: dict[str, Any]) -> None:
    document["versions"][0]["version"] = True


def set_version_zero(document: dict[str, Any]) -> None:
    document["versions"][0]["version"] = 0


def set_primary_unknown(document: dict[str, Any]) -> None:
    document["primary"] = 9


def disable_primary(document: dict[str, Any]) -> None:
    document["versions"][0]["state"] = "disabled"


def retire_keeping_key(document: dict[str, Any]) -> None:
    document["versions"][1].update(state="retired", retired="2025-01-06T09:30:00Z")


def retire_without_time(document: dict[str, Any]) -> None:
    document["versions"][1]["state"] = "retired"
    del document["versions"][1]["key"]


def set_created_local_time(document: dict[str, Any]) -> None:
    document["versions"][0]["created"] = "2025-01-06 09:30:00+02:00"


def set_unknown_kdf(document: dict[str, Any]) -> None:
    document["protection"] = {"kdf": "pbkdf2"}


def add_protection_member(document: dict[str, Any]) -> None:
    document["protection"]["salt"] = "AAAA"


MALFORMED_DOCUMENTS = [
    pytest.param(set_format_version, "format_version 2", id="format-version-2"),
    pytest.param(set_format_version_text, "format_version '1'", id="format-version-text"),
    pytest.param(set_format_name, '"format" must be', id="format-name"),
    pytest.param(add_unknown_member, "unknown member 'comment'", id="unknown-member"),
    pytest.param(remove_primary, "has no primary", id="missing-member"),
    pytest.param(set_keyset_id, "16 lowercase hex digits", id="keyset-id"),
    pytest.param(empty_versions, "non-empty list", id="no-versions"),
    pytest.param(set_unknown_state, r'versions\[1\]."state"', id="unknown-state"),
    pytest.param(set_state_list, r'versions\[1\]."state"', id="state-list"),
    pytest.param(repeat_version, "version 1 appears twice", id="repeated-version"),
    pytest.param(shorten_key, "31 bytes, expected 32", id="short-key"),
    pytest.param(break_key_base64, "not valid base64", id="key-not-base64"),
    pytest.param(set_version_bool, "must be an integer", id="version-bool"),
    pytest.param(set_version_zero, "must be an integer from 1", id="version-zero"),
    pytest.param(set_primary_unknown, "version 9, which is not in the file", id="primary-unknown"),
    pytest.param(disable_primary, "which is not enabled", id="primary-disabled"),
    pytest.param(retire_keeping_key, "unknown member 'key'", id="retired-with-key"),
    pytest.param(retire_without_time, "has no retired", id="retired-without-time"),
    pytest.param(set_created_local_time, "UTC time", id="created-not-utc"),
    pytest.param(set_unknown_kdf, '"protection.kdf"', id="unknown-kdf"),
    pytest.param(add_protection_member, "unknown member 'salt'", id="protection-member"),
]


@pytest.mark.parametrize(("edit", "message"), MALFORMED_DOCUMENTS)
def test_malformed_file_rejected(
    provider: LocalKeyProvider,
    keyset_path: Path,
    edit: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    """Each kind of malformed keyset file raises KeyRingError naming the problem."""
    provider.add_version()
    document = read_document(keyset_path)
    edit(document)
    write_document(keyset_path, document)

    with pytest.raises(KeyRingError, match=message) as caught:
        LocalKeyProvider.open(keyset_path)

    assert str(keyset_path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{", "not valid JSON at line 1"),
        (b'{"format": "jivs-local-keyset", "format": "x"}', "'format' appears twice"),
        (b'{"format": NaN}', "NaN is not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["truncated", "repeated-member", "nan", "array", "not-utf8", "empty", "deep-nesting"],
)
def test_invalid_json_rejected(keyset_path: Path, text: bytes, message: str) -> None:
    """Text that is not one JSON object with unique member names is rejected."""
    keyset_path.write_bytes(text)
    keyset_path.chmod(0o600)

    with pytest.raises(KeyRingError, match=message):
        LocalKeyProvider.open(keyset_path)


def test_repeated_member_in_entry_rejected(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A repeated member name inside a version entry is rejected too."""
    text = keyset_path.read_text().replace('"state": "enabled"', '"state": "enabled", "state": "x"')
    keyset_path.write_text(text)

    with pytest.raises(KeyRingError, match="'state' appears twice"):
        LocalKeyProvider.open(keyset_path)


def test_oversized_file_rejected(keyset_path: Path) -> None:
    """A file over MAX_FILE_BYTES is rejected before it is parsed."""
    keyset_path.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    keyset_path.chmod(0o600)

    with pytest.raises(KeyRingError, match="over the limit"):
        LocalKeyProvider.open(keyset_path)


def test_malformed_key_not_echoed(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """An error about a bad key member does not repeat the member's value."""
    document = read_document(keyset_path)
    document["versions"][0]["key"] = "SECRETVALUE" + document["versions"][0]["key"][11:-1]
    write_document(keyset_path, document)

    with pytest.raises(KeyRingError) as caught:
        LocalKeyProvider.open(keyset_path)

    assert "SECRETVALUE" not in str(caught.value)


# Passphrase protection


def test_passphrase_round_trip(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """A protected keyset opens with its passphrase and unwraps what it wrapped."""
    data_key, wrapped = protected.generate(CONTEXT)

    reopened = LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)

    assert reopened.protected
    assert reopened.unwrap(wrapped, CONTEXT) == data_key
    assert [info.state for info in reopened.versions()] == ["enabled", "enabled", "disabled"]


def test_passphrase_as_bytes(keyset_path: Path) -> None:
    """A bytes passphrase works like a str one."""
    LocalKeyProvider.create(
        keyset_path, passphrase=b"\x00\xffraw", scrypt_parameters=SCRYPT_TESTS_ONLY
    )

    reopened = LocalKeyProvider.open(keyset_path, passphrase=b"\x00\xffraw")

    assert reopened.protected


def test_passphrase_normalised_nfkc(keyset_path: Path) -> None:
    """A str passphrase is NFKC-normalised: the ligature U+FB01 equals the letters "fi"."""
    LocalKeyProvider.create(
        keyset_path, passphrase="\ufb01le cabinet", scrypt_parameters=SCRYPT_TESTS_ONLY
    )

    reopened = LocalKeyProvider.open(keyset_path, passphrase="file cabinet")

    assert reopened.protected


def test_wrong_passphrase_rejected(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """A wrong passphrase gets a clear error that does not repeat it."""
    with pytest.raises(KeyRingError, match="passphrase is wrong") as caught:
        LocalKeyProvider.open(keyset_path, passphrase=OTHER_PASSPHRASE)

    assert OTHER_PASSPHRASE not in str(caught.value)
    assert PASSPHRASE not in str(caught.value)


def test_missing_passphrase_rejected(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """Opening a protected keyset without a passphrase raises an error asking for one."""
    with pytest.raises(KeyRingError, match="protected by a passphrase"):
        LocalKeyProvider.open(keyset_path)


def test_unneeded_passphrase_rejected(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """A passphrase for an unprotected keyset is an error, not silently ignored."""
    with pytest.raises(KeyRingError, match="not protected by a passphrase"):
        LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)


@pytest.mark.parametrize("passphrase", ["", b"", 12345])
def test_invalid_passphrase_rejected(keyset_path: Path, passphrase: Any) -> None:
    """An empty or non-text passphrase is rejected and no file is created."""
    with pytest.raises(ConfigurationError, match="invalid passphrase") as caught:
        LocalKeyProvider.create(
            keyset_path, passphrase=passphrase, scrypt_parameters=SCRYPT_TESTS_ONLY
        )

    assert caught.value.value is None
    assert not keyset_path.exists()


def test_protected_file_holds_no_plain_key(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """Once protected, the raw file contains none of the keys in any spelling."""
    provider.add_version()
    keys = list(file_keys(keyset_path).values())

    provider.change_passphrase(PASSPHRASE, scrypt_parameters=SCRYPT_TESTS_ONLY)

    raw = keyset_path.read_bytes()
    assert not [key for key in keys if key in raw]
    assert not leaks(raw.decode(), keys)


def test_change_passphrase_reencrypts(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """After change_passphrase, the new passphrase opens the file and the old one fails."""
    data_key, wrapped = protected.generate(CONTEXT)

    protected.change_passphrase(OTHER_PASSPHRASE, scrypt_parameters=SCRYPT_TESTS_ONLY)

    assert LocalKeyProvider.open(keyset_path, passphrase=OTHER_PASSPHRASE).unwrap(
        wrapped, CONTEXT
    ) == (data_key)
    with pytest.raises(KeyRingError, match="passphrase is wrong"):
        LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)


def test_change_passphrase_new_salt(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """Setting the same passphrase again draws a new salt."""
    before = read_document(keyset_path)["protection"]["salt"]

    protected.change_passphrase(PASSPHRASE, scrypt_parameters=SCRYPT_TESTS_ONLY)

    assert read_document(keyset_path)["protection"]["salt"] != before


def test_remove_passphrase(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """change_passphrase(None) stores the keys unencrypted again."""
    data_key, wrapped = protected.generate(CONTEXT)

    protected.change_passphrase(None)

    reopened = LocalKeyProvider.open(keyset_path)
    assert not reopened.protected
    assert reopened.unwrap(wrapped, CONTEXT) == data_key


def test_protected_changes_need_no_passphrase(
    protected: LocalKeyProvider, keyset_path: Path
) -> None:
    """Changes to an open protected keyset are saved encrypted without asking again."""
    protected.promote(protected.add_version())

    reopened = LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)

    assert reopened.primary_version == 4


def change_primary(document: dict[str, Any]) -> None:
    document["primary"] = 2


def enable_disabled_version(document: dict[str, Any]) -> None:
    document["versions"][2]["state"] = "enabled"


def change_created_time(document: dict[str, Any]) -> None:
    document["versions"][0]["created"] = "2001-01-01T00:00:00Z"


def change_keyset_id(document: dict[str, Any]) -> None:
    document["keyset_id"] = "0123456789abcdef"


def drop_version(document: dict[str, Any]) -> None:
    del document["versions"][2]


def flip_encrypted_keys(document: dict[str, Any]) -> None:
    sealed = base64.b64decode(document["protection"]["keys"])
    document["protection"]["keys"] = base64.b64encode(flip_byte(sealed, 0)).decode()


def replace_nonce(document: dict[str, Any]) -> None:
    document["protection"]["nonce"] = base64.b64encode(b"\x00" * 12).decode()


@pytest.mark.parametrize(
    "edit",
    [
        change_primary,
        enable_disabled_version,
        change_created_time,
        change_keyset_id,
        flip_encrypted_keys,
        replace_nonce,
    ],
)
def test_metadata_tampering_detected(
    protected: LocalKeyProvider, keyset_path: Path, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Editing a protected file's metadata or ciphertext is detected on open."""
    document = read_document(keyset_path)
    edit(document)
    write_document(keyset_path, document)

    with pytest.raises(KeyRingError, match="was modified"):
        LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)


def test_dropped_version_detected(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """Removing a version entry from a protected file is detected."""
    document = read_document(keyset_path)
    drop_version(document)
    write_document(keyset_path, document)

    with pytest.raises(KeyRingError, match=r"was modified|do not match"):
        LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)


def test_file_scrypt_cost_bounded(protected: LocalKeyProvider, keyset_path: Path) -> None:
    """An edited file cannot make open() derive with unbounded memory."""
    document = read_document(keyset_path)
    document["protection"]["n"] = 2**30
    write_document(keyset_path, document)

    with pytest.raises(KeyRingError, match="unusable scrypt parameters"):
        LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)


def test_weak_scrypt_logs_warning(
    protected: LocalKeyProvider, keyset_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening a keyset protected with test-only scrypt parameters logs a warning."""
    caplog.set_level(logging.WARNING, logger="jivs_security.crypto")

    LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)

    assert any("below the OWASP minimum" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("n", "r", "p"),
    [(1000, 8, 1), (1, 8, 1), (2**10, 0, 1), (2**10, 8, 0), (2**10, 8, 17), (2**21, 8, 1)],
    ids=["n-not-power", "n-one", "r-zero", "p-zero", "p-large", "memory"],
)
def test_scrypt_parameters_validated(n: int, r: int, p: int) -> None:
    """scrypt parameters outside RFC 7914 or the memory limit are rejected."""
    with pytest.raises(ConfigurationError, match="invalid scrypt parameters"):
        ScryptParameters(n=n, r=r, p=p)


def test_default_scrypt_is_owasp() -> None:
    """create and change_passphrase default to the OWASP scrypt minimum: n=2^17, r=8, p=1."""
    create_default = inspect.signature(LocalKeyProvider.create).parameters["scrypt_parameters"]
    change_default = inspect.signature(LocalKeyProvider.change_passphrase).parameters[
        "scrypt_parameters"
    ]

    assert ScryptParameters(n=2**17, r=8, p=1) == SCRYPT_OWASP_MINIMUM
    assert create_default.default is SCRYPT_OWASP_MINIMUM
    assert change_default.default is SCRYPT_OWASP_MINIMUM


def test_default_scrypt_round_trip(keyset_path: Path) -> None:
    """A keyset protected with the default parameters (128 MiB) opens again."""
    LocalKeyProvider.create(keyset_path, passphrase=PASSPHRASE)

    reopened = LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)

    assert read_document(keyset_path)["protection"]["n"] == 2**17
    assert reopened.protected


# No key material in repr, str, errors or logs


def test_repr_shows_ids_only(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """repr names the keyset id, primary version and version count, and no key."""
    provider.add_version()

    text = repr(provider)

    assert text == f"LocalKeyProvider(keyset_id={provider.keyset_id!r}, primary=1, versions=2)"
    assert not leaks(text, list(file_keys(keyset_path).values()))


def error_texts(call: Callable[[], object]) -> list[str]:
    """Call ``call``, which must raise a library error, and return every text of the error."""
    with pytest.raises(
        (KeyRingError, KeyUnavailable, DecryptionFailed, ConfigurationError)
    ) as caught:
        call()

    return [str(caught.value), repr(caught.value), repr(vars(caught.value))]


def test_no_key_material_anywhere(
    provider: LocalKeyProvider, keyset_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No KEK or data key shows in repr, str, errors or logs of any operation."""
    caplog.set_level(logging.DEBUG, logger="jivs_security")
    texts: list[str] = []
    data_key, wrapped = provider.generate(CONTEXT)
    provider.promote(provider.add_version())
    provider.add_version()
    kek_values = list(file_keys(keyset_path).values())
    provider.disable(3)

    failing_calls: list[Callable[[], object]] = [
        lambda: provider.unwrap(wrapped, {}),
        lambda: provider.unwrap(with_key_id(wrapped, f"{provider.keyset_id}/v3"), CONTEXT),
        lambda: provider.unwrap(with_key_id(wrapped, f"{provider.keyset_id}/v9"), CONTEXT),
        lambda: provider.disable(2),
        lambda: provider.retire(2),
        lambda: provider.promote(3),
        lambda: provider.wrap(data_key[:31], CONTEXT),
        lambda: LocalKeyProvider.create(keyset_path),
        lambda: LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE),
    ]
    for call in failing_calls:
        texts += error_texts(call)
    provider.change_passphrase(PASSPHRASE, scrypt_parameters=SCRYPT_TESTS_ONLY)
    reopened = LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)
    texts += [repr(wrapped), str(wrapped), repr(provider.rewrap(wrapped, CONTEXT))]
    provider.retire(1)
    texts += error_texts(lambda: provider.unwrap(wrapped, CONTEXT))
    texts += error_texts(lambda: LocalKeyProvider.open(keyset_path, passphrase="wrong"))
    if os.name == "posix":
        keyset_path.chmod(0o644)
        texts += error_texts(lambda: LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE))
    texts += [repr(provider), str(provider), repr(reopened), repr(provider.versions())]
    texts += [record.getMessage() for record in caplog.records]

    found = leaks("\n".join(texts), [*kek_values, data_key])

    assert len(kek_values) == 3
    assert caplog.records
    assert not found


def test_no_passphrase_in_logs(
    protected: LocalKeyProvider, keyset_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the passphrase nor a wrong guess shows in logs or errors."""
    caplog.set_level(logging.DEBUG, logger="jivs_security")
    texts = [repr(protected)]

    protected.change_passphrase(OTHER_PASSPHRASE, scrypt_parameters=SCRYPT_TESTS_ONLY)
    with pytest.raises(KeyRingError) as caught:
        LocalKeyProvider.open(keyset_path, passphrase=PASSPHRASE)
    texts += [str(caught.value), *(record.getMessage() for record in caplog.records)]

    joined = "\n".join(texts)
    assert PASSPHRASE not in joined
    assert OTHER_PASSPHRASE not in joined


def test_one_info_line_per_change(
    provider: LocalKeyProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """Each change logs exactly one INFO line, and wrapping logs nothing."""
    caplog.set_level(logging.DEBUG, logger="jivs_security")

    provider.generate(CONTEXT)
    quiet = list(caplog.records)
    provider.add_version()

    assert quiet == []
    assert [record.levelno for record in caplog.records] == [logging.INFO]


# Threads


def test_concurrent_wraps_during_rotation(provider: LocalKeyProvider, keyset_path: Path) -> None:
    """8 threads wrapping while another rotates never produce a key that fails to unwrap."""
    start = threading.Barrier(9)

    def wrap_many() -> list[tuple[bytes, WrappedKey]]:
        start.wait()
        return [provider.generate(CONTEXT) for _ in range(50)]

    def rotate_many() -> None:
        start.wait()
        for _ in range(10):
            provider.promote(provider.add_version())

    with ThreadPoolExecutor(max_workers=9) as pool:
        wrapping = [pool.submit(wrap_many) for _ in range(8)]
        rotating = pool.submit(rotate_many)
        rotating.result()
        pairs = [pair for future in wrapping for pair in future.result()]
    reopened = LocalKeyProvider.open(keyset_path)

    assert len(pairs) == 400
    assert provider.primary_version == 11
    assert [provider.unwrap(wrapped, CONTEXT) for _, wrapped in pairs] == [k for k, _ in pairs]
    assert [reopened.unwrap(wrapped, CONTEXT) for _, wrapped in pairs] == [k for k, _ in pairs]
