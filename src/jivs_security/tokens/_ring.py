"""The key ring: the signing key, the keys that still verify, rotation and the key file."""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jivs_security.errors import InsecureKeyFile, KeyNotFound, KeyRingError
from jivs_security.tokens._jose import parse_json_object
from jivs_security.tokens._keys import VERIFYING_STATES, KeyState, SigningKey

__all__ = ["KeyRing"]

logger = logging.getLogger("jivs_security.tokens")

# Permission bits for group and others. A key file with any of them set is
# rejected, because anyone who can read it can mint tokens.
_SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO


class KeyRing:
    """The keys a :class:`~jivs_security.tokens.TokenService` signs and verifies with.

    Exactly one key is ``ACTIVE`` and signs new tokens. :meth:`rotate` makes a
    new active key and moves the old one to ``VERIFY_ONLY``, so tokens it
    signed keep verifying until :meth:`retire` is called for it, normally
    once the longest token lifetime has passed. A ``NEXT`` key, made by
    :meth:`prepare`, is published in :meth:`jwks` before it signs anything,
    so relying parties can cache it ahead of the switch.

    A ring is safe to read from many threads while one thread changes it.
    """

    def __init__(self, keys: Iterable[SigningKey] = ()) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._version = 0
        for key in keys:
            self._add(key)
        if self._active_or_none() is None:
            raise KeyRingError(
                "a key ring needs exactly one ACTIVE key; build it with KeyRing.generate() "
                "or give one key state=KeyState.ACTIVE"
            )

    @classmethod
    def generate(cls, algorithm: str = "EdDSA") -> KeyRing:
        """Return a ring with one new active key for ``algorithm``.

        EdDSA (Ed25519, RFC 8037) is the default: small keys, fast
        verification and deterministic signatures. ES256, RS256 and HS256 are
        the alternatives. HS256 suits only a service that both issues and
        verifies, since every verifier has the signing secret.
        """
        return cls([SigningKey.generate(algorithm)])

    @classmethod
    def from_secret(cls, secret: bytes) -> KeyRing:
        """Return an HS256 ring around an existing secret of at least 32 random bytes."""
        return cls([SigningKey.from_secret(secret)])

    def __repr__(self) -> str:
        active = self._active_or_none()
        active_kid = active.kid if active else None
        return f"KeyRing(active={active_kid!r}, keys={len(self._keys)})"

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[SigningKey]:
        return iter(list(self._keys.values()))

    @property
    def version(self) -> int:
        """A number that changes whenever a key is added, changes state or is removed."""
        return self._version

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        key = self._active_or_none()
        if key is None:
            raise KeyRingError("the key ring has no ACTIVE key; call rotate() to create one")
        return key

    def get(self, kid: str) -> SigningKey:
        """Return the key with key id ``kid``, in any state."""
        key = self._keys.get(kid)
        if key is None:
            raise KeyNotFound(f"no key with kid {kid!r} in the key ring", kid=kid)
        return key

    def verifying_key(self, kid: str) -> SigningKey | None:
        """Return the key for ``kid`` if it may verify tokens, else ``None``.

        ``kid`` comes from an untrusted token, so it is only ever used as a
        dictionary key here: it never names a file, URL or query.
        """
        key = self._keys.get(kid)
        if key is None or key.state not in VERIFYING_STATES:
            return None
        return key

    def add(self, key: SigningKey) -> None:
        """Add ``key`` in its current state; an ``ACTIVE`` key replaces the active one."""
        with self._lock:
            if key.state is KeyState.ACTIVE:
                self._demote_active()
            self._add(key)
            self._version += 1

    def prepare(self, algorithm: str | None = None) -> SigningKey:
        """Create the ``NEXT`` key and return it; it is published but does not sign yet."""
        with self._lock:
            if any(key.state is KeyState.NEXT for key in self._keys.values()):
                raise KeyRingError("the key ring already has a NEXT key; call rotate() to use it")
            key = SigningKey.generate(algorithm or self.active.algorithm, state=KeyState.NEXT)
            self._add(key)
            self._version += 1
        logger.info("key prepared kid=%s algorithm=%s", key.kid, key.algorithm)
        return key

    def rotate(self, algorithm: str | None = None) -> SigningKey:
        """Make a new active key and return it; the previous one keeps verifying.

        The ``NEXT`` key is promoted when there is one (``algorithm`` must
        then be ``None`` or match it); otherwise a new key is generated with
        ``algorithm``, or with the current key's algorithm.
        """
        with self._lock:
            staged = next((k for k in self._keys.values() if k.state is KeyState.NEXT), None)
            if staged is not None and algorithm not in (None, staged.algorithm):
                raise KeyRingError(
                    f"the NEXT key uses {staged.algorithm}, not {algorithm}; "
                    "retire it or rotate without naming an algorithm"
                )
            previous = self._demote_active()
            if staged is None:
                fallback = previous.algorithm if previous else "EdDSA"
                staged = SigningKey.generate(algorithm or fallback)
                self._add(staged)
            staged.state = KeyState.ACTIVE
            self._version += 1
        logger.info(
            "key rotated active=%s previous=%s", staged.kid, previous.kid if previous else None
        )
        return staged

    def retire(self, kid: str) -> None:
        """Stop ``kid`` from verifying; tokens it signed are rejected from now on.

        Retire a key once every token it signed has expired (the longest
        token lifetime after :meth:`rotate`). The active key cannot be retired.
        """
        with self._lock:
            key = self.get(kid)
            if key.state is KeyState.ACTIVE:
                raise KeyRingError(f"key {kid} is ACTIVE; call rotate() before retiring it")
            key.state = KeyState.RETIRED
            self._version += 1
        logger.info("key retired kid=%s", kid)

    def remove_retired(self) -> list[str]:
        """Remove retired keys from the ring and return their key ids."""
        with self._lock:
            removed = [kid for kid, k in self._keys.items() if k.state is KeyState.RETIRED]
            for kid in removed:
                del self._keys[kid]
            if removed:
                self._version += 1
        return removed

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Return the public JWK set (RFC 7517, section 5) for relying parties.

        It contains the asymmetric keys that verify: ``NEXT``, ``ACTIVE`` and
        ``VERIFY_ONLY``. HMAC secrets are never included.
        """
        return {
            "keys": [
                key.public_jwk()
                for key in self._keys.values()
                if key.state in VERIFYING_STATES and not key.is_symmetric
            ]
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ring, private keys included, as a JWK set readable by its owner only.

        The file is written beside the target and renamed over it, so a
        reader never sees half a file, and it is created with mode 0600.
        """
        target = Path(path)
        with self._lock:
            document = {"keys": [key.to_private_jwk() for key in self._keys.values()]}
        data = json.dumps(document, indent=2).encode("utf-8")

        # mkstemp creates the file with mode 0600 regardless of the umask.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        logger.info("key ring saved path=%s keys=%d", target, len(document["keys"]))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Read a ring written by :meth:`save`.

        Raises :class:`~jivs_security.errors.InsecureKeyFile` when group or
        others have any permission on the file, and
        :class:`~jivs_security.errors.KeyRingError` when its content is not a
        valid key set.
        """
        source = Path(path)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            handle = os.open(source, flags)
        except OSError as exc:
            raise KeyRingError(f"cannot open key file {source}: {exc.strerror}") from None

        with os.fdopen(handle, "rb") as file:
            # Checked on the open file, so the file cannot be swapped between
            # the check and the read. Windows has no such permission bits.
            mode = os.fstat(file.fileno()).st_mode
            if os.name == "posix" and mode & _SHARED_BITS:
                raise InsecureKeyFile(
                    f"key file {source} has mode {stat.S_IMODE(mode):04o}, so users other than "
                    f"its owner can read it; run 'chmod 600 {source}' and rotate the keys if "
                    "others may have copied them",
                    path=str(source),
                    mode=stat.S_IMODE(mode),
                )
            data = file.read()

        try:
            # Surrounding whitespace is fine in a file that people may edit.
            document = parse_json_object(data.strip())
        except ValueError as exc:
            raise KeyRingError(f"key file {source} is not a JSON object: {exc}") from None
        entries = document.get("keys")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise KeyRingError(f'key file {source} must hold a JWK set: {{"keys": [...]}}')
        return cls(SigningKey.from_jwk(entry) for entry in entries)

    def _active_or_none(self) -> SigningKey | None:
        for key in self._keys.values():
            if key.state is KeyState.ACTIVE:
                return key
        return None

    def _demote_active(self) -> SigningKey | None:
        previous = self._active_or_none()
        if previous is not None:
            previous.state = KeyState.VERIFY_ONLY
        return previous

    def _add(self, key: SigningKey) -> None:
        if key.kid in self._keys:
            raise KeyRingError(f"key {key.kid} is already in the key ring")
        if key.state is KeyState.ACTIVE and self._active_or_none() is not None:
            raise KeyRingError(f"key {key.kid} is ACTIVE but the ring already has an active key")
        self._keys[key.kid] = key
