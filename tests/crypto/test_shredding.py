"""SubjectKeys and its registries: per-subject keys, crypto-shredding, caches and privacy."""

from __future__ import annotations

import base64
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy

from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._local import LocalKeyProvider
from jivs_security.crypto._shredding import SUBJECT_CONTEXT_KEY, SubjectKeys, _wrap_context
from jivs_security.crypto._subject_sql import SqlSubjectRegistry
from jivs_security.crypto._subject_store import (
    MemorySubjectRegistry,
    RedisSubjectRegistry,
    SubjectKeyRecord,
    SubjectKeyRegistry,
)
from jivs_security.errors import (
    ConfigurationError,
    DecryptionFailed,
    KeyUnavailable,
    StoreError,
    StoreUnavailable,
    SubjectKeyNotFound,
    SubjectShredded,
)
from jivs_security.stores import MemoryStore, RedisStore
from servers import find_free_port

# Subject ids are e-mail addresses here, because that is the case where the
# id itself is personal data and must never leak.
SUBJECT = "alice@example.com"
OTHER_SUBJECT = "bob@example.com"
DATA = b"date of birth: 1990-01-01"
THREADS = 8

REGISTRY_KINDS = [
    "memory",
    "key-value-memory",
    pytest.param("redis", marks=pytest.mark.integration),
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.integration),
]
SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]


class FakeClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingRegistry:
    """A registry wrapper that counts reads and can run a hook inside a read."""

    def __init__(self, inner: SubjectKeyRegistry) -> None:
        self.inner = inner
        self.gets = 0
        self.during_get: Callable[[], None] | None = None

    def get(self, subject_tag: str) -> SubjectKeyRecord | None:
        self.gets += 1
        record = self.inner.get(subject_tag)
        if self.during_get is not None:
            hook, self.during_get = self.during_get, None
            hook()
        return record

    def insert_if_absent(self, record: SubjectKeyRecord) -> bool:
        return self.inner.insert_if_absent(record)

    def replace_with_tombstone(self, subject_tag: str, shredded_at: datetime) -> bool:
        return self.inner.replace_with_tombstone(subject_tag, shredded_at)


class RacingRegistry:
    """A registry wrapper that holds each thread's first read until every thread has read.

    Without it, one thread could create the key before the others start,
    and concurrent first use would never be tried.
    """

    def __init__(self, inner: SubjectKeyRegistry, parties: int) -> None:
        self.inner = inner
        self._barrier = threading.Barrier(parties, timeout=10.0)
        self._seen = threading.local()

    def get(self, subject_tag: str) -> SubjectKeyRecord | None:
        record = self.inner.get(subject_tag)
        if not getattr(self._seen, "read", False):
            self._seen.read = True
            self._barrier.wait()
        return record

    def insert_if_absent(self, record: SubjectKeyRecord) -> bool:
        return self.inner.insert_if_absent(record)

    def replace_with_tombstone(self, subject_tag: str, shredded_at: datetime) -> bool:
        return self.inner.replace_with_tombstone(subject_tag, shredded_at)


def run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(index)`` in ``count`` threads that start together and return the results."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test thread below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def secret_forms(secret: bytes) -> list[str]:
    """Return the ways a secret could show up in text: hex, base64 and repr."""
    return [secret.hex(), base64.b64encode(secret).decode("ascii"), repr(secret)]


def fragments(data: bytes, size: int) -> list[bytes]:
    """Return every run of ``size`` consecutive bytes in ``data``."""
    return [data[start : start + size] for start in range(len(data) - size + 1)]


@pytest.fixture
def provider(tmp_path: Path) -> LocalKeyProvider:
    """A local keyset provider with one KEK version."""
    return LocalKeyProvider.create(tmp_path / "keyset.json")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    """An engine on a new SQLite file."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'registry.db'}")

    yield engine

    engine.dispose()


@pytest.fixture
def insecure_sqlite_engine(tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    """An engine on a new SQLite file whose connections start with secure_delete off.

    Off is SQLite's compiled-in default, though some builds, Debian's among
    them, turn it on.
    """
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'registry.db'}")

    @sqlalchemy.event.listens_for(engine, "connect")
    def secure_delete_off(connection: sqlite3.Connection, record: object) -> None:
        connection.execute("PRAGMA secure_delete = OFF")

    yield engine

    engine.dispose()


@pytest.fixture
def wal_sqlite_engine(tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    """An engine on a new SQLite file in write-ahead log mode."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'registry.db'}")

    @sqlalchemy.event.listens_for(engine, "connect")
    def wal_mode(connection: sqlite3.Connection, record: object) -> None:
        connection.execute("PRAGMA journal_mode = WAL")

    yield engine

    engine.dispose()


@pytest.fixture(params=SQL_KINDS)
def sql_engine(request: pytest.FixtureRequest) -> sqlalchemy.Engine:
    """Each SQL database in turn: a SQLite file, then a PostgreSQL schema."""
    engine: sqlalchemy.Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def sql_registry(sql_engine: sqlalchemy.Engine) -> SqlSubjectRegistry:
    """A SqlSubjectRegistry with its table created."""
    registry = SqlSubjectRegistry(sql_engine)
    registry.create_table()
    return registry


