"""LockoutGuard and LockoutPolicy: delays, caps, resets, scopes, input checks and logs.

Tests that take the ``store`` fixture run on a MemoryStore and on a real
Redis server, so the Python and Lua halves of the lockout scripts are held
to the same behaviour. Time comes from a fake wall clock.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from jivs_security.errors import (
    AccountLocked,
    ConfigurationError,
    InvalidPassword,
    LoginFailed,
    PasswordMismatch,
    StoreError,
)
from jivs_security.passwords._hashing import TESTS_ONLY, PasswordHasher
from jivs_security.passwords._lockout import LockoutGuard, LockoutPolicy
from jivs_security.passwords._lockout_scripts import RELEASE, RESERVE
from jivs_security.stores import KeyValueStore, MemoryStore

# Wall-clock seconds at which every test starts.
START = 1_700_000_000.25

ACCOUNT = "alice@example.com"
IP = "203.0.113.7"
PASSWORD = "correct horse battery staple"

# Seconds; the defaults the policy documents.
DAY = 24 * 3600.0
DEFAULT_SCHEDULE = [30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0]

# Concurrent attempts in the thread race, and the threads that make them.
RACE_ATTEMPTS = 500
RACE_THREADS = 50

# Seconds a race waits for its threads.
RACE_TIMEOUT = 60.0


class FakeClock:
    """A wall clock that moves only when a test advances it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake wall clock at START."""
    return FakeClock(START)


@pytest.fixture
def guard(store: KeyValueStore, clock: FakeClock) -> LockoutGuard:
    """A guard with the default policy on each store backend."""
    return LockoutGuard(store, clock=clock)


@pytest.fixture
def memory_guard(memory_store: MemoryStore, clock: FakeClock) -> LockoutGuard:
    """A guard with the default policy on a MemoryStore, for tests of input and output."""
    return LockoutGuard(memory_store, clock=clock)


def wrong_password() -> None:
    """Stand in for a hash verification that finds the password wrong."""
    raise PasswordMismatch


def fail(
    guard: LockoutGuard, account: str = ACCOUNT, ip: str = IP, *, device: str | None = None
) -> AccountLocked | None:
    """Try a wrong password; return the AccountLocked raised, or None when it was verified."""
    try:
        guard.login(account, ip, wrong_password, device=device)
    except AccountLocked as locked:
        return locked
    except PasswordMismatch:
        return None
    raise AssertionError("a wrong password was accepted")


def fail_until_locked(
    guard: LockoutGuard, account: str = ACCOUNT, ip: str = IP
) -> tuple[int, AccountLocked]:
    """Try wrong passwords until the guard locks; return how many were verified, and the lock."""
    for verified in range(1000):
        locked = fail(guard, account, ip)
        if locked is not None:
            return verified, locked
    raise AssertionError("the guard never locked")


def succeed(guard: LockoutGuard, account: str = ACCOUNT, ip: str = IP) -> None:
    """Sign in with a correct password."""
    guard.login(account, ip, lambda: None)


# The policy.


def test_policy_defaults() -> None:
    """The default policy has the documented thresholds, delays, cap and window."""
    policy = LockoutPolicy()

    assert policy.account_threshold == 5
    assert policy.account_ip_threshold == 5
    assert policy.ip_threshold == 100
    assert policy.base_delay == 30.0
    assert policy.max_delay == 3600.0
    assert policy.max_failures == 100
    assert policy.failure_window == DAY
    assert policy.ipv6_prefix == 64


def test_policy_delay_doubles_then_caps() -> None:
    """delay() is 0 below the threshold, then doubles from 30 s up to 1 hour."""
    policy = LockoutPolicy()

    delays = [policy.delay(failures) for failures in range(14)]

    assert delays[:5] == [0.0] * 5
    assert delays[5:] == DEFAULT_SCHEDULE


def test_policy_delay_at_cap() -> None:
    """At max_failures the account delay is the whole failure window."""
    policy = LockoutPolicy()

    assert policy.delay(99) == 3600.0
    assert policy.delay(100) == DAY


def test_policy_ip_scope_threshold() -> None:
    """The IP scope has its own threshold and no failure cap."""
    policy = LockoutPolicy()

    assert policy.delay(99, "ip") == 0.0
    assert policy.delay(100, "ip") == 30.0
    assert policy.delay(1000, "ip") == 3600.0


def test_policy_rejects_cap_above_nist() -> None:
    """max_failures above 100 is rejected, naming the limit."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutPolicy(max_failures=101)

    assert caught.value.setting == "max_failures"
    assert "100" in str(caught.value)


