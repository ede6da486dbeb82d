"""The keyset file of LocalKeyProvider: format, data model, passphrase protection and I/O.

File format, version 1
======================

One UTF-8 JSON object with exactly these members::

    {
      "format": "jivs-local-keyset",
      "format_version": 1,
      "keyset_id": "3f9c0a71d2b84e65",
      "primary": 2,
      "versions": [
        {"version": 1, "state": "disabled", "created": "2025-01-06T09:30:00Z",
         "key": "<32 bytes, standard base64>"},
        {"version": 2, "state": "enabled", "created": "2025-04-07T09:30:00Z",
         "key": "<32 bytes, standard base64>"},
        {"version": 3, "state": "retired", "created": "2025-04-07T10:00:00Z",
         "retired": "2025-05-01T08:00:00Z"}
      ],
      "protection": {"kdf": "none"}
    }

``state`` is ``enabled``, ``disabled`` or ``retired``. Times are UTC in
``YYYY-MM-DDTHH:MM:SSZ`` form. A retired version has a ``retired`` time and
no ``key``. JSON objects with repeated member names, unknown members or
another ``format_version`` are rejected.

With a passphrase, no version entry has a ``key`` and ``protection`` is::

    {"kdf": "scrypt", "n": 131072, "r": 8, "p": 1,
     "salt": "<16 bytes>", "check": "<32 bytes>",
     "nonce": "<12 bytes>", "keys": "<AES-256-GCM ciphertext and tag>"}

all in standard base64 except the scrypt parameters ``n``, ``r`` and ``p``
(RFC 7914). scrypt turns the passphrase (NFKC-normalised UTF-8 when given as
``str``) and ``salt`` into 64 bytes. The first 32 are the AES-256-GCM key
that encrypts ``keys``, a JSON object mapping each version that is not
retired, as a decimal string, to its base64 key. The last 32 are an
HMAC-SHA-256 key, and ``check`` is its tag over the ASCII label
``jivs-security local-keyset passphrase check``. The check tells a wrong
passphrase apart from an edited file, and it gives someone guessing
passphrases nothing that the GCM tag does not already give. The additional
authenticated data of ``keys`` is the ASCII label ``jivs-security
local-keyset v1`` and a zero byte, followed by the whole document without
``protection.nonce`` and ``protection.keys``, serialised as JSON with sorted
member names, no spaces and ASCII escapes. So versions, states and the
primary version cannot be edited unnoticed. Without a passphrase, whoever can
write the file can change the keys too, so nothing is authenticated.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from jivs_security.errors import ConfigurationError, InsecureKeyFile, KeyRingError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KEY_BYTES",
    "MAX_FILE_BYTES",
    "MAX_VERSION",
    "NONCE_BYTES",
    "SCRYPT_OWASP_MINIMUM",
    "SCRYPT_TESTS_ONLY",
    "KeyVersionState",
    "Keyset",
    "Protection",
    "ScryptParameters",
    "Version",
    "below_owasp",
    "decode",
    "encode",
    "is_int",
    "new_protection",
    "read_file",
    "shorten",
    "write_file",
]

logger = logging.getLogger("jivs_security.crypto")

FORMAT_NAME: Final = "jivs-local-keyset"
FORMAT_VERSION: Final = 1

# Keyset files stay far below this: an entry takes about 130 bytes, so the
# limit allows some 30,000 versions. It bounds the memory and work of open().
MAX_FILE_BYTES: Final = 4 * 1024 * 1024

KEY_BYTES: Final = 32  # AES-256 keys and data keys
NONCE_BYTES: Final = 12  # 96-bit GCM nonces (NIST SP 800-38D, section 8.2.2)
_SALT_BYTES: Final = 16
_CHECK_BYTES: Final = 32  # an HMAC-SHA-256 tag
MAX_VERSION: Final = 2**32 - 1  # versions are packed as 32-bit numbers into the wrap AAD

_METADATA_LABEL: Final = b"jivs-security local-keyset v1\x00"
_CHECK_LABEL: Final = b"jivs-security local-keyset passphrase check"

_KEYSET_ID: Final = re.compile(r"[0-9a-f]{16}")
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

# Permission bits for group and others. A keyset file with any of them set is
# rejected, because anyone who can read it can unwrap every data key.
_SHARED_BITS: Final = stat.S_IRWXG | stat.S_IRWXO

# scrypt needs about 128 * r * n bytes of memory. A file asking for more than
# this is rejected before deriving anything, so an edited file cannot make
# open() allocate without bound.
_MAX_SCRYPT_MEMORY: Final = 1024 * 1024 * 1024
_MAX_SCRYPT_PARALLELISM: Final = 16


class KeyVersionState(StrEnum):
    """The state of one KEK version, whose value is what the keyset file stores."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    RETIRED = "retired"


