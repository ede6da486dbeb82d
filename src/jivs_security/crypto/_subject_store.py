"""Subject key registries: where each data subject's wrapped key, or its tombstone, is kept.

A registry maps a subject tag (a hash of the subject id, never the id
itself) to a :class:`SubjectKeyRecord`: either a live record with the
subject key wrapped by a key provider, or a tombstone that records when the
key was destroyed. Three implementations share the :class:`SubjectKeyRegistry`
protocol: :class:`MemorySubjectRegistry` for one process and tests,
:class:`RedisSubjectRegistry` on any key-value store, and
:class:`~jivs_security.crypto._subject_sql.SqlSubjectRegistry` on a
SQLAlchemy engine.

Records are never deleted, and a live record changes only into a tombstone.
Because of that, an insert-if-absent followed by a read is enough to make
concurrent first uses agree on one key.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final, Protocol, runtime_checkable

from jivs_security.crypto._provider import WrappedKey
from jivs_security.errors import ConfigurationError, StoreError
from jivs_security.stores import AtomicScript, KeyValueStore, ScriptView

__all__ = [
    "MAX_ATTEMPTS",
    "MemorySubjectRegistry",
    "RedisSubjectRegistry",
    "SubjectKeyRecord",
    "SubjectKeyRegistry",
    "contended",
]

# A live record turns into a tombstone at most once, so a tombstone write
# meets a concurrent change at most twice. More attempts mean a broken store.
MAX_ATTEMPTS: Final = 8


@dataclass(frozen=True, slots=True)
class SubjectKeyRecord:
    """One registry entry: a subject key wrapped by a key provider, or its tombstone.

    A live record has ``provider_id``, ``key_id`` and ``ciphertext`` (the
    :class:`~jivs_security.crypto.WrappedKey` parts) and no ``shredded_at``.
    A tombstone has ``shredded_at`` and no ``ciphertext``. It keeps the ids
    of the key-encryption key (KEK) that wrapped the destroyed key, because
    old copies of the wrapped key stay readable until that KEK version is
    destroyed. Times are UTC.
    """

    subject_tag: str
    provider_id: str | None
    key_id: str | None
    ciphertext: bytes | None = field(repr=False)
    created_at: datetime
    shredded_at: datetime | None = None

    def __post_init__(self) -> None:
        has_ids = self.provider_id is not None and self.key_id is not None
        live = self.ciphertext is not None and has_ids and self.shredded_at is None
        tombstone = self.ciphertext is None and self.shredded_at is not None
        if not (live or tombstone):
            raise ConfigurationError(
                f"invalid subject key record for subject tag {self.subject_tag!r}: a record "
                "holds either a wrapped key with its provider and key ids, or a shredding time "
                "and no wrapped key",
                setting="record",
                expected="a live record or a tombstone",
            )

    def __repr__(self) -> str:
        size = "None" if self.ciphertext is None else f"<{len(self.ciphertext)} bytes>"
        return (
            f"SubjectKeyRecord(subject_tag={self.subject_tag!r}, provider_id={self.provider_id!r}, "
            f"key_id={self.key_id!r}, ciphertext={size}, created_at={self.created_at!r}, "
            f"shredded_at={self.shredded_at!r})"
        )

    @classmethod
    def live(cls, subject_tag: str, wrapped: WrappedKey, created_at: datetime) -> SubjectKeyRecord:
        """Return a live record holding ``wrapped``."""
        return cls(subject_tag, wrapped.provider_id, wrapped.key_id, wrapped.ciphertext, created_at)

    @classmethod
    def new_tombstone(cls, subject_tag: str, shredded_at: datetime) -> SubjectKeyRecord:
        """Return a tombstone for a subject that never had a key."""
        return cls(subject_tag, None, None, None, shredded_at, shredded_at)

    @property
    def shredded(self) -> bool:
        """Whether this record is a tombstone."""
        return self.shredded_at is not None

    @property
    def wrapped_key(self) -> WrappedKey | None:
        """The wrapped subject key, or ``None`` for a tombstone."""
        if self.ciphertext is None or self.provider_id is None or self.key_id is None:
            return None
        return WrappedKey(self.provider_id, self.key_id, self.ciphertext)

    def to_tombstone(self, shredded_at: datetime) -> SubjectKeyRecord:
        """Return this record with the wrapped key removed; a tombstone is returned unchanged."""
        if self.shredded:
            return self
        return replace(self, ciphertext=None, shredded_at=shredded_at)


@runtime_checkable
class SubjectKeyRegistry(Protocol):
    """Storage for subject key records, keyed by subject tag.

    Implementations must make :meth:`insert_if_absent` and
    :meth:`replace_with_tombstone` atomic for every client of the same
    storage, and must never expire or delete a record on their own: losing a
    live record loses the subject's data, and losing a tombstone lets the
    subject id get a new key.
    """

    def get(self, subject_tag: str) -> SubjectKeyRecord | None:
        """Return the record of ``subject_tag``, or ``None`` if there is none."""
        ...

    def insert_if_absent(self, record: SubjectKeyRecord) -> bool:
        """Store ``record`` only if its subject tag has no record; return whether it was stored."""
        ...

    def replace_with_tombstone(self, subject_tag: str, shredded_at: datetime) -> bool:
        """Turn the live record of ``subject_tag`` into a tombstone; return whether one was live.

        Without a record, a new tombstone is stored, so the subject can never
        get a key afterwards. An existing tombstone is kept as it is.
        """
        ...


class MemorySubjectRegistry:
    """A :class:`SubjectKeyRegistry` in this process's memory, for tests and single processes.

    Its records are lost when the process exits, and with them every
    subject's data: use it only where that is intended.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, SubjectKeyRecord] = {}

    def __repr__(self) -> str:
        return f"MemorySubjectRegistry(records={len(self._records)})"

    def get(self, subject_tag: str) -> SubjectKeyRecord | None:
        with self._lock:
            return self._records.get(subject_tag)

    def insert_if_absent(self, record: SubjectKeyRecord) -> bool:
        with self._lock:
            if record.subject_tag in self._records:
                return False
            self._records[record.subject_tag] = record
            return True

    def replace_with_tombstone(self, subject_tag: str, shredded_at: datetime) -> bool:
        with self._lock:
            current = self._records.get(subject_tag)
            if current is None:
                self._records[subject_tag] = SubjectKeyRecord.new_tombstone(
                    subject_tag, shredded_at
                )
                return False
            self._records[subject_tag] = current.to_tombstone(shredded_at)
            return not current.shredded