def test_policy_rejects_short_window() -> None:
    """A failure window shorter than max_delay is rejected."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutPolicy(max_delay=7200.0, failure_window=3600.0)

    assert caught.value.setting == "failure_window"


def test_policy_rejects_bool_threshold() -> None:
    """A bool is not accepted as a threshold."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutPolicy(ip_threshold=True)

    assert caught.value.setting == "ip_threshold"


def test_policy_rejects_threshold_above_cap() -> None:
    """An account threshold above max_failures is rejected."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutPolicy(account_threshold=20, max_failures=10)

    assert caught.value.setting == "account_threshold"


def test_policy_rejects_unknown_scope() -> None:
    """delay() with an unknown scope raises and lists the scopes."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutPolicy().delay(5, "user")

    assert "account_ip" in str(caught.value)


# Progressive delays.


def test_free_attempts_then_locked(guard: LockoutGuard) -> None:
    """Five wrong passwords are verified; the sixth raises AccountLocked for 30 s."""
    verified, locked = fail_until_locked(guard)

    assert verified == 5
    assert locked.retry_after == 30.0
    assert locked.scope == "account"


def test_delay_schedule_fake_clock(guard: LockoutGuard, clock: FakeClock) -> None:
    """Waiting out each delay allows one attempt, and the delays double up to 1 hour."""
    waits = []
    verified_counts = []

    for _ in DEFAULT_SCHEDULE:
        verified, locked = fail_until_locked(guard)
        verified_counts.append(verified)
        waits.append(locked.retry_after)
        clock.advance(locked.retry_after)

    assert waits == DEFAULT_SCHEDULE
    assert verified_counts == [5] + [1] * (len(DEFAULT_SCHEDULE) - 1)


def test_retry_after_counts_down(guard: LockoutGuard, clock: FakeClock) -> None:
    """retry_after is the time left until the lock ends."""
    fail_until_locked(guard)
    clock.advance(10.0)

    locked = fail(guard)

    assert locked is not None
    assert locked.retry_after == 20.0


def test_locked_skips_verification(guard: LockoutGuard) -> None:
    """While locked, login() raises AccountLocked without calling verify."""
    fail_until_locked(guard)
    calls = []

    with pytest.raises(AccountLocked):
        guard.login(ACCOUNT, IP, lambda: calls.append(1))

    assert calls == []


def fail_until_capped(guard: LockoutGuard, clock: FakeClock) -> tuple[int, AccountLocked]:
    """Fail, waiting out each delay, until 100 failures; return the count and the last lock."""
    verified_total = 0
    while True:
        verified, locked = fail_until_locked(guard)
        verified_total += verified
        if verified_total >= 100:
            return verified_total, locked
        clock.advance(locked.retry_after)


def test_cap_allows_100_failures(guard: LockoutGuard, clock: FakeClock) -> None:
    """Waiting out every delay, exactly 100 wrong passwords are verified."""
    verified_total, _ = fail_until_capped(guard, clock)

    assert verified_total == 100


def test_cap_locks_until_window(guard: LockoutGuard, clock: FakeClock) -> None:
    """After 100 failures the account is locked until a day after the last one."""
    _, capped = fail_until_capped(guard, clock)

    assert capped.retry_after == DAY
    assert capped.scope == "account"


