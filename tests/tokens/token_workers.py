"""Functions that child processes run to race on one refresh token in Redis.

They live in a plain module, not in a test file, because a process started
with the ``spawn`` method must import its target by module name.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from jivs_security.errors import JivsSecurityError
from jivs_security.stores import RedisStore
from jivs_security.tokens import KeyRing, TokenService

# Seconds a worker waits for the other workers before it gives up.
BARRIER_TIMEOUT = 30.0

# Outcome recorded for a call that returned a new token pair.
REFRESHED = "refreshed"

# One outcome per refresh() call: the outcome, then the new access and
# refresh tokens, which are empty unless the outcome is REFRESHED.
Outcome = tuple[str, str, str]


def refresh_concurrently(
    *,
    key_file: str,
    url: str,
    prefix: str,
    issuer: str,
    audience: str,
    refresh_token: str,
    calls: int,
    barrier: Barrier,
    results: Queue[list[Outcome]],
) -> None:
    """Build a TokenService, wait at ``barrier``, then call refresh() ``calls`` times at once.

    The ring is loaded from ``key_file`` and the store is a new RedisStore on
    ``url`` with ``prefix``, as a separate server process would build them.
    A call that raises a library error records the error's class name as its
    outcome; any other exception ends the process without a result.
    """
    store = RedisStore.from_url(url, prefix=prefix)
    service = TokenService(KeyRing.load(key_file), store, issuer=issuer, audience=audience)

    def attempt(_: int) -> Outcome:
        try:
            pair = service.refresh(refresh_token)
        except JivsSecurityError as exc:
            return (type(exc).__name__, "", "")
        return (REFRESHED, pair.access_token, pair.refresh_token)

    try:
        with ThreadPoolExecutor(max_workers=calls) as pool:
            barrier.wait(BARRIER_TIMEOUT)
            outcomes = list(pool.map(attempt, range(calls)))
    finally:
        store.close()
    results.put(outcomes)
