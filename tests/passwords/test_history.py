"""PasswordHistory: the last hashes of each account, on every store backend."""

from __future__ import annotations

import json
import logging
import secrets
import threading

import pytest

from jivs_security.errors import (
    ConfigurationError,
    InvalidHash,
    PasswordReused,
    StoreError,
    StoreUnavailable,
    WeakPassword,
)
from jivs_security.passwords._hashing import TESTS_ONLY, PasswordHasher
from jivs_security.passwords._history import PasswordHistory
from jivs_security.stores import KeyValueStore, RedisStore
from servers import RedisServer

ACCOUNT = "alice@example.com"
PASSWORDS = [f"password-number-{index}" for index in range(6)]


@pytest.fixture
def hasher() -> PasswordHasher:
    """A hasher with the cheap test profile."""
    return PasswordHasher(TESTS_ONLY)


@pytest.fixture
def history(store: KeyValueStore, hasher: PasswordHasher) -> PasswordHistory:
    """A five-entry history on each store backend."""
    return PasswordHistory(store, hasher, size=5)


def fill(history: PasswordHistory, hasher: PasswordHasher, passwords: list[str]) -> None:
    """Add the hash of each password in order, so the last one is the newest."""
    for password in passwords:
        history.add(ACCOUNT, hasher.hash(password))


@pytest.mark.parametrize("index", range(5))
def test_reuse_detected_last_five(
    history: PasswordHistory, hasher: PasswordHasher, index: int
) -> None:
    """Each of the last five passwords is detected as reused."""
    fill(history, hasher, PASSWORDS[:5])

    with pytest.raises(PasswordReused) as caught:
        history.check(ACCOUNT, PASSWORDS[index])

    assert caught.value.history_size == 5


