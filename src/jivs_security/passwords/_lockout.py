"""Sign-in throttling: progressive delays per account, per (account, IP) and per IP.

:class:`LockoutGuard` counts failed sign-ins in a
:class:`~jivs_security.stores.KeyValueStore`, one atomic script per attempt,
and raises :class:`~jivs_security.errors.AccountLocked` while a counter is
locked. :class:`LockoutPolicy` contains the thresholds and delays.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable, Collection
from typing import Final, Literal, TypeVar

from jivs_security.errors import (
    AccountLocked,
    ConfigurationError,
    LoginFailed,
    StoreUnavailable,
)
from jivs_security.passwords._lockout_policy import DEFAULT_LOCKOUT_POLICY, SCOPES, LockoutPolicy
from jivs_security.passwords._lockout_scripts import RELEASE, RESERVE
from jivs_security.stores import KeyValueStore

__all__ = ["DEFAULT_LOCKOUT_POLICY", "LockoutGuard", "LockoutPolicy", "LoginAttempt"]

logger = logging.getLogger("jivs_security.passwords")

T = TypeVar("T")

# Every lockout key carries this Redis Cluster hash tag, because one script
# touches the account key and the IP key of an attempt, and those have no
# natural tag in common.
KEY_PREFIX: Final = "lock:{jivs-lockout}:"

# Characters. An e-mail address has at most 254: the 256-octet path limit of
# RFC 5321, section 4.5.3.1.3, less the angle brackets. The bound leaves room
# for other identifiers and keeps hashing cheap for hostile input.
MAX_ACCOUNT_LENGTH: Final = 512
MAX_DEVICE_LENGTH: Final = 256
# The longest textual IPv6 address with an IPv4 tail and a zone id fits well
# within this; longer input is rejected before it is parsed.
MAX_IP_LENGTH: Final = 100

# Hex digits of SHA-256 kept in key names (128 bits) and in log lines.
_KEY_DIGEST_HEX: Final = 32
_LOG_ID_HEX: Final = 12

# Seconds between two warnings about attempts let through uncounted while
# the store is unavailable; the next warning gives the number in between.
_OUTAGE_WARNING_INTERVAL: Final = 60.0


def _digest(label: str, *parts: bytes) -> str:
    # Length-prefixed parts, so ("ab", "c") and ("a", "bc") never collide.
    hasher = hashlib.sha256(label.encode("ascii"))
    for part in parts:
        hasher.update(len(part).to_bytes(4, "big"))
        hasher.update(part)
    return hasher.hexdigest()[:_KEY_DIGEST_HEX]


class LoginAttempt:
    """A sign-in attempt reserved by :meth:`LockoutGuard.check`, to be recorded once.

    ``account_id`` and ``ip_id`` are short SHA-256 prefixes for log lines,
    never the account or the address. ``trusted`` is true when the address
    or device is on the guard's allowlist, and ``counted`` is false when the
    store was unavailable and the guard lets attempts through uncounted.
    """

    __slots__ = (
        "_keys",
        "_previous",
        "_reserved_at",
        "_state",
        "account_id",
        "counted",
        "failures",
        "ip_id",
        "trusted",
    )

    def __init__(
        self,
        *,
        keys: tuple[str, ...],
        previous: tuple[str, ...],
        reserved_at: str,
        account_id: str,
        ip_id: str,
        trusted: bool,
        counted: bool,
        failures: int,
    ) -> None:
        self._keys = keys
        self._previous = previous
        self._reserved_at = reserved_at
        self._state = "reserved"
        self.account_id = account_id
        self.ip_id = ip_id
        self.trusted = trusted
        self.counted = counted
        #: Failures on the account counter, this attempt included; 0 when not counted.
        self.failures = failures

    def __repr__(self) -> str:
        return (
            f"LoginAttempt(account_id={self.account_id!r}, ip_id={self.ip_id!r}, "
            f"trusted={self.trusted}, counted={self.counted}, state={self._state!r})"
        )

    @property
    def state(self) -> str:
        """``"reserved"`` until recorded, then ``"failed"``, ``"succeeded"`` or ``"cancelled"``."""
        return self._state


class LockoutGuard:
    """Slows online password guessing with counters in a shared key-value store.

    Every attempt is counted *before* the password is checked::

        attempt = guard.check(account, ip)   # raises AccountLocked, reserves nothing
        try:
            hasher.verify(stored_hash, password)
        except PasswordMismatch:
            guard.record_failure(attempt)
            raise
        guard.record_success(attempt)

    or in one call, ``guard.login(account, ip, verify)``. :meth:`check` runs
    one atomic script that reads the account, (account, IP) and IP counters
    and, unless one of them is locked, adds the attempt to each as a
    failure. A reserved attempt is therefore already a failure while the
    password is verified, so concurrent requests cannot slip past the
    threshold: with threshold ``T`` and any number of concurrent attempts,
    at most ``T`` reach verification before the first delay. A success
    takes the reservation back and resets the account counter and the
    (account, IP) counter of that network. :meth:`LockoutPolicy` defines
    when a counter is locked. An attempt that is never recorded stays
    counted as a failure.

    Unknown accounts must pass through the guard exactly like known ones,
    with a dummy hash verification, so that neither the time taken nor the
    lockout reveals which accounts exist::

        def verify() -> VerifyResult:
            user = users.find(account)
            if user is None:
                # Takes as long as a real verify, then raises
                # PasswordMismatch(reason="unknown_account").
                hasher.dummy_verify(password)
            return hasher.verify(user.password_hash, password)

        result = guard.login(account, ip, verify)

    Unknown user, wrong password and locked account all raise
    :class:`~jivs_security.errors.LoginFailed` subclasses with the same
    message. Only the server-side log line distinguishes them. Pass the
    account's canonical id, the same one the lookup uses: if the lookup
    ignores case but the guard is given the raw input, each spelling gets
    its own counter.

    ``trusted`` lists IP addresses or networks (``"10.0.0.0/8"``) and device
    ids (any other string, compared with the ``device`` argument). A
    trusted attempt skips the (account, IP) and IP counters but still counts
    against the account. ``on_store_error="closed"`` (the default) lets
    :class:`~jivs_security.errors.StoreUnavailable` propagate from
    :meth:`check`, so no login succeeds while the counters cannot be read;
    ``"open"`` lets the attempt through uncounted and logs a warning.
    ``clock`` returns seconds since the Unix epoch, the same on every host.

    Keys are ``lock:{jivs-lockout}:<scope>:<SHA-256 prefix>``: accounts and
    addresses are hashed, and every key lives at most ``failure_window``
    seconds after its last failure. The fixed hash tag puts all lockout keys
    of a Redis Cluster in one slot, because one script touches an account
    key and an IP key. A :class:`~jivs_security.stores.RedisStore` prefix
    must not contain ``{``, or it would become the tag.
    """

    def __init__(
        self,
        store: KeyValueStore,
        policy: LockoutPolicy = DEFAULT_LOCKOUT_POLICY,
        *,
        trusted: Collection[str] = (),
        on_store_error: Literal["closed", "open"] = "closed",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(policy, LockoutPolicy):
            raise ConfigurationError(
                f"policy must be a LockoutPolicy, got {type(policy).__name__}",
                setting="policy",
                expected="a LockoutPolicy",
            )
        if on_store_error not in ("closed", "open"):
            raise ConfigurationError(
                f"on_store_error must be 'closed' or 'open', got {on_store_error!r}",
                setting="on_store_error",
                expected="'closed' or 'open'",
                value=on_store_error,
            )
        self._store = store
        self._policy = policy
        self._fail_open = on_store_error == "open"
        self._clock = clock
        self._networks, self._devices = _parse_trusted(trusted)
        self._outage = _OutageWarning()

        # The parts of both scripts' arguments that depend only on the policy.
        self._window_ms = math.ceil(policy.failure_window * 1000)
        self._limits = (
            self._window_ms,
            float(policy.base_delay),
            float(policy.max_delay),
            policy.max_failures,
        )

    def __repr__(self) -> str:
        # Device ids work like shared secrets, so only the counts are shown.
        return (
            f"LockoutGuard(store={self._store!r}, policy={self._policy!r}, "
            f"trusted_networks={len(self._networks)}, trusted_devices={len(self._devices)}, "
            f"on_store_error={'open' if self._fail_open else 'closed'!r})"
        )

    @property
    def policy(self) -> LockoutPolicy:
        """The thresholds and delays this guard applies."""
        return self._policy

    def check(self, account: str, ip: str, *, device: str | None = None) -> LoginAttempt:
        """Reserve one attempt for ``account`` from ``ip``, or raise if it must wait.

        Raises :class:`~jivs_security.errors.AccountLocked`, with the longest
        wait of the locked counters and its scope, without reserving
        anything. Invalid input raises
        :class:`~jivs_security.errors.ConfigurationError` before the store is
        used. Costs one store round trip.
        """
        account_bytes = _account_bytes(account)
        address = _parse_ip(ip)
        network = _network_of(address, self._policy.ipv6_prefix)
        trusted = self._is_trusted(address, device)

        account_digest = _digest("account", account_bytes)
        ip_digest = _digest("ip", network.encode("ascii"))
        keys = [f"{KEY_PREFIX}a:{account_digest}"]
        thresholds = [self._policy.account_threshold]
        if not trusted:
            pair_digest = _digest("account_ip", account_bytes, network.encode("ascii"))
            keys += [f"{KEY_PREFIX}ai:{pair_digest}", f"{KEY_PREFIX}ip:{ip_digest}"]
            thresholds += [self._policy.account_ip_threshold, self._policy.ip_threshold]

        account_id = account_digest[:_LOG_ID_HEX]
        ip_id = ip_digest[:_LOG_ID_HEX]
        now = repr(self._now())
        try:
            reply = self._store.run_script(RESERVE, keys, [now, *self._limits, *thresholds])
        except StoreUnavailable:
            if not self._fail_open:
                raise
            self._outage.warn(account_id, ip_id)
            return LoginAttempt(
                keys=(),
                previous=(),
                reserved_at=now,
                account_id=account_id,
                ip_id=ip_id,
                trusted=trusted,
                counted=False,
                failures=0,
            )

        if int(reply[0]) == 0:
            scope = SCOPES[int(reply[1]) - 1]
            retry_after = int(reply[2]) / 1000
            logger.info(
                "login locked account=%s ip=%s scope=%s retry_after=%.3f",
                account_id,
                ip_id,
                scope,
                retry_after,
            )
            raise AccountLocked(retry_after=retry_after, scope=scope)

        previous = tuple(_text(value) for value in reply[2::2])
        return LoginAttempt(
            keys=tuple(keys),
            previous=previous,
            reserved_at=now,
            account_id=account_id,
            ip_id=ip_id,
            trusted=trusted,
            counted=True,
            failures=int(reply[1]),
        )

    def record_failure(self, attempt: LoginAttempt, *, reason: str = "password_mismatch") -> None:
        """Record that the password of ``attempt`` was wrong; no store round trip.

        The reservation already counts as a failure, so this only closes the
        attempt and logs ``reason``: ``"password_mismatch"``,
        ``"unknown_account"``, or in :meth:`login` the class name of an
        unexpected exception.
        """
        self._finish(attempt, "failed")
        logger.info(
            "login failed account=%s ip=%s reason=%s failures=%d",
            attempt.account_id,
            attempt.ip_id,
            reason,
            attempt.failures,
        )

    def record_success(self, attempt: LoginAttempt) -> None:
        """Record a correct password: release the reservation and reset the account's counters.

        The account counter and the (account, IP) counter of this network
        are deleted, and the IP counter loses this attempt. Costs one store
        round trip. If the store is unavailable, the reservation stays
        counted as a failure and a warning is logged, but nothing is raised,
        because the password was already verified within the limits.
        """
        self._finish(attempt, "succeeded")
        self._release(attempt, reset=True)
        logger.info("login succeeded account=%s ip=%s", attempt.account_id, attempt.ip_id)

    def cancel(self, attempt: LoginAttempt) -> None:
        """Take ``attempt`` back without a verdict, when its password was never checked.

        Use this when verification itself failed (the user database was
        unavailable, for example). Every counter loses this attempt and no
        counter is reset. Costs one store round trip; a store error is
        logged, not raised.
        """
        self._finish(attempt, "cancelled")
        self._release(attempt, reset=False)
        logger.info("login cancelled account=%s ip=%s", attempt.account_id, attempt.ip_id)

    def login(
        self, account: str, ip: str, verify: Callable[[], T], *, device: str | None = None
    ) -> T:
        """Reserve an attempt, call ``verify`` and record the outcome; return what it returns.

        ``verify`` raises :class:`~jivs_security.errors.LoginFailed` (such as
        :class:`~jivs_security.errors.PasswordMismatch`) for a wrong password
        or an unknown account; the attempt is recorded as a failure and the
        error propagates. Any other exception from ``verify`` is recorded as
        a failure too, because the guard cannot know whether the password was
        compared before it was raised. Where verification demonstrably did
        not run, call :meth:`check` and :meth:`cancel` directly. Raises
        :class:`~jivs_security.errors.AccountLocked` without calling
        ``verify`` while a counter is locked.
        """
        attempt = self.check(account, ip, device=device)
        try:
            result = verify()
        except BaseException as exc:
            reason = exc.reason if isinstance(exc, LoginFailed) else type(exc).__name__
            self.record_failure(attempt, reason=reason)
            raise
        self.record_success(attempt)
        return result

    def reset(self, account: str, *, ip: str | None = None) -> None:
        """Clear the account's failure counter, and with ``ip`` its counter for that network.

        For administrators who unlock an account by hand. The (account, IP)
        counters of other networks are not listed anywhere, so they remain
        until they expire.
        """
        account_bytes = _account_bytes(account)
        account_digest = _digest("account", account_bytes)
        keys = [f"{KEY_PREFIX}a:{account_digest}"]
        if ip is not None:
            network = _network_of(_parse_ip(ip), self._policy.ipv6_prefix)
            pair_digest = _digest("account_ip", account_bytes, network.encode("ascii"))
            keys.append(f"{KEY_PREFIX}ai:{pair_digest}")
        self._store.delete(*keys)
        logger.info("lockout reset account=%s", account_digest[:_LOG_ID_HEX])

    def reset_ip(self, ip: str) -> None:
        """Clear the failure counter of the network that ``ip`` belongs to."""
        network = _network_of(_parse_ip(ip), self._policy.ipv6_prefix)
        ip_digest = _digest("ip", network.encode("ascii"))
        self._store.delete(f"{KEY_PREFIX}ip:{ip_digest}")
        logger.info("lockout reset ip=%s", ip_digest[:_LOG_ID_HEX])

    def _now(self) -> float:
        now = self._clock()
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise ConfigurationError(
                f"clock returned {now!r}; it must return seconds since the epoch as a finite float",
                setting="clock",
                expected="a callable returning a finite float",
                value=now,
            )
        return float(now)

    def _is_trusted(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, device: str | None
    ) -> bool:
        if device is not None:
            if not isinstance(device, str) or not 1 <= len(device) <= MAX_DEVICE_LENGTH:
                raise ConfigurationError(
                    f"device must be a string of 1 to {MAX_DEVICE_LENGTH} characters",
                    setting="device",
                    expected=f"a string of 1 to {MAX_DEVICE_LENGTH} characters",
                )
            if _device_digest(device) in self._devices:
                return True
        return any(address in network for network in self._networks)

    def _finish(self, attempt: LoginAttempt, state: str) -> None:
        if not isinstance(attempt, LoginAttempt):
            raise ConfigurationError(
                f"attempt must be the LoginAttempt that check() returned, "
                f"got {type(attempt).__name__}",
                setting="attempt",
                expected="a LoginAttempt from check()",
            )
        if attempt._state != "reserved":
            raise ConfigurationError(
                f"this attempt was already recorded as {attempt._state}; "
                "call check() again for a new attempt",
                setting="attempt",
                expected="an attempt not yet recorded",
            )
        attempt._state = state

    def _release(self, attempt: LoginAttempt, *, reset: bool) -> None:
        if not attempt.counted:
            return
        args: list[str | int | float] = [
            repr(self._now()),
            attempt._reserved_at,
            self._window_ms,
            "1" if reset else "0",
            *attempt._previous,
        ]
        try:
            self._store.run_script(RELEASE, attempt._keys, args)
        except StoreUnavailable as exc:
            logger.warning(
                "lockout release failed account=%s ip=%s error=%s; the attempt stays "
                "counted as a failure",
                attempt.account_id,
                attempt.ip_id,
                type(exc).__name__,
            )


def _text(value: object) -> str:
    # redis-py returns Lua strings as bytes; the memory half returns bytes too.
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _device_digest(device: str) -> bytes:
    return hashlib.sha256(device.encode("utf-8", "surrogatepass")).digest()


def _account_bytes(account: object) -> bytes:
    """Return ``account`` as UTF-8 after checking it; the error never shows the account."""
    if not isinstance(account, str):
        raise ConfigurationError(
            f"account must be a string, got {type(account).__name__}",
            setting="account",
            expected="a string",
        )
    if not 1 <= len(account) <= MAX_ACCOUNT_LENGTH:
        raise ConfigurationError(
            f"account must have 1 to {MAX_ACCOUNT_LENGTH} characters, got {len(account)}; "
            "reject longer input before the sign-in starts",
            setting="account",
            expected=f"a string of 1 to {MAX_ACCOUNT_LENGTH} characters",
        )
    try:
        return account.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(
            "account is not valid Unicode text: it contains a lone surrogate code point",
            setting="account",
            expected="valid Unicode text",
        ) from None


def _parse_ip(ip: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Return ``ip`` as an address; IPv4-mapped IPv6 becomes IPv4 and a zone id is dropped."""
    if not isinstance(ip, str):
        raise ConfigurationError(
            f"ip must be a string such as '203.0.113.7' or '2001:db8::1', got {type(ip).__name__}",
            setting="ip",
            expected="an IPv4 or IPv6 address as a string",
        )
    displayed = ip if len(ip) <= 50 else ip[:50] + "..."
    try:
        if len(ip) > MAX_IP_LENGTH:
            raise ValueError(ip)
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ConfigurationError(
            f"ip {displayed!r} is not a valid IPv4 or IPv6 address; pass the client address "
            "as the server sees it, such as '203.0.113.7' or '2001:db8::1'",
            setting="ip",
            expected="an IPv4 or IPv6 address as a string",
            value=displayed,
        ) from None
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.scope_id is not None:
        return ipaddress.IPv6Address(int(address))
    return address


def _network_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address, ipv6_prefix: int) -> str:
    """Return the text of the network that ``address`` is counted under.

    An IPv6 network is written as its first address in 32 hex digits and its
    prefix length, which is cheaper to build than an IPv6Network.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    host_bits = 128 - ipv6_prefix
    return f"{int(address) >> host_bits << host_bits:032x}/{ipv6_prefix}"


def _parse_trusted(
    trusted: Collection[str],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], frozenset[bytes]]:
    """Split the allowlist into IP networks and SHA-256 digests of device ids."""
    if isinstance(trusted, str | bytes):
        raise ConfigurationError(
            "trusted must be a list of addresses, networks or device ids, not a single string; "
            "wrap it in a list",
            setting="trusted",
            expected="a collection of strings",
        )
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    devices: set[bytes] = set()
    for entry in trusted:
        if not isinstance(entry, str) or not 1 <= len(entry) <= MAX_DEVICE_LENGTH:
            raise ConfigurationError(
                f"each trusted entry must be a string of 1 to {MAX_DEVICE_LENGTH} characters",
                setting="trusted",
                expected="IP addresses, IP networks or device ids",
            )
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            devices.add(_device_digest(entry))
            continue
        if network.prefixlen == 0:
            raise ConfigurationError(
                f"trusted network {entry!r} contains every address, which would turn off "
                "per-IP counting; raise ip_threshold in the policy instead",
                setting="trusted",
                expected="networks with a prefix length above 0",
                value=entry,
            )
        networks.append(network)
    return tuple(networks), frozenset(devices)


class _OutageWarning:
    """Logs attempts let through uncounted, at most once per interval, with a count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_warning: float | None = None
        self._suppressed = 0

    def warn(self, account_id: str, ip_id: str) -> None:
        with self._lock:
            now = time.monotonic()
            if (
                self._last_warning is not None
                and now - self._last_warning < _OUTAGE_WARNING_INTERVAL
            ):
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._last_warning = now
        logger.warning(
            "lockout store unavailable; login attempt allowed without counting "
            "(on_store_error='open') account=%s ip=%s, %d more since the last warning",
            account_id,
            ip_id,
            suppressed,
        )