@pytest.fixture(params=REGISTRY_KINDS)
def registry(request: pytest.FixtureRequest) -> SubjectKeyRegistry:
    """Each registry kind in turn, empty."""
    kind = request.param
    if kind == "memory":
        return MemorySubjectRegistry()
    if kind == "key-value-memory":
        return RedisSubjectRegistry(MemoryStore())
    if kind == "redis":
        return RedisSubjectRegistry(request.getfixturevalue("redis_store"))
    engine: sqlalchemy.Engine = request.getfixturevalue(f"{kind}_engine")
    sql_registry = SqlSubjectRegistry(engine)
    sql_registry.create_table()
    return sql_registry


@pytest.fixture
def keys(registry: SubjectKeyRegistry, provider: LocalKeyProvider) -> SubjectKeys:
    """SubjectKeys on each registry kind."""
    return SubjectKeys(registry, provider)


@pytest.fixture
def memory_keys(provider: LocalKeyProvider) -> SubjectKeys:
    """SubjectKeys on a memory registry, for behaviour that does not depend on the registry."""
    return SubjectKeys(MemorySubjectRegistry(), provider)


# Round trips and isolation, on every registry.


def test_round_trip(keys: SubjectKeys) -> None:
    """Data encrypted for a subject decrypts for the same subject."""
    blob = keys.encrypt_for(SUBJECT, DATA)

    assert keys.decrypt_for(SUBJECT, blob) == DATA


def test_round_trip_with_context(keys: SubjectKeys) -> None:
    """A caller's encryption context is accepted when presented again."""
    blob = keys.encrypt_for(SUBJECT, DATA, context={"table": "profiles"})

    assert keys.decrypt_for(SUBJECT, blob, context={"table": "profiles"}) == DATA


def test_other_context_rejected(keys: SubjectKeys) -> None:
    """A message does not decrypt under another encryption context."""
    blob = keys.encrypt_for(SUBJECT, DATA, context={"table": "profiles"})

    with pytest.raises(DecryptionFailed):
        keys.decrypt_for(SUBJECT, blob, context={"table": "orders"})


def test_blob_refused_for_other_subject(keys: SubjectKeys) -> None:
    """A message encrypted for one subject does not decrypt as another subject's."""
    blob = keys.encrypt_for(SUBJECT, DATA)
    keys.encrypt_for(OTHER_SUBJECT, DATA)

    with pytest.raises(DecryptionFailed):
        keys.decrypt_for(OTHER_SUBJECT, blob)


def test_unknown_subject_decrypt_raises(keys: SubjectKeys) -> None:
    """Decrypting for a subject that never had a key raises SubjectKeyNotFound."""
    blob = keys.encrypt_for(SUBJECT, DATA)

    with pytest.raises(SubjectKeyNotFound) as raised:
        keys.decrypt_for(OTHER_SUBJECT, blob)

    assert raised.value.subject_tag == keys.subject_tag(OTHER_SUBJECT)


def test_subject_keys_are_separate(keys: SubjectKeys, registry: SubjectKeyRegistry) -> None:
    """Two subjects get two different wrapped keys."""
    keys.encrypt_for(SUBJECT, DATA)
    keys.encrypt_for(OTHER_SUBJECT, DATA)

    first = registry.get(keys.subject_tag(SUBJECT))
    second = registry.get(keys.subject_tag(OTHER_SUBJECT))

    assert first is not None
    assert second is not None
    assert first.ciphertext != second.ciphertext


# Shredding, on every registry.


def test_shred_then_decrypt_raises(keys: SubjectKeys) -> None:
    """After shredding, data encrypted for the subject cannot be decrypted."""
    blob = keys.encrypt_for(SUBJECT, DATA)

    keys.shred(SUBJECT)

    with pytest.raises(SubjectShredded) as raised:
        keys.decrypt_for(SUBJECT, blob)
    assert raised.value.subject_tag == keys.subject_tag(SUBJECT)


def test_shred_then_encrypt_raises(keys: SubjectKeys) -> None:
    """A shredded subject never silently gets a new key."""
    keys.encrypt_for(SUBJECT, DATA)

    keys.shred(SUBJECT)

    with pytest.raises(SubjectShredded):
        keys.encrypt_for(SUBJECT, DATA)


def test_new_subject_id_readmits_person(keys: SubjectKeys) -> None:
    """A returning person is encrypted for under a new subject id."""
    keys.encrypt_for(SUBJECT, DATA)
    keys.shred(SUBJECT)

    blob = keys.encrypt_for(SUBJECT + "#2", DATA)

    assert keys.decrypt_for(SUBJECT + "#2", blob) == DATA


def test_shred_is_idempotent(keys: SubjectKeys) -> None:
    """Shredding reports a destroyed key once, then nothing to destroy."""
    keys.encrypt_for(SUBJECT, DATA)

    first = keys.shred(SUBJECT)
    second = keys.shred(SUBJECT)

    assert first is True
    assert second is False


