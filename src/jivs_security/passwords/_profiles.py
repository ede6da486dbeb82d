"""Argon2id cost profiles from the standards, and calibration on this hardware."""

from __future__ import annotations

import logging
import math
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

import argon2
from argon2.low_level import hash_secret

from jivs_security.errors import ConfigurationError

__all__ = [
    "DEFAULT_PROFILE",
    "OWASP_MINIMUM",
    "RFC_9106_HIGH_MEMORY",
    "RFC_9106_LOW_MEMORY",
    "TESTS_ONLY",
    "HashProfile",
    "calibrate",
]

logger = logging.getLogger("jivs_security.passwords")

# Argon2 limits from RFC 9106, section 3.1: at least 8 KiB of memory per
# lane, 1 to 2^24 - 1 lanes, and 32-bit memory and pass counts.
MIN_MEMORY_KIB_PER_LANE: Final = 8
MAX_PARALLELISM: Final = 2**24 - 1
MAX_UINT32: Final = 2**32 - 1

# RFC 9106, section 3.1 recommends a 16-byte salt for password hashing. A
# 16-byte tag makes a random match 2^-128 likely. The upper bound of 64 bytes
# keeps a stored hash short enough for the length check in
# parse_stored_hash().
_MIN_SALT_BYTES: Final = 16
_MIN_TAG_BYTES: Final = 16
_MAX_SALT_OR_TAG_BYTES: Final = 64


def check_int(
    setting: str, value: object, minimum: int, maximum: int | None, *, note: str = ""
) -> None:
    within = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= minimum
        and (maximum is None or value <= maximum)
    )
    if not within:
        expected = f"an integer from {minimum}" + ("" if maximum is None else f" to {maximum}")
        if note:
            expected = f"{expected} ({note})"
        raise setting_error(setting, value, expected)


def setting_error(setting: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}",
        setting=setting,
        expected=expected,
        value=value,
    )


@dataclass(frozen=True, kw_only=True)
class HashProfile:
    """Argon2id cost parameters with a name and the standard they come from.

    ``memory_kib`` is the memory per hash in KiB, ``time_cost`` the number of
    passes over it and ``parallelism`` the number of lanes. ``hash_len`` and
    ``salt_len`` are in bytes (16 to 64 each). ``source`` cites the standard
    or measurement behind the numbers.
    """

    name: str
    memory_kib: int
    time_cost: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise setting_error("name", self.name, "a non-empty string")
        if not isinstance(self.source, str) or not self.source:
            raise setting_error("source", self.source, "a non-empty string citing the standard")
        check_int("parallelism", self.parallelism, 1, MAX_PARALLELISM)
        check_int(
            "memory_kib",
            self.memory_kib,
            MIN_MEMORY_KIB_PER_LANE * self.parallelism,
            MAX_UINT32,
            note="Argon2 needs at least 8 KiB per lane",
        )
        check_int("time_cost", self.time_cost, 1, MAX_UINT32)
        check_int("hash_len", self.hash_len, _MIN_TAG_BYTES, _MAX_SALT_OR_TAG_BYTES)
        check_int("salt_len", self.salt_len, _MIN_SALT_BYTES, _MAX_SALT_OR_TAG_BYTES)

    def describe(self) -> str:
        """Return the parameters in PHC notation, such as ``m=19456,t=2,p=1``."""
        return f"m={self.memory_kib},t={self.time_cost},p={self.parallelism}"


OWASP_MINIMUM: Final = HashProfile(
    name="owasp-minimum",
    memory_kib=19 * 1024,
    time_cost=2,
    parallelism=1,
    source=(
        "OWASP Password Storage Cheat Sheet: Argon2id with a minimum of 19 MiB of memory, "
        "an iteration count of 2 and 1 degree of parallelism"
    ),
)

RFC_9106_LOW_MEMORY: Final = HashProfile(
    name="rfc9106-low-memory",
    memory_kib=2**16,
    time_cost=3,
    parallelism=4,
    source=(
        "RFC 9106, section 4, second recommended option: Argon2id with t=3, p=4, "
        "m=2^16 KiB (64 MiB), a 128-bit salt and a 256-bit tag"
    ),
)

RFC_9106_HIGH_MEMORY: Final = HashProfile(
    name="rfc9106-high-memory",
    memory_kib=2**21,
    time_cost=1,
    parallelism=4,
    source=(
        "RFC 9106, section 4, first recommended option: Argon2id with t=1, p=4, "
        "m=2^21 KiB (2 GiB), a 128-bit salt and a 256-bit tag"
    ),
)

TESTS_ONLY: Final = HashProfile(
    name="tests-only-insecure",
    memory_kib=64,
    time_cost=1,
    parallelism=1,
    source=(
        "No standard: a cost near the Argon2 minimum so that test suites run fast. "
        "Never store real passwords with it."
    ),
)

