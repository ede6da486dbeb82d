"""Functions that child processes run to race on one Redis store.

They live in a plain module on the test path, not in a test file, because a
process started with the ``spawn`` method must import its target by module
name.
"""

from __future__ import annotations

import os
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from jivs_security.stores import RedisStore

# Seconds a worker waits for the other workers before it gives up.
BARRIER_TIMEOUT = 30.0


def claim_keys(
    url: str, prefix: str, keys: list[str], barrier: Barrier, results: Queue[list[str]]
) -> None:
    """Call ``set_if_absent`` on each key and put the keys this process stored into ``results``."""
    store = RedisStore.from_url(url, prefix=prefix)
    owner = str(os.getpid()).encode("ascii")
    try:
        barrier.wait(BARRIER_TIMEOUT)
        claimed = [key for key in keys if store.set_if_absent(key, owner, ttl=60)]
    finally:
        store.close()
    results.put(claimed)


def increment_counter(url: str, prefix: str, key: str, times: int, barrier: Barrier) -> None:
    """Increment ``key`` by one ``times`` times."""
    store = RedisStore.from_url(url, prefix=prefix)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        for _ in range(times):
            store.increment(key, ttl=60)
    finally:
        store.close()