def test_shred_unknown_subject_blocks_keys(keys: SubjectKeys) -> None:
    """Shredding a subject without a key stores a tombstone that blocks later keys."""
    destroyed = keys.shred(SUBJECT)

    assert destroyed is False
    assert keys.shredded(SUBJECT)
    with pytest.raises(SubjectShredded):
        keys.encrypt_for(SUBJECT, DATA)


def test_shredded_follows_state(keys: SubjectKeys) -> None:
    """shredded() is false before and after the first key, true after shredding."""
    before = keys.shredded(SUBJECT)
    keys.encrypt_for(SUBJECT, DATA)
    live = keys.shredded(SUBJECT)
    keys.shred(SUBJECT)

    assert before is False
    assert live is False
    assert keys.shredded(SUBJECT) is True


def test_tombstone_holds_no_key(keys: SubjectKeys, registry: SubjectKeyRegistry) -> None:
    """After shredding, the registry record has a shredding time and no wrapped key."""
    keys.encrypt_for(SUBJECT, DATA)
    started = datetime.now(UTC)

    keys.shred(SUBJECT)

    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.ciphertext is None
    assert record.wrapped_key is None
    assert record.shredded_at is not None
    assert started <= record.shredded_at <= datetime.now(UTC)


def test_tombstone_names_destroyed_kek(
    keys: SubjectKeys, registry: SubjectKeyRegistry, provider: LocalKeyProvider
) -> None:
    """The tombstone keeps the KEK ids, so operators know which version old copies need."""
    keys.encrypt_for(SUBJECT, DATA)

    keys.shred(SUBJECT)

    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.provider_id == "local"
    assert record.key_id == f"{provider.keyset_id}/v1"


def test_second_shred_keeps_time(keys: SubjectKeys, registry: SubjectKeyRegistry) -> None:
    """Shredding again leaves the first shredding time in place."""
    keys.encrypt_for(SUBJECT, DATA)
    keys.shred(SUBJECT)
    first = registry.get(keys.subject_tag(SUBJECT))

    keys.shred(SUBJECT)

    assert registry.get(keys.subject_tag(SUBJECT)) == first


# Concurrency, on every registry.


def test_concurrent_first_use_one_key(
    registry: SubjectKeyRegistry, provider: LocalKeyProvider
) -> None:
    """Eight instances encrypting for a new subject at once end with one subject key."""
    racing = RacingRegistry(registry, THREADS)
    instances = [SubjectKeys(racing, provider) for _ in range(THREADS)]

    blobs = run_in_threads(THREADS, lambda index: instances[index].encrypt_for(SUBJECT, DATA))

    reader = SubjectKeys(registry, provider)
    assert all(reader.decrypt_for(SUBJECT, blob) == DATA for blob in blobs)  # type: ignore[arg-type]


def test_concurrent_shreds_destroy_once(
    registry: SubjectKeyRegistry, provider: LocalKeyProvider
) -> None:
    """Of eight concurrent shreds of one subject, exactly one reports a destroyed key."""
    SubjectKeys(registry, provider).encrypt_for(SUBJECT, DATA)
    instances = [SubjectKeys(registry, provider) for _ in range(THREADS)]

    results = run_in_threads(THREADS, lambda index: instances[index].shred(SUBJECT))

    assert results.count(True) == 1


def test_shred_racing_first_use(registry: SubjectKeyRegistry, provider: LocalKeyProvider) -> None:
    """Shreds racing first uses of a new subject leave a tombstone that blocks every key."""
    instances = [SubjectKeys(registry, provider) for _ in range(THREADS)]

    def work(index: int) -> object:
        if index % 2:
            return instances[index].shred(SUBJECT)
        try:
            return instances[index].encrypt_for(SUBJECT, DATA)
        except SubjectShredded:
            return None

    results = run_in_threads(THREADS, work)

    reader = SubjectKeys(registry, provider)
    assert reader.shredded(SUBJECT)
    assert results[1::2].count(True) <= 1
    for blob in results[0::2]:
        if isinstance(blob, bytes):
            with pytest.raises(SubjectShredded):
                reader.decrypt_for(SUBJECT, blob)


# Caches.


def test_shred_evicts_own_cache(memory_keys: SubjectKeys) -> None:
    """An instance that shreds stops using its cached key at once."""
    blob = memory_keys.encrypt_for(SUBJECT, DATA)
    memory_keys.decrypt_for(SUBJECT, blob)

    memory_keys.shred(SUBJECT)

    with pytest.raises(SubjectShredded):
        memory_keys.decrypt_for(SUBJECT, blob)


def test_other_instance_cache_bounded(provider: LocalKeyProvider) -> None:
    """Another instance uses its cached key until max_age, then raises SubjectShredded."""
    registry = MemorySubjectRegistry()
    clock = FakeClock()
    shredder = SubjectKeys(registry, provider)
    reader = SubjectKeys(registry, provider, max_age=60.0, clock=clock)
    blob = shredder.encrypt_for(SUBJECT, DATA)
    reader.decrypt_for(SUBJECT, blob)

    shredder.shred(SUBJECT)
    clock.advance(59.0)
    within_max_age = reader.decrypt_for(SUBJECT, blob)
    clock.advance(1.0)

    assert within_max_age == DATA
    with pytest.raises(SubjectShredded):
        reader.decrypt_for(SUBJECT, blob)