def test_cap_outlasts_max_delay(guard: LockoutGuard, clock: FakeClock) -> None:
    """An hour after the 100th failure the account is still locked."""
    fail_until_capped(guard, clock)
    clock.advance(3600.0)

    locked = fail(guard)

    assert locked is not None
    assert locked.retry_after == DAY - 3600.0


def test_cap_expires_after_window(guard: LockoutGuard, clock: FakeClock) -> None:
    """The capped account is allowed again once its counter is a failure window old."""
    fail_until_capped(guard, clock)
    clock.advance(DAY)

    attempt = guard.check(ACCOUNT, IP)

    assert attempt.failures == 1


def test_admin_reset_unlocks(guard: LockoutGuard) -> None:
    """reset(account) clears the account counter, so the next attempt is verified."""
    fail_until_locked(guard, ip="198.51.100.1")

    guard.reset(ACCOUNT)

    assert fail(guard, ip="198.51.100.2") is None


def test_reset_with_ip_clears_pair(guard: LockoutGuard) -> None:
    """reset(account, ip=...) also clears that network's (account, IP) counter."""
    fail_until_locked(guard)

    guard.reset(ACCOUNT, ip=IP)

    assert fail(guard) is None


def test_reset_without_ip_keeps_pair(guard: LockoutGuard) -> None:
    """reset(account) alone leaves the (account, IP) counter locked."""
    fail_until_locked(guard)

    guard.reset(ACCOUNT)
    locked = fail(guard)

    assert locked is not None
    assert locked.scope == "account_ip"


def test_counter_expires_after_window(guard: LockoutGuard, clock: FakeClock) -> None:
    """Failures older than the failure window are forgotten."""
    for _ in range(3):
        fail(guard)
    clock.advance(DAY)

    attempt = guard.check(ACCOUNT, IP)

    assert attempt.failures == 1


# Success, cancel and reservations.


def test_success_resets_account(guard: LockoutGuard) -> None:
    """A success after four failures resets the count, so five more are verified."""
    for _ in range(4):
        fail(guard)

    succeed(guard)
    verified, _ = fail_until_locked(guard)

    assert verified == 5


def test_success_keeps_other_networks(store: KeyValueStore, clock: FakeClock) -> None:
    """The owner's success elsewhere leaves the attacker's (account, IP) counter locked."""
    policy = LockoutPolicy(account_threshold=10, account_ip_threshold=5)
    guard = LockoutGuard(store, policy, clock=clock)
    fail_until_locked(guard, ip="198.51.100.66")

    succeed(guard, ip=IP)
    locked = fail(guard, ip="198.51.100.66")

    assert locked is not None
    assert locked.scope == "account_ip"


def test_reservation_counts_before_verify(guard: LockoutGuard) -> None:
    """With four failures, one reserved attempt locks out a concurrent one."""
    for _ in range(4):
        fail(guard)

    reserved = guard.check(ACCOUNT, IP)

    assert reserved.failures == 5
    with pytest.raises(AccountLocked):
        guard.check(ACCOUNT, IP)


def test_success_frees_reservation(guard: LockoutGuard) -> None:
    """Recording a success releases the reservation, so the next attempt passes."""
    for _ in range(4):
        fail(guard)
    reserved = guard.check(ACCOUNT, IP)

    guard.record_success(reserved)
    attempt = guard.check(ACCOUNT, IP)

    assert attempt.failures == 1


def test_cancel_frees_without_reset(guard: LockoutGuard) -> None:
    """cancel() gives the reservation back but keeps the earlier failures."""
    for _ in range(4):
        fail(guard)
    reserved = guard.check(ACCOUNT, IP)

    guard.cancel(reserved)
    attempt = guard.check(ACCOUNT, IP)

    assert attempt.failures == 5


def test_failure_keeps_reservation(guard: LockoutGuard) -> None:
    """record_failure() keeps the reserved attempt as a failure."""
    reserved = guard.check(ACCOUNT, IP)

    guard.record_failure(reserved)
    attempt = guard.check(ACCOUNT, IP)

    assert attempt.failures == 2