def test_sixth_oldest_forgotten(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """After a sixth password, the oldest one is no longer compared."""
    fill(history, hasher, PASSWORDS)

    history.check(ACCOUNT, PASSWORDS[0])

    assert len(history.hashes(ACCOUNT)) == 5


def test_sixth_newest_still_detected(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """After a sixth password, the newest one is detected."""
    fill(history, hasher, PASSWORDS)

    with pytest.raises(PasswordReused):
        history.check(ACCOUNT, PASSWORDS[5])


def test_new_password_accepted(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """A password not in the history passes the check."""
    fill(history, hasher, PASSWORDS[:5])

    history.check(ACCOUNT, "a-completely-new-password")

    assert len(history.hashes(ACCOUNT)) == 5


def test_empty_history_accepts(history: PasswordHistory) -> None:
    """An account without history accepts any password."""
    history.check(ACCOUNT, PASSWORDS[0])

    assert history.hashes(ACCOUNT) == []


def test_hashes_newest_first(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """hashes() returns the kept hashes with the newest first."""
    stored = [hasher.hash(password) for password in PASSWORDS]
    for stored_hash in stored:
        history.add(ACCOUNT, stored_hash)

    kept = history.hashes(ACCOUNT)

    assert kept == stored[::-1][:5]


def test_reuse_is_weak_password(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """PasswordReused is a WeakPassword, and its message names the history size."""
    fill(history, hasher, PASSWORDS[:1])

    with pytest.raises(WeakPassword) as caught:
        history.check(ACCOUNT, PASSWORDS[0])

    assert "last 5 passwords" in str(caught.value)
    assert PASSWORDS[0] not in str(caught.value)


def test_accounts_kept_apart(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """One account's history does not affect another's."""
    fill(history, hasher, PASSWORDS[:1])

    history.check("bob@example.com", PASSWORDS[0])

    assert history.hashes("bob@example.com") == []


def test_clear_forgets_all(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """clear() removes every kept hash of the account."""
    fill(history, hasher, PASSWORDS[:3])

    history.clear(ACCOUNT)

    assert history.hashes(ACCOUNT) == []


def test_smaller_size_compares_fewer(
    store: KeyValueStore, hasher: PasswordHasher, history: PasswordHistory
) -> None:
    """A history read with a smaller size compares only that many of the newest hashes."""
    fill(history, hasher, PASSWORDS[:5])
    smaller = PasswordHistory(store, hasher, size=2)

    smaller.check(ACCOUNT, PASSWORDS[2])

    assert len(smaller.hashes(ACCOUNT)) == 2


def test_add_rejects_malformed_hash(history: PasswordHistory) -> None:
    """add() stores only hashes in the format that PasswordHasher writes."""
    with pytest.raises(InvalidHash):
        history.add(ACCOUNT, "not-a-hash")

    assert history.hashes(ACCOUNT) == []


def test_add_concurrent_keeps_size(history: PasswordHistory, hasher: PasswordHasher) -> None:
    """Concurrent adds from eight threads leave exactly five hashes, all from those adds."""
    hashes = [hasher.hash(f"concurrent-{index}") for index in range(40)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(batch: list[str]) -> None:
        barrier.wait()
        try:
            for stored_hash in batch:
                history.add(ACCOUNT, stored_hash)
        except BaseException as exc:  # noqa: BLE001  (reported by the assert below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(hashes[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    kept = history.hashes(ACCOUNT)
    assert errors == []
    assert len(kept) == 5
    assert len(set(kept)) == 5
    assert set(kept) <= set(hashes)


def test_corrupt_value_raises(store: KeyValueStore, history: PasswordHistory) -> None:
    """A stored value that is not a JSON array of strings raises StoreError on read and add."""
    store.set(history.key(ACCOUNT), b'{"not": "a list"}')

    with pytest.raises(StoreError) as on_read:
        history.hashes(ACCOUNT)
    with pytest.raises(StoreError) as on_add:
        history.add(ACCOUNT, PasswordHasher(TESTS_ONLY).hash("x-password"))

    assert on_read.value.operation == "get"
    assert on_add.value.operation == "run_script(password-history-push)"
    assert store.get(history.key(ACCOUNT)) == b'{"not": "a list"}'


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b"null", b'"text"'])
def test_corrupt_value_kinds(store: KeyValueStore, history: PasswordHistory, value: bytes) -> None:
    """Invalid JSON, non-string entries and non-arrays are all rejected by add()."""
    store.set(history.key(ACCOUNT), value)

    with pytest.raises(StoreError):
        history.add(ACCOUNT, PasswordHasher(TESTS_ONLY).hash("x-password"))


def test_unknown_pepper_entry_skipped(
    store: KeyValueStore, hasher: PasswordHasher, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry whose pepper is no longer configured is skipped with a warning."""
    retired = PasswordHasher(TESTS_ONLY, peppers={"old": secrets.token_bytes(32)}, pepper_id="old")
    history = PasswordHistory(store, hasher)
    history.add(ACCOUNT, retired.hash(PASSWORDS[0]))
    history.add(ACCOUNT, hasher.hash(PASSWORDS[1]))

    history.check(ACCOUNT, PASSWORDS[0])

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'old'" in warnings[0].getMessage()


def test_malformed_entry_skipped(
    store: KeyValueStore,
    history: PasswordHistory,
    hasher: PasswordHasher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A kept entry that is not a valid hash is skipped, and older entries are still compared."""
    entries = ["$argon2id$broken", hasher.hash(PASSWORDS[0])]
    store.set(history.key(ACCOUNT), json.dumps(entries).encode())

    with pytest.raises(PasswordReused):
        history.check(ACCOUNT, PASSWORDS[0])

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "$argon2id$broken" not in warnings[0].getMessage()


def test_key_hides_account(history: PasswordHistory) -> None:
    """The key is the namespace and the SHA-256 of the account id, never the id itself."""
    key = history.key(ACCOUNT)

    assert key.startswith("pwhist:")
    assert len(key) == len("pwhist:") + 64
    assert "alice" not in key


def test_redis_keys_hide_account(redis_store: RedisStore, hasher: PasswordHasher) -> None:
    """No key in Redis contains the account's e-mail address."""
    history = PasswordHistory(redis_store, hasher)
    history.add(ACCOUNT, hasher.hash(PASSWORDS[0]))

    keys = [key.decode() for key in redis_store.client.scan_iter(match=redis_store.key("*"))]

    assert len(keys) == 1
    assert "alice" not in keys[0]


def test_logs_hide_account_and_password(
    history: PasswordHistory, hasher: PasswordHasher, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG level, history logs contain neither the account id nor a password or hash."""
    caplog.set_level(logging.DEBUG, logger="jivs_security.passwords")
    stored = hasher.hash(PASSWORDS[0])

    history.add(ACCOUNT, stored)
    with pytest.raises(PasswordReused):
        history.check(ACCOUNT, PASSWORDS[0])

    assert caplog.records
    assert ACCOUNT not in caplog.text
    assert PASSWORDS[0] not in caplog.text
    assert stored not in caplog.text


@pytest.mark.parametrize("size", [0, -1, 25, True, 5.0])
def test_size_validated(store: KeyValueStore, hasher: PasswordHasher, size: object) -> None:
    """size must be an integer from 1 to 24."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordHistory(store, hasher, size=size)  # type: ignore[arg-type]

    assert caught.value.setting == "size"


@pytest.mark.parametrize("account", ["", None, b"alice"])
def test_account_validated(history: PasswordHistory, account: object) -> None:
    """An empty or non-str account id raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        history.hashes(account)  # type: ignore[arg-type]

    assert caught.value.setting == "account"


def test_repr_names_size(history: PasswordHistory) -> None:
    """repr shows the size and namespace."""
    assert repr(history).startswith("PasswordHistory(size=5, namespace='pwhist:'")


def test_store_down_raises(redis_server: RedisServer, hasher: PasswordHasher) -> None:
    """With Redis stopped, check, add, hashes and clear raise StoreUnavailable."""
    store = RedisStore.from_url(redis_server.url, prefix="test:")
    history = PasswordHistory(store, hasher)
    stored = hasher.hash(PASSWORDS[0])
    redis_server.stop()

    with pytest.raises(StoreUnavailable):
        history.check(ACCOUNT, PASSWORDS[0])
    with pytest.raises(StoreUnavailable):
        history.add(ACCOUNT, stored)
    with pytest.raises(StoreUnavailable):
        history.hashes(ACCOUNT)
    with pytest.raises(StoreUnavailable):
        history.clear(ACCOUNT)

    store.close()