def test_cache_saves_registry_reads(provider: LocalKeyProvider) -> None:
    """Repeated use of one subject reads the registry once while the entry is fresh."""
    registry = CountingRegistry(MemorySubjectRegistry())
    keys = SubjectKeys(registry, provider)
    blob = keys.encrypt_for(SUBJECT, DATA)

    for _ in range(5):
        keys.decrypt_for(SUBJECT, blob)

    assert registry.gets == 1


def test_cache_size_bounds_entries(provider: LocalKeyProvider) -> None:
    """With room for two subjects, the least recently used of three is read again."""
    registry = CountingRegistry(MemorySubjectRegistry())
    keys = SubjectKeys(registry, provider, cache_size=2)
    blobs = {subject: keys.encrypt_for(subject, DATA) for subject in ("a", "b", "c")}
    reads_before = registry.gets

    keys.decrypt_for("c", blobs["c"])
    keys.decrypt_for("b", blobs["b"])
    keys.decrypt_for("a", blobs["a"])

    assert registry.gets - reads_before == 1


def test_cache_size_zero_disables(provider: LocalKeyProvider) -> None:
    """With cache_size=0 every call reads the registry."""
    registry = CountingRegistry(MemorySubjectRegistry())
    keys = SubjectKeys(registry, provider, cache_size=0)
    blob = keys.encrypt_for(SUBJECT, DATA)

    keys.decrypt_for(SUBJECT, blob)
    keys.decrypt_for(SUBJECT, blob)

    assert registry.gets == 3


def test_load_racing_shred_not_cached(provider: LocalKeyProvider) -> None:
    """A key loaded while a shred runs in between is used once but not cached."""
    registry = CountingRegistry(MemorySubjectRegistry())
    keys = SubjectKeys(registry, provider)
    blob = SubjectKeys(registry, provider).encrypt_for(SUBJECT, DATA)
    registry.during_get = lambda: keys.shred(SUBJECT)  # type: ignore[assignment]

    keys.decrypt_for(SUBJECT, blob)

    with pytest.raises(SubjectShredded):
        keys.decrypt_for(SUBJECT, blob)


# Privacy: subject ids and key material stay out of messages, reprs, errors and logs.


def subject_key_of(
    keys: SubjectKeys, registry: SubjectKeyRegistry, provider: LocalKeyProvider
) -> bytes:
    """Return the unwrapped key of SUBJECT, as only a test may see it."""
    tag = keys.subject_tag(SUBJECT)
    record = registry.get(tag)
    assert record is not None
    assert record.wrapped_key is not None
    return provider.unwrap(record.wrapped_key, _wrap_context(tag))


def test_message_names_tag_not_subject(memory_keys: SubjectKeys) -> None:
    """The message header carries the subject tag, never the subject id."""
    blob = memory_keys.encrypt_for(SUBJECT, DATA)

    info = EnvelopeCipher.inspect(blob)

    tag = memory_keys.subject_tag(SUBJECT)
    assert info.context == {SUBJECT_CONTEXT_KEY: tag}
    assert info.key_ids == (("subject", tag),)
    assert SUBJECT.encode() not in blob


def test_reprs_hide_secrets(provider: LocalKeyProvider) -> None:
    """Reprs of SubjectKeys, registries and records show no subject id or key material."""
    registry = MemorySubjectRegistry()
    keys = SubjectKeys(registry, provider, tag_key=b"k" * 32)
    keys.encrypt_for(SUBJECT, DATA)
    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.ciphertext is not None
    secrets = [
        SUBJECT,
        *secret_forms(subject_key_of(keys, registry, provider)),
        *secret_forms(record.ciphertext),
        *secret_forms(b"k" * 32),
    ]

    texts = [repr(keys), repr(registry), repr(record), repr(RedisSubjectRegistry(MemoryStore()))]

    leaks = [secret for secret in secrets for text in texts if secret in text]
    assert not leaks


def test_sql_registry_repr_hides_password() -> None:
    """The SQL registry's repr shows the dialect, not the engine URL with its password."""
    engine = sqlalchemy.create_engine("postgresql+psycopg://user:hunter2@127.0.0.1:1/db")

    text = repr(SqlSubjectRegistry(engine))

    assert "hunter2" not in text


def test_errors_name_tag_not_subject(memory_keys: SubjectKeys) -> None:
    """SubjectShredded and SubjectKeyNotFound name the tag, never the subject id."""
    blob = memory_keys.encrypt_for(SUBJECT, DATA)
    with pytest.raises(SubjectKeyNotFound) as not_found:
        memory_keys.decrypt_for(OTHER_SUBJECT, blob)
    memory_keys.shred(SUBJECT)
    with pytest.raises(SubjectShredded) as shredded:
        memory_keys.decrypt_for(SUBJECT, blob)

    assert OTHER_SUBJECT not in str(not_found.value)
    assert memory_keys.subject_tag(OTHER_SUBJECT) in str(not_found.value)
    assert SUBJECT not in str(shredded.value)
    assert memory_keys.subject_tag(SUBJECT) in str(shredded.value)