def test_success_restores_ip_delay(store: KeyValueStore, clock: FakeClock) -> None:
    """A success takes its attempt off the IP counter and restores the earlier delay."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=2), clock=clock)
    fail(guard, "user-1")
    fail(guard, "user-2")
    clock.advance(30.0)

    succeed(guard, "user-3")
    attempt = guard.check("user-4", IP)

    assert attempt.failures == 1


def test_unreported_attempt_stays_counted(guard: LockoutGuard) -> None:
    """An attempt that is never recorded still counts as a failure."""
    for _ in range(5):
        guard.check(ACCOUNT, IP)

    with pytest.raises(AccountLocked):
        guard.check(ACCOUNT, IP)


def test_record_twice_rejected(memory_guard: LockoutGuard) -> None:
    """Recording one attempt twice raises ConfigurationError."""
    attempt = memory_guard.check(ACCOUNT, IP)
    memory_guard.record_failure(attempt)

    with pytest.raises(ConfigurationError) as caught:
        memory_guard.record_success(attempt)

    assert caught.value.setting == "attempt"
    assert attempt.state == "failed"


def test_login_returns_verify_result(memory_guard: LockoutGuard) -> None:
    """login() returns what verify returns, after recording a success."""
    result = memory_guard.login(ACCOUNT, IP, lambda: "needs-rehash")

    assert result == "needs-rehash"


def test_unexpected_error_counts_failure(guard: LockoutGuard) -> None:
    """An exception other than LoginFailed from verify propagates and counts as a failure."""

    def broken() -> None:
        raise RuntimeError("user database timed out")

    for _ in range(5):
        with pytest.raises(RuntimeError):
            guard.login(ACCOUNT, IP, broken)

    with pytest.raises(AccountLocked):
        guard.login(ACCOUNT, IP, broken)


# Scopes: trusted sources, spraying and IPv6 networks.


def test_trusted_ip_counts_account(store: KeyValueStore, clock: FakeClock) -> None:
    """A trusted network still counts failures against the account."""
    guard = LockoutGuard(store, trusted=["10.0.0.0/8"], clock=clock)

    verified, locked = fail_until_locked(guard, ip="10.1.2.3")

    assert verified == 5
    assert locked.scope == "account"


def test_trusted_ip_skips_ip_counter(store: KeyValueStore, clock: FakeClock) -> None:
    """Failures from a trusted network across many accounts never lock the network."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=3), trusted=["10.0.0.1"], clock=clock)

    outcomes = [fail(guard, f"user-{index}", "10.0.0.1") for index in range(10)]

    assert outcomes == [None] * 10


def test_untrusted_ip_counter_locks(store: KeyValueStore, clock: FakeClock) -> None:
    """The same failures from an untrusted address lock it after the IP threshold."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=3), trusted=["10.0.0.1"], clock=clock)

    outcomes = [fail(guard, f"user-{index}", "10.0.0.2") for index in range(4)]

    assert outcomes[:3] == [None] * 3
    assert outcomes[3] is not None
    assert outcomes[3].scope == "ip"


def test_trusted_device_skips_ip_counter(store: KeyValueStore, clock: FakeClock) -> None:
    """A trusted device id skips the IP counter like a trusted address."""
    policy = LockoutPolicy(ip_threshold=3)
    guard = LockoutGuard(store, policy, trusted=["device-7f3a"], clock=clock)

    outcomes = [fail(guard, f"user-{index}", IP, device="device-7f3a") for index in range(10)]

    assert outcomes == [None] * 10


def test_unknown_device_not_trusted(store: KeyValueStore, clock: FakeClock) -> None:
    """A device id that is not on the allowlist is counted per IP."""
    policy = LockoutPolicy(ip_threshold=3)
    guard = LockoutGuard(store, policy, trusted=["device-7f3a"], clock=clock)

    outcomes = [fail(guard, f"user-{index}", IP, device="device-0000") for index in range(4)]

    assert outcomes[3] is not None
    assert outcomes[3].scope == "ip"


def test_spraying_slowed_per_ip(guard: LockoutGuard) -> None:
    """One address trying one password on 101 accounts is slowed at the 101st."""
    outcomes = [fail(guard, f"user-{index}") for index in range(101)]

    assert outcomes[:100] == [None] * 100
    assert outcomes[100] is not None
    assert outcomes[100].scope == "ip"
    assert outcomes[100].retry_after == 30.0


def test_own_account_success_keeps_ip_count(store: KeyValueStore, clock: FakeClock) -> None:
    """A sprayer signing in to their own account does not clear the IP counter."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=3), clock=clock)
    fail(guard, "victim-1")
    fail(guard, "victim-2")

    succeed(guard, "attacker-own-account")
    fail(guard, "victim-3")
    locked = fail(guard, "victim-4")

    assert locked is not None
    assert locked.scope == "ip"