def _scrypt_problem(n: object, r: object, p: object) -> str | None:
    if not (isinstance(n, int) and isinstance(r, int) and isinstance(p, int)) or any(
        isinstance(value, bool) for value in (n, r, p)
    ):
        return "n, r and p must be integers"
    if n < 2 or n & (n - 1):
        return "n must be a power of two, at least 2"
    if r < 1 or p < 1:
        return "r and p must be at least 1"
    if p > _MAX_SCRYPT_PARALLELISM:
        return f"p is over the limit of {_MAX_SCRYPT_PARALLELISM}"
    if 128 * r * n > _MAX_SCRYPT_MEMORY:
        return f"128 * r * n is {128 * r * n} bytes, over the limit of {_MAX_SCRYPT_MEMORY}"
    return None


@dataclass(frozen=True, slots=True)
class ScryptParameters:
    """scrypt cost parameters (RFC 7914, section 2) for a passphrase-protected keyset.

    ``n`` is the CPU/memory cost and a power of two, ``r`` the block size
    and ``p`` the parallelization. Memory use is about 128 * r * n bytes, so
    :data:`SCRYPT_OWASP_MINIMUM` takes 128 MiB.
    """

    n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        problem = _scrypt_problem(self.n, self.r, self.p)
        if problem:
            raise ConfigurationError(
                f"invalid scrypt parameters n={self.n!r} r={self.r!r} p={self.p!r}: {problem}",
                setting="scrypt_parameters",
                expected="n a power of two from 2, r and p at least 1, p at most "
                f"{_MAX_SCRYPT_PARALLELISM}, 128 * r * n at most {_MAX_SCRYPT_MEMORY} bytes",
                value=(self.n, self.r, self.p),
            )


# The OWASP Password Storage Cheat Sheet recommends scrypt with a CPU/memory
# cost of at least 2^17, a block size of 8 and a parallelization of 1.
SCRYPT_OWASP_MINIMUM: Final = ScryptParameters(n=2**17, r=8, p=1)

# For tests only: 1 MiB of memory and a few milliseconds per derivation, so
# a passphrase is cheap to guess. Never use it for a real keyset.
SCRYPT_TESTS_ONLY: Final = ScryptParameters(n=2**10, r=8, p=1)


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    state: KeyVersionState
    created: datetime
    retired: datetime | None
    key: bytes | None = field(repr=False)  # None once retired


@dataclass(frozen=True, slots=True)
class Protection:
    """The passphrase-derived key and scrypt settings, kept so saves need no passphrase."""

    parameters: ScryptParameters
    salt: bytes
    check: bytes
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Keyset:
    """One complete state of the keyset, never changed in place: every change builds a new one."""

    keyset_id: str
    primary: int
    versions: Mapping[int, Version] = field(repr=False)
    protection: Protection | None = field(repr=False)


# ----------------------------------------------------------------- passphrase


def _passphrase_bytes(passphrase: object) -> bytes:
    if isinstance(passphrase, str):
        # NIST SP 800-63B-4 recommends NFKC or NFKD for secrets that accept
        # Unicode, so the same passphrase typed on another system still works.
        passphrase = unicodedata.normalize("NFKC", passphrase).encode("utf-8")
    if not isinstance(passphrase, bytes) or not passphrase:
        raise ConfigurationError(
            "invalid passphrase: expected a non-empty str or bytes",
            setting="passphrase",
            expected="a non-empty str or bytes, or None for no passphrase",
        )
    return passphrase


def _derive(passphrase: object, salt: bytes, parameters: ScryptParameters) -> tuple[bytes, bytes]:
    """Return the key that encrypts the KEKs and the check tag for ``passphrase``."""
    secret = _passphrase_bytes(passphrase)
    kdf = Scrypt(salt=salt, length=2 * KEY_BYTES, n=parameters.n, r=parameters.r, p=parameters.p)
    derived = kdf.derive(secret)
    check = hmac.new(derived[KEY_BYTES:], _CHECK_LABEL, hashlib.sha256).digest()
    return derived[:KEY_BYTES], check