def test_logs_hide_secrets(provider: LocalKeyProvider, caplog: pytest.LogCaptureFixture) -> None:
    """Logs of a subject's whole life show the tag, never the subject id or key material."""
    registry = MemorySubjectRegistry()
    keys = SubjectKeys(registry, provider)
    caplog.set_level(logging.DEBUG, logger="jivs_security")
    blob = keys.encrypt_for(SUBJECT, DATA)
    subject_key = subject_key_of(keys, registry, provider)
    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.ciphertext is not None
    keys.decrypt_for(SUBJECT, blob)
    keys.shred(SUBJECT)

    text = caplog.text

    assert keys.subject_tag(SUBJECT) in text
    assert SUBJECT not in text
    leaks = [
        form for form in secret_forms(subject_key) + secret_forms(record.ciphertext) if form in text
    ]
    assert not leaks


def test_one_info_line_per_operation(
    memory_keys: SubjectKeys, caplog: pytest.LogCaptureFixture
) -> None:
    """Key creation and shredding log one INFO line each; encryption logs none."""
    caplog.set_level(logging.INFO, logger="jivs_security.crypto")

    blob = memory_keys.encrypt_for(SUBJECT, DATA)
    memory_keys.encrypt_for(SUBJECT, DATA)
    memory_keys.decrypt_for(SUBJECT, blob)
    memory_keys.shred(SUBJECT)

    messages = [record.getMessage().split(" subject_tag=")[0] for record in caplog.records]
    assert messages == ["subject key created", "subject key shredded"]


# Attacks on the registry and on messages.


def test_copied_record_rejected(provider: LocalKeyProvider) -> None:
    """A wrapped key copied into another subject's record does not unwrap there."""
    registry = MemorySubjectRegistry()
    keys = SubjectKeys(registry, provider)
    keys.encrypt_for(SUBJECT, DATA)
    stolen = registry.get(keys.subject_tag(SUBJECT))
    assert stolen is not None
    assert stolen.wrapped_key is not None
    other_tag = keys.subject_tag(OTHER_SUBJECT)
    registry.insert_if_absent(
        SubjectKeyRecord.live(other_tag, stolen.wrapped_key, stolen.created_at)
    )

    with pytest.raises(DecryptionFailed):
        keys.encrypt_for(OTHER_SUBJECT, DATA)


def test_tampered_blob_rejected(memory_keys: SubjectKeys) -> None:
    """A message with one flipped body byte raises DecryptionFailed."""
    blob = bytearray(memory_keys.encrypt_for(SUBJECT, DATA))
    blob[-1] ^= 1

    with pytest.raises(DecryptionFailed):
        memory_keys.decrypt_for(SUBJECT, bytes(blob))


def test_foreign_provider_unavailable(tmp_path: Path, provider: LocalKeyProvider) -> None:
    """A record wrapped under a KEK the provider lacks raises KeyUnavailable, not retryable."""
    registry = MemorySubjectRegistry()
    blob = SubjectKeys(registry, provider).encrypt_for(SUBJECT, DATA)
    stranger = LocalKeyProvider.create(tmp_path / "other-keyset.json")

    with pytest.raises(KeyUnavailable) as raised:
        SubjectKeys(registry, stranger).decrypt_for(SUBJECT, blob)

    assert raised.value.retryable is False
    assert raised.value.key_id == f"{provider.keyset_id}/v1"


def test_empty_and_large_round_trip(memory_keys: SubjectKeys) -> None:
    """Empty data and data spanning several segments both round-trip."""
    large = bytes(range(256)) * 1024

    empty_blob = memory_keys.encrypt_for(SUBJECT, b"")
    large_blob = memory_keys.encrypt_for(SUBJECT, large)

    assert memory_keys.decrypt_for(SUBJECT, empty_blob) == b""
    assert memory_keys.decrypt_for(SUBJECT, large_blob) == large


# The limits of shredding, as documented.


def test_backup_copy_survives_shred(provider: LocalKeyProvider) -> None:
    """A copy of the record taken before shredding still opens the data while its KEK lives."""
    registry = MemorySubjectRegistry()
    keys = SubjectKeys(registry, provider)
    blob = keys.encrypt_for(SUBJECT, DATA)
    backup = registry.get(keys.subject_tag(SUBJECT))
    assert backup is not None
    keys.shred(SUBJECT)

    restored = MemorySubjectRegistry()
    restored.insert_if_absent(backup)

    assert SubjectKeys(restored, provider).decrypt_for(SUBJECT, blob) == DATA


def test_retired_kek_voids_backup_copy(provider: LocalKeyProvider) -> None:
    """Once the KEK version that wrapped it is retired, a backup copy opens nothing."""
    registry = MemorySubjectRegistry()
    keys = SubjectKeys(registry, provider)
    blob = keys.encrypt_for(SUBJECT, DATA)
    backup = registry.get(keys.subject_tag(SUBJECT))
    assert backup is not None
    keys.shred(SUBJECT)
    provider.promote(provider.add_version())
    provider.retire(1)

    restored = MemorySubjectRegistry()
    restored.insert_if_absent(backup)

    with pytest.raises(KeyUnavailable):
        SubjectKeys(restored, provider).decrypt_for(SUBJECT, blob)