def test_distributed_guessing_locks_account(guard: LockoutGuard) -> None:
    """Wrong passwords from six addresses lock the account at the sixth."""
    outcomes = [fail(guard, ip=f"198.51.100.{index}") for index in range(1, 7)]

    assert outcomes[:5] == [None] * 5
    assert outcomes[5] is not None
    assert outcomes[5].scope == "account"


def test_ipv6_same_64_shares_counter(store: KeyValueStore, clock: FakeClock) -> None:
    """Addresses in one IPv6 /64 share the IP counter."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=2), clock=clock)
    fail(guard, "user-1", "2001:db8::1")
    fail(guard, "user-2", "2001:db8::ffff:1")

    locked = fail(guard, "user-3", "2001:db8::abcd")

    assert locked is not None
    assert locked.scope == "ip"


def test_ipv6_other_64_separate(store: KeyValueStore, clock: FakeClock) -> None:
    """An address in the next IPv6 /64 has its own IP counter."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=2), clock=clock)
    fail(guard, "user-1", "2001:db8::1")
    fail(guard, "user-2", "2001:db8::2")

    assert fail(guard, "user-3", "2001:db8:0:1::1") is None


def test_ipv6_prefix_configurable(store: KeyValueStore, clock: FakeClock) -> None:
    """With ipv6_prefix=128 every IPv6 address has its own counter."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=2, ipv6_prefix=128), clock=clock)
    fail(guard, "user-1", "2001:db8::1")
    fail(guard, "user-2", "2001:db8::1")

    assert fail(guard, "user-3", "2001:db8::2") is None


def test_ipv4_mapped_counts_as_ipv4(store: KeyValueStore, clock: FakeClock) -> None:
    """An IPv4-mapped IPv6 address shares the counter of its IPv4 address."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=2), clock=clock)
    fail(guard, "user-1", "192.0.2.5")
    fail(guard, "user-2", "::ffff:192.0.2.5")

    locked = fail(guard, "user-3", "192.0.2.5")

    assert locked is not None
    assert locked.scope == "ip"


def test_ipv6_zone_id_ignored(store: KeyValueStore, clock: FakeClock) -> None:
    """An IPv6 zone id does not give an address a separate counter."""
    guard = LockoutGuard(store, LockoutPolicy(ip_threshold=2), clock=clock)
    fail(guard, "user-1", "fe80::1%eth0")
    fail(guard, "user-2", "fe80::1%eth1")

    locked = fail(guard, "user-3", "fe80::1")

    assert locked is not None
    assert locked.scope == "ip"


# Concurrency.


