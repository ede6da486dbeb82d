"""Functions that child processes run to race wrong passwords against one account in Redis.

They live in a plain module directly in tests/, not in a test file, because
a process started with the ``spawn`` method must import its target by
module name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from jivs_security.errors import AccountLocked, PasswordMismatch
from jivs_security.passwords._lockout import LockoutGuard, LockoutPolicy
from jivs_security.stores import RedisStore

# Seconds a worker waits for the other workers before it gives up.
BARRIER_TIMEOUT = 30.0

# Outcomes of one login() call with a wrong password.
VERIFIED = "verified"
LOCKED = "locked"


def race_wrong_passwords(
    *,
    url: str,
    prefix: str,
    calls_key: str,
    policy: LockoutPolicy,
    account: str,
    ips: Sequence[str],
    attempts: int,
    threads: int,
    barrier: Barrier,
    results: Queue[dict[str, int]],
) -> None:
    """Run ``attempts`` wrong-password logins on ``threads`` threads, released by ``barrier``.

    Attempt ``i`` comes from ``ips[i % len(ips)]``. The verify callable
    increments ``calls_key`` in Redis, so the parent can count the
    verifications of every process. The outcome counts go into ``results``.
    """
    store = RedisStore.from_url(url, prefix=prefix)
    guard = LockoutGuard(store, policy)

    def verify() -> None:
        store.client.incr(store.key(calls_key))
        raise PasswordMismatch

    def attempt(index: int) -> str:
        try:
            guard.login(account, ips[index % len(ips)], verify)
        except AccountLocked:
            return LOCKED
        except PasswordMismatch:
            return VERIFIED
        return "succeeded"

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            barrier.wait(BARRIER_TIMEOUT)
            outcomes = Counter(pool.map(attempt, range(attempts)))
    finally:
        store.close()
    results.put(dict(outcomes))