# Subject tags and arguments.


def test_tag_is_hex_prefix(memory_keys: SubjectKeys) -> None:
    """A subject tag is 32 lowercase hex digits, the same on every call."""
    tag = memory_keys.subject_tag(SUBJECT)

    assert len(tag) == 32
    assert set(tag) <= set("0123456789abcdef")
    assert memory_keys.subject_tag(SUBJECT) == tag


def test_tag_key_changes_tag(provider: LocalKeyProvider) -> None:
    """With a tag key, the tag differs from the plain hash and from another key's tag."""
    registry = MemorySubjectRegistry()
    plain = SubjectKeys(registry, provider).subject_tag(SUBJECT)
    first = SubjectKeys(registry, provider, tag_key=b"a" * 32).subject_tag(SUBJECT)
    second = SubjectKeys(registry, provider, tag_key=b"b" * 32).subject_tag(SUBJECT)

    assert first != plain
    assert first != second


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("", id="empty"),
        pytest.param(5, id="int"),
        pytest.param(None, id="none"),
        pytest.param(b"alice", id="bytes"),
        pytest.param("alice\ud800", id="lone-surrogate"),
    ],
)
def test_invalid_subject_rejected(memory_keys: SubjectKeys, subject: object) -> None:
    """A subject that is not a non-empty valid str raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as raised:
        memory_keys.encrypt_for(subject, DATA)  # type: ignore[arg-type]

    assert raised.value.setting == "subject"
    assert "alice" not in str(raised.value)


def test_reserved_context_key_rejected(memory_keys: SubjectKeys) -> None:
    """A caller's context may not set the subject tag key itself."""
    with pytest.raises(ConfigurationError) as raised:
        memory_keys.encrypt_for(SUBJECT, DATA, context={SUBJECT_CONTEXT_KEY: "forged"})

    assert raised.value.setting == "context"


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        pytest.param({"cache_size": -1}, "cache_size", id="negative-cache"),
        pytest.param({"cache_size": True}, "cache_size", id="bool-cache"),
        pytest.param({"max_age": 0}, "max_age", id="zero-age"),
        pytest.param({"max_age": float("nan")}, "max_age", id="nan-age"),
        pytest.param({"max_age": float("inf")}, "max_age", id="infinite-age"),
        pytest.param({"tag_key": b"short"}, "tag_key", id="short-tag-key"),
        pytest.param({"tag_key": "k" * 32}, "tag_key", id="str-tag-key"),
        pytest.param({"suite": "rot13"}, "suite", id="unknown-suite"),
    ],
)
def test_invalid_options_rejected(
    provider: LocalKeyProvider, options: dict[str, object], setting: str
) -> None:
    """Invalid options raise ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError) as raised:
        SubjectKeys(MemorySubjectRegistry(), provider, **options)  # type: ignore[arg-type]

    assert raised.value.setting == setting


def test_short_tag_key_not_echoed(provider: LocalKeyProvider) -> None:
    """A rejected tag key does not appear in the error."""
    with pytest.raises(ConfigurationError) as raised:
        SubjectKeys(MemorySubjectRegistry(), provider, tag_key=b"secret-tag-key")

    assert "secret-tag-key" not in str(raised.value)
    assert raised.value.value is None


def test_non_registry_rejected(provider: LocalKeyProvider) -> None:
    """An object that is not a registry raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as raised:
        SubjectKeys(MemoryStore(), provider)  # type: ignore[arg-type]

    assert raised.value.setting == "registry"