# ---------------------------------------------------------------- key-value


def _insert_python(view: ScriptView, keys: Sequence[str], args: Sequence[str]) -> int:
    if view.get(keys[0]) is not None:
        return 0
    view.set(keys[0], args[0].encode("utf-8"), None)
    return 1


def _swap_python(view: ScriptView, keys: Sequence[str], args: Sequence[str]) -> int:
    if view.get(keys[0]) != args[0].encode("utf-8"):
        return 0
    view.set(keys[0], args[1].encode("utf-8"), None)
    return 1


# KeyValueStore.set_if_absent() always sets an expiry, and a record must
# never expire, so inserts use SET NX without one.
_INSERT_SCRIPT: Final = AtomicScript(
    name="subject_key_insert",
    lua="""
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
    return 1
end
return 0
""",
    python=_insert_python,
)

# Compare and swap: replace the value only if it is still the one read.
_SWAP_SCRIPT: Final = AtomicScript(
    name="subject_key_swap",
    lua="""
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2])
    return 1
end
return 0
""",
    python=_swap_python,
)


class RedisSubjectRegistry:
    """A :class:`SubjectKeyRegistry` on a :class:`~jivs_security.stores.KeyValueStore`.

    Each record is one JSON value without expiry at ``<prefix><subject
    tag>``; a :class:`~jivs_security.stores.RedisStore` adds its own prefix
    in front. Format: ``{"v": 1, "provider_id": ..., "key_id": ...,
    "wrapped_key": <standard base64 or null>, "created_at": <ISO 8601 UTC>,
    "shredded_at": <ISO 8601 UTC or null>}``.

    NOTE: Redis must keep these keys: set ``maxmemory-policy`` to
    ``noeviction`` (or a ``volatile-*`` policy, since the keys have no
    expiry) and turn on persistence (AOF). A lost live record makes the
    subject's data unreadable, and a lost tombstone lets the subject id get a
    new key. Redis also keeps copies of a wrapped key after shredding in RDB
    snapshots, AOF files until they are rewritten, and replicas' backlogs.
    """

    def __init__(self, store: KeyValueStore, *, prefix: str = "subject-key:") -> None:
        if not isinstance(store, KeyValueStore):
            raise ConfigurationError(
                f"{type(store).__name__} is not a key-value store",
                setting="store",
                expected="a jivs_security.stores.KeyValueStore such as RedisStore",
                value=type(store).__name__,
            )
        self._store = store
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"RedisSubjectRegistry(store={self._store!r}, prefix={self._prefix!r})"

    def key(self, subject_tag: str) -> str:
        """Return the store key of ``subject_tag``'s record, without the store's own prefix."""
        return self._prefix + subject_tag

    def get(self, subject_tag: str) -> SubjectKeyRecord | None:
        value = self._store.get(self.key(subject_tag))
        return None if value is None else _decode_json(subject_tag, value)

    def insert_if_absent(self, record: SubjectKeyRecord) -> bool:
        value = _encode_json(record)
        stored = self._store.run_script(_INSERT_SCRIPT, [self.key(record.subject_tag)], [value])
        return int(stored) == 1

    def replace_with_tombstone(self, subject_tag: str, shredded_at: datetime) -> bool:
        key = self.key(subject_tag)
        for _ in range(MAX_ATTEMPTS):
            value = self._store.get(key)
            if value is None:
                tombstone = _encode_json(SubjectKeyRecord.new_tombstone(subject_tag, shredded_at))
                if int(self._store.run_script(_INSERT_SCRIPT, [key], [tombstone])) == 1:
                    return False
                continue
            current = _decode_json(subject_tag, value)
            if current.shredded:
                return False
            tombstone = _encode_json(current.to_tombstone(shredded_at))
            swapped = self._store.run_script(
                _SWAP_SCRIPT, [key], [value.decode("utf-8"), tombstone]
            )
            if int(swapped) == 1:
                return True
        raise contended(type(self).__name__, subject_tag)