def new_protection(passphrase: object, parameters: ScryptParameters) -> Protection:
    if not isinstance(parameters, ScryptParameters):
        raise ConfigurationError(
            "invalid scrypt parameters: expected ScryptParameters, got "
            f"{type(parameters).__name__}",
            setting="scrypt_parameters",
            expected="a ScryptParameters, such as SCRYPT_OWASP_MINIMUM",
        )
    salt = os.urandom(_SALT_BYTES)
    key, check = _derive(passphrase, salt, parameters)
    return Protection(parameters, salt, check, key)


def below_owasp(parameters: ScryptParameters) -> bool:
    return parameters.n < SCRYPT_OWASP_MINIMUM.n or parameters.r < SCRYPT_OWASP_MINIMUM.r


# ------------------------------------------------------------------- encoding


def encode(keyset: Keyset) -> bytes:
    """Serialise ``keyset`` in the file format described in the module documentation."""
    protection = keyset.protection
    entries: list[dict[str, Any]] = []
    for version in sorted(keyset.versions.values(), key=lambda v: v.number):
        entry: dict[str, Any] = {
            "version": version.number,
            "state": version.state.value,
            "created": _format_time(version.created),
        }
        if version.retired is not None:
            entry["retired"] = _format_time(version.retired)
        if version.key is not None and protection is None:
            entry["key"] = _b64encode(version.key)
        entries.append(entry)

    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "keyset_id": keyset.keyset_id,
        "primary": keyset.primary,
        "versions": entries,
        "protection": {"kdf": "none"},
    }
    if protection is not None:
        document["protection"] = {
            "kdf": "scrypt",
            "n": protection.parameters.n,
            "r": protection.parameters.r,
            "p": protection.parameters.p,
            "salt": _b64encode(protection.salt),
            "check": _b64encode(protection.check),
        }
        keys = {
            str(version.number): _b64encode(version.key)
            for version in keyset.versions.values()
            if version.key is not None
        }
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(keys, sort_keys=True).encode("ascii")
        sealed = AESGCM(protection.key).encrypt(nonce, plaintext, _metadata_aad(document))
        document["protection"]["nonce"] = _b64encode(nonce)
        document["protection"]["keys"] = _b64encode(sealed)

    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _metadata_aad(document: Mapping[str, Any]) -> bytes:
    """Return the AAD that binds the document's metadata to the encrypted keys."""
    protection = {
        name: value
        for name, value in document["protection"].items()
        if name not in ("nonce", "keys")
    }
    metadata = {**document, "protection": protection}
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _METADATA_LABEL + canonical.encode("ascii")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shorten(value: object, limit: int = 80) -> str:
    """Return the repr of an untrusted identifier for a message, cut to ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[:limit] + "..."


# ------------------------------------------------------------------- decoding


class _Reader:
    """Validate one keyset document, raising KeyRingError that names the file and the member."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def invalid(self, problem: str) -> KeyRingError:
        return KeyRingError(
            f"keyset file {self.source} is invalid: {problem}. Restore it from a backup, "
            "because keyset files are not meant to be edited by hand"
        )

    def members(
        self, value: object, where: str, required: frozenset[str], optional: frozenset[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.invalid(f"{where} must be a JSON object")
        missing = sorted(required - value.keys())
        if missing:
            raise self.invalid(f"{where} has no {', '.join(missing)}")
        unknown = sorted(value.keys() - required - optional)
        if unknown:
            raise self.invalid(f"{where} has unknown member {shorten(unknown[0])}")
        return value

    def integer(self, value: object, where: str, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.invalid(f"{where} must be an integer from {low} to {high}")
        return value

    def binary(self, value: object, where: str, length: int | None = None) -> bytes:
        if not isinstance(value, str):
            raise self.invalid(f"{where} must be a base64 string")
        try:
            data = base64.b64decode(value.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise self.invalid(f"{where} is not valid base64") from None
        if _b64encode(data) != value:
            raise self.invalid(f"{where} is not in canonical base64")
        if length is not None and len(data) != length:
            raise self.invalid(f"{where} is {len(data)} bytes, expected {length}")
        return data

    def time(self, value: object, where: str) -> datetime:
        try:
            if not isinstance(value, str):
                raise ValueError
            return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise self.invalid(f"{where} must be a UTC time like 2025-01-06T09:30:00Z") from None


_TOP_MEMBERS: Final = frozenset(
    {"format", "format_version", "keyset_id", "primary", "versions", "protection"}
)
_VERSION_MEMBERS: Final = frozenset({"version", "state", "created"})
_SCRYPT_MEMBERS: Final = frozenset({"kdf", "n", "r", "p", "salt", "check", "nonce", "keys"})


def decode(data: bytes, source: Path, passphrase: str | bytes | None) -> Keyset:
    """Parse and check a keyset file, decrypting its keys with ``passphrase`` if protected."""
    reader = _Reader(source)
    document = reader.members(_parse_json(data, reader), "the file", _TOP_MEMBERS, frozenset())

    if document["format"] != FORMAT_NAME:
        raise reader.invalid(f'"format" must be {FORMAT_NAME!r}')
    if not is_int(document["format_version"]) or document["format_version"] != FORMAT_VERSION:
        raise KeyRingError(
            f"keyset file {source} has format_version {shorten(document['format_version'])}, "
            f"but this version of jivs reads only format_version {FORMAT_VERSION}. Upgrade "
            "jivs to open it"
        )
    keyset_id = document["keyset_id"]
    if not isinstance(keyset_id, str) or not _KEYSET_ID.fullmatch(keyset_id):
        raise reader.invalid('"keyset_id" must be 16 lowercase hex digits')

    protection_member = document["protection"]
    kdf = protection_member.get("kdf") if isinstance(protection_member, dict) else None
    if kdf not in ("none", "scrypt"):
        raise reader.invalid('"protection.kdf" must be "none" or "scrypt"')
    protected = kdf == "scrypt"
    if not protected:
        reader.members(protection_member, '"protection"', frozenset({"kdf"}), frozenset())
    if protected and passphrase is None:
        raise KeyRingError(
            f"keyset file {source} is protected by a passphrase. Pass passphrase= to open it"
        )
    if not protected and passphrase is not None:
        raise KeyRingError(
            f"keyset file {source} is not protected by a passphrase. Open it without one, then "
            "call change_passphrase() to protect it"
        )

    versions = _decode_versions(document["versions"], reader, protected)
    primary = reader.integer(document["primary"], '"primary"', 1, MAX_VERSION)
    if primary not in versions:
        raise reader.invalid(f'"primary" names version {primary}, which is not in the file')
    if versions[primary].state is not KeyVersionState.ENABLED:
        raise reader.invalid(f'"primary" names version {primary}, which is not enabled')

    protection = None
    if protected:
        assert passphrase is not None  # checked above
        protection, keys = _decrypt_keys(document, reader, passphrase)
        expected = {n for n, v in versions.items() if v.state is not KeyVersionState.RETIRED}
        if keys.keys() != expected:
            raise reader.invalid(
                "the encrypted keys do not match the versions that are not retired"
            )
        versions = {n: replace(v, key=keys.get(n)) for n, v in versions.items()}

    return Keyset(keyset_id, primary, versions, protection)


def _parse_json(data: bytes, reader: _Reader) -> object:
    def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        members: dict[str, Any] = {}
        for name, value in pairs:
            if name in members:
                raise ValueError(f"member {shorten(name)} appears twice in one object")
            members[name] = value
        return members

    def reject_constant(name: str) -> object:
        raise ValueError(f"{name} is not valid JSON")

    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=unique_members, parse_constant=reject_constant)
    except UnicodeDecodeError:
        raise reader.invalid("the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # The position only, never the text around it, which may be a key.
        raise reader.invalid(f"not valid JSON at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise reader.invalid("the JSON is nested too deeply") from None
    except ValueError as exc:
        raise reader.invalid(str(exc)) from None


def _decode_versions(entries: object, reader: _Reader, protected: bool) -> dict[int, Version]:
    if not isinstance(entries, list) or not entries:
        raise reader.invalid('"versions" must be a non-empty list')
    versions: dict[int, Version] = {}
    for index, entry in enumerate(entries):
        where = f"versions[{index}]"
        if not isinstance(entry, dict):
            raise reader.invalid(f"{where} must be a JSON object")
        raw_state = entry.get("state")
        if not isinstance(raw_state, str) or raw_state not in {
            state.value for state in KeyVersionState
        }:
            raise reader.invalid(f'{where}."state" must be "enabled", "disabled" or "retired"')
        state = KeyVersionState(raw_state)
        retired = state is KeyVersionState.RETIRED
        optional = {"retired"} if retired else set()
        if not retired and not protected:
            optional.add("key")
        required = _VERSION_MEMBERS | optional
        fields = reader.members(entry, where, required, frozenset())

        number = reader.integer(fields["version"], f'{where}."version"', 1, MAX_VERSION)
        if number in versions:
            raise reader.invalid(f"version {number} appears twice")
        key = None
        if "key" in fields:
            key = reader.binary(fields["key"], f'{where}."key"', KEY_BYTES)
        versions[number] = Version(
            number=number,
            state=state,
            created=reader.time(fields["created"], f'{where}."created"'),
            retired=reader.time(fields["retired"], f'{where}."retired"') if retired else None,
            key=key,
        )
    return versions


def _decrypt_keys(
    document: dict[str, Any], reader: _Reader, passphrase: str | bytes
) -> tuple[Protection, dict[int, bytes]]:
    fields = reader.members(document["protection"], '"protection"', _SCRYPT_MEMBERS, frozenset())
    problem = _scrypt_problem(fields["n"], fields["r"], fields["p"])
    if problem:
        raise reader.invalid(f'"protection" has unusable scrypt parameters: {problem}')
    parameters = ScryptParameters(fields["n"], fields["r"], fields["p"])
    salt = reader.binary(fields["salt"], '"protection.salt"', _SALT_BYTES)
    stored_check = reader.binary(fields["check"], '"protection.check"', _CHECK_BYTES)
    nonce = reader.binary(fields["nonce"], '"protection.nonce"', NONCE_BYTES)
    sealed = reader.binary(fields["keys"], '"protection.keys"')

    key, check = _derive(passphrase, salt, parameters)
    if not hmac.compare_digest(check, stored_check):
        raise KeyRingError(
            f"cannot open keyset file {reader.source}: the passphrase is wrong. Check it and "
            "try again"
        )
    try:
        plaintext = AESGCM(key).decrypt(nonce, sealed, _metadata_aad(document))
    except InvalidTag:
        raise KeyRingError(
            f"keyset file {reader.source} was modified: its versions, states, primary version "
            "or encrypted keys differ from what was written with this passphrase. Restore it "
            "from a backup"
        ) from None

    encoded = _parse_json(plaintext, reader)
    if not isinstance(encoded, dict):
        raise reader.invalid("the encrypted keys are not a JSON object")
    keys: dict[int, bytes] = {}
    for name, value in encoded.items():
        if not re.fullmatch(r"[1-9][0-9]{0,9}", name):
            raise reader.invalid("the encrypted keys name a version that is not a number")
        keys[int(name)] = reader.binary(value, f"the encrypted key of version {name}", KEY_BYTES)
    return Protection(parameters, salt, stored_check, key), keys


# ---------------------------------------------------------------------- files


def read_file(source: Path) -> bytes:
    """Read a keyset file, which must be a regular file that only its owner may access."""
    # O_NOFOLLOW rejects a symbolic link in place of the file, and O_NONBLOCK
    # keeps a FIFO from blocking open(). The file type is checked below.
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        handle = os.open(source, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            reason = "it is a symbolic link, and keyset files are opened without following links"
        else:
            reason = exc.strerror or type(exc).__name__
        raise KeyRingError(f"cannot open keyset file {source}: {reason}") from exc

    with os.fdopen(handle, "rb") as file:
        # Checked on the open descriptor, so the file cannot be swapped
        # between the check and the read.
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyRingError(f"cannot open keyset file {source}: it is not a regular file")
        # NOTE: Windows has no group and other permission bits, so this check
        # is skipped there. Protect the file with an ACL instead.
        mode = stat.S_IMODE(info.st_mode)
        if os.name == "posix" and mode & _SHARED_BITS:
            raise InsecureKeyFile(
                f"keyset file {source} has mode {mode:04o}, so users other than its owner can "
                f"access it. Run 'chmod 600 {source}', and rotate the keys if others may have "
                "copied them",
                path=str(source),
                mode=mode,
            )
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise KeyRingError(
            f"keyset file {source} is over the limit of {MAX_FILE_BYTES} bytes, so it is not "
            "a keyset file or was damaged"
        )
    return data


def write_file(target: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``target`` atomically with mode 0600 and flush it to disk.

    Without ``overwrite``, raise ``FileExistsError`` if ``target`` exists:
    the temporary file is then hard-linked to ``target``, which never
    replaces an existing file.
    """
    # mkstemp creates the file with mode 0600 whatever the umask is.
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)
            os.unlink(temporary)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

    # The rename is durable only once the directory entry reaches the disk.
    # Some file systems cannot flush a directory, but the file itself is on disk.
    if os.name == "posix":
        try:
            directory = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            logger.warning("cannot flush directory %s to disk: %s", target.parent, exc.strerror)