def test_non_provider_rejected() -> None:
    """An object that is not a key provider raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as raised:
        SubjectKeys(MemorySubjectRegistry(), object())  # type: ignore[arg-type]

    assert raised.value.setting == "provider"


# Records and the key-value registry.


def test_record_needs_key_or_tombstone() -> None:
    """A record with both a wrapped key and a shredding time is rejected."""
    now = datetime.now(UTC)

    with pytest.raises(ConfigurationError):
        SubjectKeyRecord("tag", "local", "k/v1", b"x" * 60, now, shredded_at=now)


def test_record_without_either_rejected() -> None:
    """A record with neither a wrapped key nor a shredding time is rejected."""
    with pytest.raises(ConfigurationError):
        SubjectKeyRecord("tag", None, None, None, datetime.now(UTC))


def test_key_value_records_never_expire(
    redis_store: RedisStore, provider: LocalKeyProvider
) -> None:
    """Live records and tombstones in Redis have no expiry."""
    registry = RedisSubjectRegistry(redis_store)
    keys = SubjectKeys(registry, provider)
    keys.encrypt_for(SUBJECT, DATA)
    key = registry.key(keys.subject_tag(SUBJECT))
    live_ttl = redis_store.ttl(key)

    keys.shred(SUBJECT)

    assert live_ttl is None
    assert redis_store.ttl(key) is None


def test_redis_tombstone_value_has_no_key(
    redis_store: RedisStore, provider: LocalKeyProvider
) -> None:
    """The stored tombstone value contains no trace of the wrapped key."""
    registry = RedisSubjectRegistry(redis_store)
    keys = SubjectKeys(registry, provider)
    keys.encrypt_for(SUBJECT, DATA)
    live = registry.get(keys.subject_tag(SUBJECT))
    assert live is not None
    assert live.ciphertext is not None

    keys.shred(SUBJECT)

    value = redis_store.get(registry.key(keys.subject_tag(SUBJECT)))
    assert value is not None
    assert base64.b64encode(live.ciphertext) not in value
    assert b'"wrapped_key":null' in value


def test_damaged_key_value_record_raises() -> None:
    """A record that is not valid JSON raises StoreError without showing the value."""
    store = MemoryStore()
    registry = RedisSubjectRegistry(store)
    store.set(registry.key("tag"), b"not json, wrapped key AAAA")

    with pytest.raises(StoreError) as raised:
        registry.get("tag")

    assert "AAAA" not in str(raised.value)


def test_key_value_registry_needs_store() -> None:
    """RedisSubjectRegistry rejects an object that is not a key-value store."""
    with pytest.raises(ConfigurationError) as raised:
        RedisSubjectRegistry(MemorySubjectRegistry())  # type: ignore[arg-type]

    assert raised.value.setting == "store"


# The SQL registry.


def test_sql_row_after_shred_is_null(
    sql_registry: SqlSubjectRegistry, sql_engine: sqlalchemy.Engine, provider: LocalKeyProvider
) -> None:
    """After shredding, the table row's wrapped_key column is NULL."""
    keys = SubjectKeys(sql_registry, provider)
    keys.encrypt_for(SUBJECT, DATA)

    keys.shred(SUBJECT)

    table = sql_registry.table
    with sql_engine.connect() as connection:
        row = connection.execute(sqlalchemy.select(table.c.wrapped_key, table.c.shredded_at)).one()
    assert row.wrapped_key is None
    assert row.shredded_at is not None


def test_sql_check_rejects_key_in_tombstone(
    sql_registry: SqlSubjectRegistry, sql_engine: sqlalchemy.Engine
) -> None:
    """The table refuses a row with both a wrapped key and a shredding time."""
    now = datetime.now(UTC)
    row = {
        "subject_tag": "tag",
        "provider_id": "local",
        "key_id": "k/v1",
        "wrapped_key": b"x" * 60,
        "created_at": now,
        "shredded_at": now,
    }

    with pytest.raises(sqlalchemy.exc.IntegrityError), sql_engine.begin() as connection:
        connection.execute(sqlalchemy.insert(sql_registry.table).values(row))


def test_sql_create_table_idempotent(sql_registry: SqlSubjectRegistry) -> None:
    """create_table() on an existing table changes nothing and raises nothing."""
    record = SubjectKeyRecord.new_tombstone("tag", datetime.now(UTC))
    sql_registry.insert_if_absent(record)

    sql_registry.create_table()

    assert sql_registry.get("tag") == record


def test_sql_plain_insert_fallback(
    sql_registry: SqlSubjectRegistry, provider: LocalKeyProvider
) -> None:
    """The plain-INSERT path for other databases keeps insert-if-absent semantics."""
    sql_registry._on_conflict = False
    racing = RacingRegistry(sql_registry, THREADS)
    instances = [SubjectKeys(racing, provider) for _ in range(THREADS)]

    blobs = run_in_threads(THREADS, lambda index: instances[index].encrypt_for(SUBJECT, DATA))

    reader = SubjectKeys(sql_registry, provider)
    assert all(reader.decrypt_for(SUBJECT, blob) == DATA for blob in blobs)  # type: ignore[arg-type]


def test_sql_vacuum_runs(sql_registry: SqlSubjectRegistry, provider: LocalKeyProvider) -> None:
    """vacuum() runs after a shred and leaves the tombstone in place."""
    keys = SubjectKeys(sql_registry, provider)
    keys.encrypt_for(SUBJECT, DATA)
    keys.shred(SUBJECT)

    sql_registry.vacuum()

    assert keys.shredded(SUBJECT)


def test_sql_missing_table_error_hides_key(sql_engine: sqlalchemy.Engine) -> None:
    """A failed insert raises a store error that shows no wrapped key and chains nothing."""
    registry = SqlSubjectRegistry(sql_engine, table_name="never_created")
    ciphertext = bytes(range(60))
    record = SubjectKeyRecord("tag", "local", "k/v1", ciphertext, datetime.now(UTC))

    with pytest.raises(StoreError) as raised:
        registry.insert_if_absent(record)

    leaks = [form for form in secret_forms(ciphertext) if form in str(raised.value)]
    assert not leaks
    assert raised.value.__suppress_context__


def test_postgres_schema_option(
    postgres_engine: sqlalchemy.Engine, provider: LocalKeyProvider
) -> None:
    """schema= puts the table in that schema, outside the connection's search path."""
    with postgres_engine.begin() as connection:
        connection.execute(sqlalchemy.schema.CreateSchema("registry_schema"))
    registry = SqlSubjectRegistry(postgres_engine, schema="registry_schema")
    registry.create_table()

    blob = SubjectKeys(registry, provider).encrypt_for(SUBJECT, DATA)

    assert SubjectKeys(registry, provider).decrypt_for(SUBJECT, blob) == DATA
    with postgres_engine.connect() as connection:
        count = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM registry_schema.jivs_subject_keys")
        ).scalar()
    assert count == 1
    with postgres_engine.begin() as connection:
        connection.execute(sqlalchemy.schema.DropSchema("registry_schema", cascade=True))