def test_thread_race_exact_verifications(guard: LockoutGuard) -> None:
    """Of 500 concurrent wrong passwords, exactly five are verified and 495 locked."""
    barrier = threading.Barrier(RACE_THREADS)
    calls = Counter[str]()
    calls_lock = threading.Lock()

    def verify() -> None:
        with calls_lock:
            calls["verify"] += 1
        raise PasswordMismatch

    def attempt(index: int) -> str:
        if index < RACE_THREADS:
            barrier.wait(RACE_TIMEOUT)
        try:
            guard.login(ACCOUNT, IP, verify)
        except AccountLocked:
            return "locked"
        except PasswordMismatch:
            return "verified"
        return "succeeded"

    with ThreadPoolExecutor(max_workers=RACE_THREADS) as pool:
        outcomes = Counter(pool.map(attempt, range(RACE_ATTEMPTS), timeout=RACE_TIMEOUT))

    assert calls["verify"] == 5
    assert outcomes["verified"] == 5
    assert outcomes["locked"] == RACE_ATTEMPTS - 5


# Messages, logs and reprs.


def test_failure_messages_identical(memory_guard: LockoutGuard) -> None:
    """Unknown user, wrong password and locked account raise the same message."""

    def unknown_account() -> None:
        raise PasswordMismatch(reason="unknown_account")

    with pytest.raises(LoginFailed) as unknown:
        memory_guard.login("nobody@example.com", IP, unknown_account)
    with pytest.raises(LoginFailed) as wrong:
        memory_guard.login(ACCOUNT, IP, wrong_password)
    fail_until_locked(memory_guard)
    with pytest.raises(LoginFailed) as locked:
        memory_guard.login(ACCOUNT, IP, wrong_password)

    assert str(unknown.value) == str(wrong.value)
    assert str(locked.value) == str(wrong.value)
    assert isinstance(locked.value, AccountLocked)


def test_unknown_account_locks_alike(memory_guard: LockoutGuard) -> None:
    """An unknown account is locked after the same failures, for the same time, as a known one."""

    def unknown_account() -> None:
        raise PasswordMismatch(reason="unknown_account")

    unknown_outcomes: list[float | None] = []
    for _ in range(6):
        try:
            memory_guard.login("nobody@example.com", "198.51.100.9", unknown_account)
        except AccountLocked as locked:
            unknown_outcomes.append(locked.retry_after)
        except PasswordMismatch:
            unknown_outcomes.append(None)
    known_outcomes = [fail(memory_guard) for _ in range(6)]

    assert unknown_outcomes[:5] == [None] * 5
    assert known_outcomes[:5] == [None] * 5
    assert known_outcomes[5] is not None
    assert unknown_outcomes[5] == known_outcomes[5].retry_after


def test_hasher_pattern_end_to_end(memory_guard: LockoutGuard) -> None:
    """With a real PasswordHasher, unknown and known accounts fail and lock alike."""
    hasher = PasswordHasher(TESTS_ONLY)
    users = {ACCOUNT: hasher.hash(PASSWORD)}

    def sign_in(account: str, password: str) -> object:
        def verify() -> object:
            stored_hash = users.get(account)
            if stored_hash is None:
                hasher.dummy_verify(password)
            return hasher.verify(stored_hash, password)

        try:
            return memory_guard.login(account, IP, verify)
        except LoginFailed as failure:
            return failure

    unknown = [sign_in("nobody@example.com", "guess") for _ in range(6)]
    known = [sign_in(ACCOUNT, "guess") for _ in range(6)]

    assert [type(outcome) for outcome in unknown] == [type(outcome) for outcome in known]
    assert [str(outcome) for outcome in unknown] == [str(outcome) for outcome in known]
    assert isinstance(known[5], AccountLocked)


def test_hasher_pattern_success_resets(memory_guard: LockoutGuard) -> None:
    """With a real PasswordHasher, the correct password resets the account's failures."""
    hasher = PasswordHasher(TESTS_ONLY)
    stored_hash = hasher.hash(PASSWORD)
    for _ in range(4):
        with pytest.raises(PasswordMismatch):
            memory_guard.login(ACCOUNT, IP, lambda: hasher.verify(stored_hash, "guess"))

    result = memory_guard.login(ACCOUNT, IP, lambda: hasher.verify(stored_hash, PASSWORD))
    attempt = memory_guard.check(ACCOUNT, IP)

    assert result.needs_rehash is False
    assert attempt.failures == 1


