"""DataKeyCache: its limits on a fake clock, and the key-service calls it saves EnvelopeCipher."""

from __future__ import annotations

import io
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from crypto_support import Failure, FakeKeyProvider
from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._provider import WrappedKey
from jivs_security.crypto._suite import KeySchedule
from jivs_security.errors import ConfigurationError, DecryptionFailed

SEGMENT = 1024
CONTEXT = {"tenant": "acme"}
# What the cache keeps: the key schedule of a data key, compared by identity.
DATA_KEY = KeySchedule(bytes(range(32)))
WRAPPED = (WrappedKey("fake", "primary/v1", b"wrapped"),)


class FakeClock:
    """A fake monotonic clock, in seconds, that moves only when advanced."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock that does not move until advanced."""
    return FakeClock()


def make_cache(clock: FakeClock, **limits: Any) -> DataKeyCache:
    """Return a cache on ``clock`` with ``limits`` overriding the defaults."""
    return DataKeyCache(clock=clock, **limits)


# The cache alone: encryption entries.


def test_take_missing_returns_none(clock: FakeClock) -> None:
    """An empty cache has nothing to give."""
    cache = make_cache(clock)

    assert cache.take_for_encryption("k", 10) is None


def test_put_then_take(clock: FakeClock) -> None:
    """A cached data key is returned with its wrapped keys."""
    cache = make_cache(clock)
    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 10)

    assert cache.take_for_encryption("k", 10) == (DATA_KEY, WRAPPED)


def test_max_age_expires_entry(clock: FakeClock) -> None:
    """An entry serves until max_age seconds after it was made, and not at max_age."""
    cache = make_cache(clock, max_age=60)
    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 10)

    clock.advance(59.999)
    before = cache.take_for_encryption("k", 10)
    clock.advance(0.001)
    at_limit = cache.take_for_encryption("k", 10)

    assert before is not None
    assert at_limit is None


def test_max_messages_counts_first(clock: FakeClock) -> None:
    """The message that created the entry counts, so max_messages=3 allows two more."""
    cache = make_cache(clock, max_messages=3)
    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 1)

    results = [cache.take_for_encryption("k", 1) for _ in range(3)]

    assert [result is not None for result in results] == [True, True, False]


def test_max_bytes_counts_plaintext(clock: FakeClock) -> None:
    """Plaintext bytes add up across messages and may reach max_bytes exactly."""
    cache = make_cache(clock, max_bytes=100)
    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 60)

    exactly_full = cache.take_for_encryption("k", 40)
    one_over = cache.take_for_encryption("k", 1)

    assert exactly_full is not None
    assert one_over is None


def test_oversized_message_not_cached(clock: FakeClock) -> None:
    """A first message larger than max_bytes does not create an entry."""
    cache = make_cache(clock, max_bytes=100)

    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 101)

    assert cache.take_for_encryption("k", 0) is None


def test_entry_over_limit_dropped(clock: FakeClock) -> None:
    """An entry that fails a limit once is gone, even for a message that would fit."""
    cache = make_cache(clock, max_bytes=100)
    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 60)

    too_big = cache.take_for_encryption("k", 41)
    small = cache.take_for_encryption("k", 1)

    assert too_big is None
    assert small is None


def test_max_entries_evicts_least_recent(clock: FakeClock) -> None:
    """Past max_entries, the entry used least recently is evicted."""
    cache = make_cache(clock, max_entries=2)
    cache.put_for_encryption("a", DATA_KEY, WRAPPED, 1)
    cache.put_for_encryption("b", DATA_KEY, WRAPPED, 1)
    cache.take_for_encryption("a", 1)

    cache.put_for_encryption("c", DATA_KEY, WRAPPED, 1)

    assert cache.take_for_encryption("b", 1) is None
    assert cache.take_for_encryption("a", 1) is not None
    assert cache.take_for_encryption("c", 1) is not None


# The cache alone: decryption entries.


def test_decryption_max_age(clock: FakeClock) -> None:
    """An unwrapped key is served until max_age seconds after it was cached."""
    cache = make_cache(clock, max_age=60)
    cache.put_for_decryption("w", DATA_KEY)

    clock.advance(59.999)
    before = cache.get_for_decryption("w")
    clock.advance(0.001)
    at_limit = cache.get_for_decryption("w")

    assert before == DATA_KEY
    assert at_limit is None


def test_decryption_has_no_use_limit(clock: FakeClock) -> None:
    """Decryption entries are bounded by age only, not by messages."""
    cache = make_cache(clock, max_messages=1)
    cache.put_for_decryption("w", DATA_KEY)

    results = [cache.get_for_decryption("w") for _ in range(5)]

    assert results == [DATA_KEY] * 5