def test_postgres_unreachable_raises() -> None:
    """A PostgreSQL server that refuses connections raises StoreUnavailable."""
    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{find_free_port()}/postgres",
        connect_args={"connect_timeout": 1},
        poolclass=sqlalchemy.NullPool,
    )

    with pytest.raises(StoreUnavailable) as raised:
        SqlSubjectRegistry(engine).get("tag")

    assert raised.value.operation == "get"


def test_sqlite_unreachable_raises(tmp_path: Path) -> None:
    """A SQLite file that cannot be opened raises StoreUnavailable."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing' / 'registry.db'}")

    with pytest.raises(StoreUnavailable):
        SqlSubjectRegistry(engine).get("tag")

    engine.dispose()


def test_sqlite_file_loses_wrapped_key(
    insecure_sqlite_engine: sqlalchemy.Engine, tmp_path: Path, provider: LocalKeyProvider
) -> None:
    """After shredding, the SQLite file contains no fragment of the wrapped key."""
    registry = SqlSubjectRegistry(insecure_sqlite_engine)
    registry.create_table()
    keys = SubjectKeys(registry, provider)
    # Rows on both sides, so the shredded row is not simply merged into free space.
    for subject in ("carol@example.com", SUBJECT, OTHER_SUBJECT):
        keys.encrypt_for(subject, DATA)
    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.ciphertext is not None
    before = (tmp_path / "registry.db").read_bytes()

    keys.shred(SUBJECT)

    after = (tmp_path / "registry.db").read_bytes()
    assert record.ciphertext in before
    # The new, shorter row can overwrite part of the old one, so a search
    # for the whole wrapped key would miss a surviving remainder.
    remains = [piece for piece in fragments(record.ciphertext, 8) if piece in after]
    assert not remains


def test_sqlite_vacuum_truncates_wal(
    wal_sqlite_engine: sqlalchemy.Engine, tmp_path: Path, provider: LocalKeyProvider
) -> None:
    """In WAL mode the log keeps the wrapped key after shredding until vacuum() truncates it."""
    registry = SqlSubjectRegistry(wal_sqlite_engine)
    registry.create_table()
    keys = SubjectKeys(registry, provider)
    keys.encrypt_for(SUBJECT, DATA)
    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.ciphertext is not None
    keys.shred(SUBJECT)
    log = tmp_path / "registry.db-wal"
    kept_in_log = record.ciphertext in log.read_bytes()

    registry.vacuum()

    assert kept_in_log
    assert log.stat().st_size == 0
    assert record.ciphertext not in (tmp_path / "registry.db").read_bytes()


def test_postgres_vacuum_drops_dead_row(
    postgres_engine: sqlalchemy.Engine, provider: LocalKeyProvider
) -> None:
    """The old row version keeps the wrapped key in the table page until vacuum()."""
    try:
        with postgres_engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
    except sqlalchemy.exc.DBAPIError:
        pytest.skip("reading raw pages needs the pageinspect extension and a superuser")
    registry = SqlSubjectRegistry(postgres_engine)
    registry.create_table()
    keys = SubjectKeys(registry, provider)
    for subject in ("carol@example.com", SUBJECT, OTHER_SUBJECT):
        keys.encrypt_for(subject, DATA)
    record = registry.get(keys.subject_tag(SUBJECT))
    assert record is not None
    assert record.ciphertext is not None

    def first_page() -> bytes:
        with postgres_engine.connect() as connection:
            page = connection.exec_driver_sql(
                "SELECT get_raw_page('jivs_subject_keys', 0)"
            ).scalar()
        assert page is not None
        return bytes(page)

    keys.shred(SUBJECT)
    after_shred = first_page()
    registry.vacuum()
    after_vacuum = first_page()

    assert record.ciphertext in after_shred
    remains = [piece for piece in fragments(record.ciphertext, 8) if piece in after_vacuum]
    assert not remains


def test_sqlite_secure_delete_restored(
    insecure_sqlite_engine: sqlalchemy.Engine, provider: LocalKeyProvider
) -> None:
    """Shredding leaves the connection's secure_delete setting off, as it found it."""
    registry = SqlSubjectRegistry(insecure_sqlite_engine)
    registry.create_table()
    keys = SubjectKeys(registry, provider)
    keys.encrypt_for(SUBJECT, DATA)

    keys.shred(SUBJECT)

    with insecure_sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 0


def test_sql_registry_needs_engine() -> None:
    """SqlSubjectRegistry rejects an object that is not a SQLAlchemy engine."""
    with pytest.raises(ConfigurationError) as raised:
        SqlSubjectRegistry("sqlite:///registry.db")  # type: ignore[arg-type]

    assert raised.value.setting == "engine"