def test_invalid_password_counts_failure(memory_guard: LockoutGuard) -> None:
    """An overlong password rejected by the hasher still counts as a failed attempt."""
    hasher = PasswordHasher(TESTS_ONLY)
    stored_hash = hasher.hash(PASSWORD)
    overlong = "x" * (hasher.max_length + 1)

    for _ in range(5):
        with pytest.raises(InvalidPassword):
            memory_guard.login(ACCOUNT, IP, lambda: hasher.verify(stored_hash, overlong))

    with pytest.raises(AccountLocked):
        memory_guard.check(ACCOUNT, IP)


def test_log_hides_account_and_password(
    memory_guard: LockoutGuard, caplog: pytest.LogCaptureFixture
) -> None:
    """Log lines name the account by a hash prefix, never by its id, address or password."""
    caplog.set_level(logging.DEBUG, logger="jivs_security.passwords")

    def verify() -> None:
        if not hmac.compare_digest(PASSWORD.encode(), b"the stored password"):
            raise PasswordMismatch

    for _ in range(6):
        with contextlib.suppress(LoginFailed):
            memory_guard.login(ACCOUNT, IP, verify)
    succeed(memory_guard, "bob@example.com")
    text = "\n".join(record.getMessage() for record in caplog.records)

    assert "alice" not in text
    assert "example.com" not in text
    assert IP not in text
    assert PASSWORD not in text


def test_log_one_line_per_login(
    memory_guard: LockoutGuard, caplog: pytest.LogCaptureFixture
) -> None:
    """Each login() writes one INFO line, and the lines name each outcome."""
    caplog.set_level(logging.INFO, logger="jivs_security.passwords")

    for _ in range(6):
        fail(memory_guard)
    messages = [record.getMessage() for record in caplog.records]

    assert len(messages) == 6
    assert all(record.levelno == logging.INFO for record in caplog.records)
    assert "reason=password_mismatch" in messages[0]
    assert "scope=account" in messages[5]