def test_decryption_max_entries(clock: FakeClock) -> None:
    """Past max_entries, the unwrapped key used least recently is evicted."""
    cache = make_cache(clock, max_entries=2)
    cache.put_for_decryption("a", DATA_KEY)
    cache.put_for_decryption("b", DATA_KEY)
    cache.get_for_decryption("a")

    cache.put_for_decryption("c", DATA_KEY)

    assert cache.get_for_decryption("b") is None
    assert cache.get_for_decryption("a") == DATA_KEY


def test_clear_forgets_everything(clock: FakeClock) -> None:
    """clear empties both tables."""
    cache = make_cache(clock)
    cache.put_for_encryption("k", DATA_KEY, WRAPPED, 1)
    cache.put_for_decryption("w", DATA_KEY)

    cache.clear()

    assert cache.take_for_encryption("k", 1) is None
    assert cache.get_for_decryption("w") is None


def test_evict_matching_keys(clock: FakeClock) -> None:
    """evict removes the entries whose cache key matches and returns how many."""
    cache = make_cache(clock)
    cache.put_for_encryption(("encrypt", "x"), DATA_KEY, WRAPPED, 1)
    cache.put_for_decryption(("decrypt", "x"), DATA_KEY)
    cache.put_for_decryption(("decrypt", "y"), DATA_KEY)

    removed = cache.evict(lambda key: isinstance(key, tuple) and key[1] == "x")

    assert removed == 2
    assert cache.get_for_decryption(("decrypt", "y")) == DATA_KEY


def test_repr_shows_limits_only(clock: FakeClock) -> None:
    """repr shows the limits and the number of entries."""
    cache = make_cache(clock, max_age=30, max_messages=5, max_bytes=1000)
    cache.put_for_decryption("w", DATA_KEY)

    assert repr(cache) == "DataKeyCache(max_age=30, max_messages=5, max_bytes=1000, entries=1)"


INVALID_LIMITS = [
    ("max_age", 0),
    ("max_age", -1.0),
    ("max_age", math.nan),
    ("max_age", "60"),
    ("max_messages", 0),
    ("max_messages", True),
    ("max_bytes", -1),
    ("max_bytes", None),
    ("max_entries", 0),
]


@pytest.mark.parametrize(("setting", "value"), INVALID_LIMITS)
def test_invalid_limit_rejected(setting: str, value: object) -> None:
    """Limits that are not numbers above zero are rejected, naming the setting."""
    with pytest.raises(ConfigurationError, match=setting) as caught:
        DataKeyCache(**{setting: value})  # type: ignore[arg-type]

    assert caught.value.setting == setting


# With EnvelopeCipher: key-service calls.


@pytest.fixture
def provider() -> FakeKeyProvider:
    """The provider whose calls are counted."""
    return FakeKeyProvider()


def test_thousand_messages_two_calls(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """A thousand messages cost one generate call to encrypt and one unwrap call to decrypt."""
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=make_cache(clock))

    blobs = [cipher.encrypt(b"message %d" % number, context=CONTEXT) for number in range(1000)]
    encrypt_calls = provider.calls.copy()
    plaintexts = [cipher.decrypt(blob, context=CONTEXT) for blob in blobs]

    assert encrypt_calls == {"generate": 1}
    assert provider.calls == {"generate": 1, "unwrap": 1}
    assert plaintexts[999] == b"message 999"


def test_no_cache_one_call_each(provider: FakeKeyProvider) -> None:
    """Without a cache every message costs a generate and an unwrap call."""
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)

    for blob in [cipher.encrypt(b"message", context=CONTEXT) for _ in range(100)]:
        cipher.decrypt(blob, context=CONTEXT)

    assert provider.calls == {"generate": 100, "unwrap": 100}


