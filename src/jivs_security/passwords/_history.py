"""The last few password hashes of each account, so that a new password cannot repeat one."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Final

from jivs_security.errors import (
    ConfigurationError,
    InvalidHash,
    KeyNotFound,
    PasswordMismatch,
    PasswordReused,
    StoreError,
)
from jivs_security.passwords._hashing import PasswordHasher, parse_stored_hash
from jivs_security.stores import AtomicScript, KeyValueStore, ScriptView

__all__ = ["PasswordHistory"]

logger = logging.getLogger("jivs_security.passwords")

# check() runs one Argon2id verification per kept hash, so this bound caps
# its cost.
MAX_HISTORY_SIZE: Final = 24

# Both halves return this instead of the new length when the stored value is
# not a JSON array of strings, and then write nothing.
_CORRUPT: Final = -1

# Push a hash to the front of the JSON array at KEYS[1] and cut the array to
# ARGV[2] entries, in one step. cjson decodes a JSON object to a table too, so
# the key count is compared with the array length to tell the two apart.
_PUSH_LUA = """
local entries = {}
local raw = redis.call('GET', KEYS[1])
if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if not ok or type(decoded) ~= 'table' then
        return -1
    end
    local count = 0
    for _, value in pairs(decoded) do
        if type(value) ~= 'string' then
            return -1
        end
        count = count + 1
    end
    if count ~= #decoded then
        return -1
    end
    entries = decoded
end
table.insert(entries, 1, ARGV[1])
local size = tonumber(ARGV[2])
while #entries > size do
    table.remove(entries)
end
redis.call('SET', KEYS[1], cjson.encode(entries))
return #entries
"""


def _push_python(view: ScriptView, keys: Sequence[str], args: Sequence[str]) -> int:
    raw = view.get(keys[0])
    entries = [] if raw is None else _decode(raw)
    if entries is None:
        return _CORRUPT
    entries = [args[0], *entries][: int(args[1])]
    view.set(keys[0], json.dumps(entries).encode("utf-8"), None)
    return len(entries)


_PUSH: Final = AtomicScript(name="password-history-push", lua=_PUSH_LUA, python=_push_python)


def _decode(raw: bytes) -> list[str] | None:
    """Return the stored hashes, or ``None`` when the value is not a JSON array of strings."""
    try:
        entries = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        return None
    return entries


class PasswordHistory:
    """Keeps the last ``size`` password hashes of each account in a key-value store.

    Each account's hashes are one JSON array, newest first, stored without
    expiry under ``namespace`` plus the SHA-256 of the account id. So account
    ids and e-mail addresses never appear in key names.

    NOTE: an unkeyed SHA-256 hides the account id from someone who reads key
    names, but anyone with a list of candidate ids can hash them and find
    their keys.
    """

    def __init__(
        self,
        store: KeyValueStore,
        hasher: PasswordHasher,
        *,
        size: int = 5,
        namespace: str = "pwhist:",
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_HISTORY_SIZE:
            raise ConfigurationError(
                f"size must be an integer from 1 to {MAX_HISTORY_SIZE}, got {size!r}",
                setting="size",
                expected=f"an integer from 1 to {MAX_HISTORY_SIZE}",
                value=size,
            )
        if not isinstance(namespace, str):
            raise ConfigurationError(
                f"namespace must be a str, got {type(namespace).__name__}",
                setting="namespace",
                expected="a str",
                value=namespace,
            )
        self._store = store
        self._hasher = hasher
        self._size = size
        self._namespace = namespace

    def __repr__(self) -> str:
        return (
            f"PasswordHistory(size={self._size}, namespace={self._namespace!r}, "
            f"store={self._store!r})"
        )

    @property
    def size(self) -> int:
        """How many of an account's most recent hashes are kept and compared."""
        return self._size

    def key(self, account: str) -> str:
        """Return the store key of ``account``'s history, without the store's own prefix."""
        if not isinstance(account, str) or not account:
            raise ConfigurationError(
                f"account must be a non-empty str, got {type(account).__name__}",
                setting="account",
                expected="a non-empty str",
            )
        digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self._namespace}{digest}"

    def check(self, account: str, password: str) -> None:
        """Raise :class:`~jivs_security.errors.PasswordReused` if ``password`` matches a kept hash.

        Each kept hash costs one full Argon2id verification. A kept hash that
        cannot be checked (its pepper id is no longer configured, or it is
        malformed) is skipped and logged as a warning, so that a retired
        pepper does not block password changes.
        """
        for position, stored_hash in enumerate(self.hashes(account)):
            try:
                self._hasher.verify(stored_hash, password)
            except PasswordMismatch:
                continue
            except (InvalidHash, KeyNotFound) as exc:
                logger.warning(
                    "password history entry %d of key %s skipped: %s",
                    position,
                    self.key(account),
                    exc,
                )
                continue
            raise PasswordReused(
                f"the new password matches one of the last {self._size} passwords of this "
                "account; choose a password that was not used recently",
                result=None,
                history_size=self._size,
            )

    def add(self, account: str, password_hash: str) -> None:
        """Push ``password_hash`` to the front of the history and drop hashes beyond ``size``.

        Push and trim happen in one atomic step of the store, so concurrent
        calls never leave more than ``size`` hashes. The hash must be in the
        format that :meth:`PasswordHasher.hash` writes.
        """
        parse_stored_hash(password_hash)
        key = self.key(account)
        length = self._store.run_script(_PUSH, [key], [password_hash, self._size])
        if int(length) == _CORRUPT:
            raise self._corrupt(key, "run_script(password-history-push)")
        logger.debug("password history of key %s now contains %d hashes", key, length)

    def hashes(self, account: str) -> list[str]:
        """Return the kept hashes of ``account``, newest first."""
        key = self.key(account)
        raw = self._store.get(key)
        if raw is None:
            return []
        entries = _decode(raw)
        if entries is None:
            raise self._corrupt(key, "get")
        # A history written while size was larger keeps its extra entries
        # until the next add(); they are no longer compared.
        return entries[: self._size]

    def clear(self, account: str) -> None:
        """Delete the history of ``account``."""
        self._store.delete(self.key(account))

    def _corrupt(self, key: str, operation: str) -> StoreError:
        return StoreError(
            f"the password history at key {key!r} is not a JSON array of strings. "
            "Delete it with PasswordHistory.clear(account) to start a new history.",
            backend=type(self._store).__name__,
            operation=operation,
        )
