"""Key-value stores behind revocation lists, lockout counters and rate limits.

:class:`KeyValueStore` is the protocol; :class:`MemoryStore` keeps state in
this process and :class:`RedisStore` shares it through a Redis server.
"""

from jivs_security.stores._protocol import KeyValueStore
from jivs_security.stores._script import AtomicScript, ScriptView
from jivs_security.stores.memory import MemoryStore
from jivs_security.stores.redis import RedisStore

__all__ = ["AtomicScript", "KeyValueStore", "MemoryStore", "RedisStore", "ScriptView"]