def _encode_json(record: SubjectKeyRecord) -> str:
    document = {
        "v": 1,
        "provider_id": record.provider_id,
        "key_id": record.key_id,
        "wrapped_key": None
        if record.ciphertext is None
        else base64.b64encode(record.ciphertext).decode("ascii"),
        "created_at": record.created_at.astimezone(UTC).isoformat(),
        "shredded_at": None
        if record.shredded_at is None
        else record.shredded_at.astimezone(UTC).isoformat(),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _decode_json(subject_tag: str, value: bytes) -> SubjectKeyRecord:
    try:
        document = json.loads(value)
        if not isinstance(document, Mapping) or document.get("v") != 1:
            raise ValueError
        wrapped = document["wrapped_key"]
        shredded_at = document["shredded_at"]
        return SubjectKeyRecord(
            subject_tag=subject_tag,
            provider_id=document["provider_id"],
            key_id=document["key_id"],
            ciphertext=None if wrapped is None else base64.b64decode(wrapped, validate=True),
            created_at=datetime.fromisoformat(document["created_at"]),
            shredded_at=None if shredded_at is None else datetime.fromisoformat(shredded_at),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, ConfigurationError):
        # The value is not shown: it may hold a wrapped key.
        raise StoreError(
            f"the subject key record of subject tag {subject_tag!r} is not a valid version 1 "
            "record; restore it from a backup",
            backend="RedisSubjectRegistry",
            operation="get",
        ) from None


def contended(backend: str, subject_tag: str) -> StoreError:
    """Return the error for a tombstone write that kept meeting concurrent changes."""
    return StoreError(
        f"the record of subject tag {subject_tag!r} changed during each of {MAX_ATTEMPTS} "
        "attempts to write its tombstone, which records never do; check that nothing else "
        "writes to the registry, then retry",
        backend=backend,
        operation="replace_with_tombstone",
    )