def test_max_messages_renews_key(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """With max_messages=100, a thousand messages need ten data keys."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock, max_messages=100))

    blobs = [cipher.encrypt(b"message", context=CONTEXT) for _ in range(1000)]

    uses = Counter(EnvelopeCipher.inspect(blob).wrapped_keys for blob in blobs)
    assert provider.calls == {"generate": 10}
    assert set(uses.values()) == {100}


def test_max_bytes_renews_key(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """With max_bytes=1000, ten messages of 300 bytes need four data keys."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock, max_bytes=1000))

    for _ in range(10):
        cipher.encrypt(bytes(300), context=CONTEXT)

    assert provider.calls == {"generate": 4}


def test_max_age_renews_keys(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """After max_age, encryption generates and decryption unwraps again."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock, max_age=60))
    blob = cipher.encrypt(b"message", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    clock.advance(60)
    cipher.encrypt(b"message", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    assert provider.calls == {"generate": 2, "unwrap": 2}


def test_contexts_get_own_keys(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """Messages under different contexts never share a data key."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock))

    first = cipher.encrypt(b"message", context={"tenant": "acme"})
    second = cipher.encrypt(b"message", context={"tenant": "globex"})

    assert EnvelopeCipher.inspect(first).wrapped_keys != EnvelopeCipher.inspect(second).wrapped_keys
    assert provider.calls == {"generate": 2}


def test_cached_messages_get_own_ids(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """Messages under one cached data key still get distinct message ids and bodies."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock))

    first = cipher.encrypt(b"same", context=CONTEXT)
    second = cipher.encrypt(b"same", context=CONTEXT)

    assert first[11:43] != second[11:43]
    assert first[-20:] != second[-20:]


def test_encrypt_stream_bypasses_cache(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """Each stream gets a fresh data key, and streams use up no cached entry."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock, max_messages=2))
    cipher.encrypt(b"message", context=CONTEXT)

    for _ in range(3):
        cipher.encrypt_stream(io.BytesIO(b"stream"), io.BytesIO(), context=CONTEXT)
    cipher.encrypt(b"message", context=CONTEXT)

    assert provider.calls == {"generate": 4}


def test_decrypt_stream_uses_cache(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """Streaming decryption reuses an unwrapped key cached by an earlier decryption."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock))
    blob = cipher.encrypt(b"message", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    cipher.decrypt_stream(io.BytesIO(blob), io.BytesIO(), context=CONTEXT)

    assert provider.calls["unwrap"] == 1


def test_cached_key_still_checks_context(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """A cached unwrapped key does not let a message decrypt under another context."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock))
    blob = cipher.encrypt(b"message", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context={"tenant": "globex"})


def test_cache_outlives_provider_outage(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """Within max_age, cached keys keep working while the key service is down."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock))
    blob = cipher.encrypt(b"message", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    provider.fail(Failure.UNAVAILABLE)

    assert cipher.decrypt(blob, context=CONTEXT) == b"message"
    assert cipher.decrypt(cipher.encrypt(b"new", context=CONTEXT), context=CONTEXT) == b"new"


def test_clear_forces_new_calls(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """After clear, the next message calls the key service again."""
    cache = make_cache(clock)
    cipher = EnvelopeCipher(provider, cache=cache)
    cipher.encrypt(b"message", context=CONTEXT)

    cache.clear()
    cipher.encrypt(b"message", context=CONTEXT)

    assert provider.calls == {"generate": 2}


# A cache shared by several ciphers.


def test_later_cipher_gets_own_keys(clock: FakeClock) -> None:
    """A new cipher never takes over the data keys an earlier, freed cipher cached.

    Ciphers are created and dropped in a loop, so CPython gives new ones the
    addresses of freed ones: a cache keyed by ``id()`` would hand the new
    cipher a data key wrapped only for the old cipher's provider.
    """
    cache = make_cache(clock)
    old_provider, new_provider = FakeKeyProvider("old"), FakeKeyProvider("new")

    key_ids = set()
    for _ in range(20):
        EnvelopeCipher(old_provider, cache=cache).encrypt(b"message")
        blob = EnvelopeCipher(new_provider, cache=cache).encrypt(b"message")
        key_ids.add(EnvelopeCipher.inspect(blob).key_ids)

    assert key_ids == {(("fake", "new/v1"),)}


def test_shared_cache_needs_own_provider(clock: FakeClock) -> None:
    """A cipher cannot open through a shared cache a message none of its providers holds."""
    cache = make_cache(clock)
    owner = EnvelopeCipher(FakeKeyProvider("owner"), cache=cache)
    stranger = EnvelopeCipher(FakeKeyProvider("stranger"), cache=cache)
    blob = owner.encrypt(b"secret", context=CONTEXT)
    owner.decrypt(blob, context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        stranger.decrypt(blob, context=CONTEXT)


def test_limits_hold_across_threads(provider: FakeKeyProvider, clock: FakeClock) -> None:
    """Under concurrent use, no data key serves more than max_messages messages."""
    cipher = EnvelopeCipher(provider, cache=make_cache(clock, max_messages=50))

    with ThreadPoolExecutor(max_workers=8) as pool:
        blobs = list(pool.map(lambda _: cipher.encrypt(b"m", context=CONTEXT), range(1000)))

    uses = Counter(EnvelopeCipher.inspect(blob).wrapped_keys for blob in blobs)
    assert max(uses.values()) <= 50
    assert sum(uses.values()) == 1000