def test_log_names_unknown_account(
    memory_guard: LockoutGuard, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure for an unknown account is logged with its own reason."""
    caplog.set_level(logging.INFO, logger="jivs_security.passwords")

    def unknown_account() -> None:
        raise PasswordMismatch(reason="unknown_account")

    with pytest.raises(PasswordMismatch):
        memory_guard.login("nobody@example.com", IP, unknown_account)

    assert "reason=unknown_account" in caplog.records[0].getMessage()


def test_repr_hides_device_ids(memory_store: MemoryStore) -> None:
    """repr(guard) shows how many trusted entries there are, not the device ids."""
    guard = LockoutGuard(memory_store, trusted=["device-secret-7f3a", "10.0.0.0/8"])

    text = repr(guard)

    assert "device-secret-7f3a" not in text
    assert "trusted_devices=1" in text
    assert "trusted_networks=1" in text


def test_attempt_repr_hides_account(memory_guard: LockoutGuard) -> None:
    """repr(attempt) shows hash prefixes, not the account or the address."""
    attempt = memory_guard.check(ACCOUNT, IP)

    text = repr(attempt)

    assert ACCOUNT not in text
    assert IP not in text
    assert attempt.account_id in text


def test_locked_error_hides_account(memory_guard: LockoutGuard) -> None:
    """AccountLocked carries no account id in its message or fields."""
    _, locked = fail_until_locked(memory_guard)

    assert ACCOUNT not in str(locked)
    assert ACCOUNT not in repr(vars(locked))


# Input checks.


@pytest.mark.parametrize(
    ("account", "fragment"),
    [
        ("", "1 to 512 characters"),
        ("a" * 513, "got 513"),
        (42, "must be a string"),
        ("user\udc80", "lone surrogate"),
    ],
)
def test_invalid_account_rejected(
    memory_guard: LockoutGuard, account: object, fragment: str
) -> None:
    """An empty, overlong, non-string or broken account raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        memory_guard.check(account, IP)  # type: ignore[arg-type]

    assert caught.value.setting == "account"
    assert fragment in str(caught.value)


def test_long_account_not_echoed(memory_guard: LockoutGuard) -> None:
    """The error for an overlong account does not repeat the account."""
    account = "secret-looking-" * 40

    with pytest.raises(ConfigurationError) as caught:
        memory_guard.check(account, IP)

    assert "secret-looking" not in str(caught.value)


@pytest.mark.parametrize("ip", ["", "999.1.1.1", "203.0.113.7 ", "localhost", "01.2.3.4"])
def test_invalid_ip_rejected(memory_guard: LockoutGuard, ip: str) -> None:
    """Text that is not an IP address raises ConfigurationError naming the value."""
    with pytest.raises(ConfigurationError) as caught:
        memory_guard.check(ACCOUNT, ip)

    assert caught.value.setting == "ip"
    assert repr(ip) in str(caught.value)


def test_overlong_ip_truncated(memory_guard: LockoutGuard) -> None:
    """An overlong ip is rejected and shown cut to 50 characters."""
    with pytest.raises(ConfigurationError) as caught:
        memory_guard.check(ACCOUNT, "1" * 5000)

    assert "1" * 51 not in str(caught.value)
    assert "1" * 50 + "..." in str(caught.value)


def test_non_string_ip_rejected(memory_guard: LockoutGuard) -> None:
    """An ip that is not a string raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        memory_guard.check(ACCOUNT, None)  # type: ignore[arg-type]

    assert caught.value.setting == "ip"


def test_overlong_device_rejected(memory_guard: LockoutGuard) -> None:
    """A device id over 256 characters raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        memory_guard.check(ACCOUNT, IP, device="d" * 257)

    assert caught.value.setting == "device"


def test_trusted_plain_string_rejected(memory_store: MemoryStore) -> None:
    """A single string as trusted is rejected instead of read letter by letter."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutGuard(memory_store, trusted="10.0.0.1")

    assert caught.value.setting == "trusted"


def test_trusted_everything_rejected(memory_store: MemoryStore) -> None:
    """A trusted network that contains every address is rejected."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutGuard(memory_store, trusted=["::/0"])

    assert "every address" in str(caught.value)


def test_store_error_policy_checked(memory_store: MemoryStore) -> None:
    """on_store_error accepts only 'closed' and 'open'."""
    with pytest.raises(ConfigurationError) as caught:
        LockoutGuard(memory_store, on_store_error="ignore")  # type: ignore[arg-type]

    assert caught.value.setting == "on_store_error"


def test_bad_clock_rejected(memory_store: MemoryStore) -> None:
    """A clock that returns NaN raises ConfigurationError instead of storing it."""
    guard = LockoutGuard(memory_store, clock=lambda: float("nan"))

    with pytest.raises(ConfigurationError) as caught:
        guard.check(ACCOUNT, IP)

    assert caught.value.setting == "clock"


def test_foreign_attempt_rejected(memory_guard: LockoutGuard) -> None:
    """record_failure() with something other than a LoginAttempt raises ConfigurationError."""
    with pytest.raises(ConfigurationError):
        memory_guard.record_failure("attempt")  # type: ignore[arg-type]


# The scripts themselves.


def test_reserve_rejects_corrupt_counter(store: KeyValueStore) -> None:
    """The reserve script raises StoreError on a counter value it cannot parse."""
    store.set("counter", b"not a counter", ttl=60)

    with pytest.raises(StoreError):
        store.run_script(RESERVE, ["counter"], [repr(START), 86_400_000, 30.0, 3600.0, 100, 5])


def test_release_rejects_corrupt_counter(store: KeyValueStore) -> None:
    """The release script raises StoreError on a counter value it cannot parse."""
    store.set("counter", b"12", ttl=60)

    with pytest.raises(StoreError):
        store.run_script(RELEASE, ["counter"], [repr(START), repr(START), 86_400_000, "0", ""])