#: The profile a :class:`PasswordHasher` uses unless given another.
DEFAULT_PROFILE: Final = OWASP_MINIMUM


def calibrate(
    target_ms: float,
    *,
    memory_kib: int = OWASP_MINIMUM.memory_kib,
    parallelism: int = 1,
    max_time_cost: int = 64,
    min_memory_kib: int | None = None,
    rounds: int = 3,
    measure: Callable[[HashProfile], float] | None = None,
) -> HashProfile:
    """Measure Argon2id on this machine and return the costliest profile within ``target_ms``.

    This follows the procedure of RFC 9106, section 4: with memory and lanes
    fixed, pick the largest number of passes ``t`` (at most
    ``max_time_cost``) whose hash time does not exceed the target. When even
    ``t=1`` takes longer, memory is halved, but never below
    ``min_memory_kib``, which defaults to ``memory_kib``, so memory stays as
    given unless the caller allows less. If no allowed memory size meets
    the target, :class:`~jivs_security.errors.ConfigurationError` is raised.

    Each candidate is timed as the median of ``rounds`` hashes. ``measure``
    replaces that timing: it receives a profile and returns milliseconds. The
    result is only as good as the measurement, so calibrate on the hardware
    and under the load that will serve sign-ins.
    """
    if isinstance(target_ms, bool) or not isinstance(target_ms, int | float):
        raise setting_error("target_ms", target_ms, "a finite number of milliseconds above 0")
    if not math.isfinite(target_ms) or target_ms <= 0:
        raise setting_error("target_ms", target_ms, "a finite number of milliseconds above 0")
    check_int("max_time_cost", max_time_cost, 1, MAX_UINT32)
    check_int("rounds", rounds, 1, None)
    floor = memory_kib if min_memory_kib is None else min_memory_kib
    candidate = HashProfile(
        name=f"calibrated-{target_ms:g}ms",
        memory_kib=memory_kib,
        time_cost=1,
        parallelism=parallelism,
        source="set below once the time cost is known",
    )
    check_int("min_memory_kib", floor, MIN_MEMORY_KIB_PER_LANE * parallelism, memory_kib)

    timings: dict[tuple[int, int], float] = {}

    def time_ms(memory: int, passes: int) -> float:
        if (memory, passes) not in timings:
            profile = replace(candidate, memory_kib=memory, time_cost=passes)
            timings[memory, passes] = (
                _median_hash_ms(profile, rounds) if measure is None else measure(profile)
            )
        return timings[memory, passes]

    memory = memory_kib
    while time_ms(memory, 1) > target_ms:
        if memory == floor:
            raise ConfigurationError(
                f"Argon2id with m={memory} KiB, t=1, p={parallelism} takes "
                f"{time_ms(memory, 1):.1f} ms here, above target_ms={target_ms:g}. "
                "Raise target_ms, or pass a lower min_memory_kib to allow less memory.",
                setting="target_ms",
                expected=f"at least {time_ms(memory, 1):.1f} ms at m={memory} KiB",
                value=target_ms,
            )
        memory = max(floor, memory // 2)

    passes = _largest_fitting(lambda t: time_ms(memory, t) <= target_ms, max_time_cost)
    result = replace(
        candidate,
        memory_kib=memory,
        time_cost=passes,
        source=(
            f"Calibrated with the procedure of RFC 9106, section 4: the largest t "
            f"(at most {max_time_cost}) whose hash took at most {target_ms:g} ms at "
            f"m={memory} KiB and p={parallelism}. Measured "
            f"{time_ms(memory, passes):.1f} ms."
        ),
    )
    logger.info(
        "calibrated Argon2id profile %s: %s, %.1f ms for a target of %g ms",
        result.name,
        result.describe(),
        time_ms(memory, passes),
        target_ms,
    )
    return result


def _largest_fitting(fits: Callable[[int], bool], maximum: int) -> int:
    """Return the largest ``t`` in 1..maximum with ``fits(t)``, given that ``fits(1)`` is true.

    Doubling finds an upper bound and bisection narrows it, so a target of
    ``t`` passes costs about ``2 log2(t)`` measurements rather than ``t``.
    """
    best, beyond = 1, maximum + 1
    passes = 2
    while passes <= maximum:
        if not fits(passes):
            beyond = passes
            break
        best = passes
        passes *= 2
    while beyond - best > 1:
        middle = (best + beyond) // 2
        if fits(middle):
            best = middle
        else:
            beyond = middle
    return best


def _median_hash_ms(profile: HashProfile, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        password = secrets.token_bytes(16)
        salt = secrets.token_bytes(profile.salt_len)
        started = time.perf_counter()
        hash_secret(
            password,
            salt,
            time_cost=profile.time_cost,
            memory_cost=profile.memory_kib,
            parallelism=profile.parallelism,
            hash_len=profile.hash_len,
            type=argon2.Type.ID,
        )
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)
