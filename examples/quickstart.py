"""Walk through the token service: issue, verify, refresh, reuse detection, revocation, rotation.

Run it with no arguments to keep state in memory, or point it at a Redis
server to share state between processes::

    python examples/quickstart.py
    python examples/quickstart.py --redis-url redis://127.0.0.1:6379/0

Each step prints what it did and what the library returned.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

from jivs_security.errors import ConfigurationError, StoreUnavailable
from jivs_security.stores import KeyValueStore, MemoryStore, RedisStore
from jivs_security.tokens import (
    InvalidToken,
    KeyRing,
    RefreshTokenReused,
    TokenRevoked,
    TokenService,
)

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"


def step(number: int, text: str) -> None:
    print(f"\n{number}. {text}")


def show(label: str, value: object) -> None:
    print(f"   {label:<22} {value}")


def expect_rejection(service: TokenService, token: str, label: str) -> None:
    """Verify a token that must fail, and print the error the library raised."""
    try:
        service.verify(token)
    except InvalidToken as error:
        show(label, f"rejected: {type(error).__name__} (reason={error.reason})")
    else:
        raise SystemExit(f"quickstart failed: {label} was accepted but must be rejected")


def open_store(redis_url: str | None) -> KeyValueStore:
    if redis_url is None:
        return MemoryStore()

    # A fresh prefix per run, so repeated runs against one server start clean.
    try:
        store = RedisStore.from_url(redis_url, prefix=f"jivs-quickstart:{uuid.uuid4().hex}:")
        store.get("ping")
    except (ConfigurationError, StoreUnavailable) as error:
        raise SystemExit(f"quickstart failed: {error}") from None
    return store


def demonstrate_keys(key_file: Path) -> KeyRing:
    step(1, "Create an EdDSA key ring and save it with owner-only permissions")
    ring = KeyRing.generate("EdDSA")
    ring.save(key_file)
    ring = KeyRing.load(key_file)
    show("key ring", ring)
    show("file mode", f"{key_file.stat().st_mode & 0o777:04o}")
    show("public JWKS keys", [key["kid"] for key in ring.jwks()["keys"]])
    return ring


def demonstrate_tokens(service: TokenService) -> None:
    step(2, "Issue an access and refresh token pair")
    pair = service.issue("user-42", scopes=["orders:read", "orders:write"])
    show("token pair", pair)
    show("access token length", f"{len(pair.access_token)} characters")

    step(3, "Verify the access token")
    claims = service.verify(pair.access_token)
    show("subject", claims.subject)
    show("scopes", sorted(claims.scopes))
    show("expires in", f"{claims.expires_at - time.time():.0f} s")
    show("signed by kid", claims.key_id)

    step(4, "A refresh token is not accepted as an access token")
    expect_rejection(service, pair.refresh_token, "refresh as access")

    step(5, "Refresh: the refresh token is exchanged for a new pair in the same family")
    renewed = service.refresh(pair.refresh_token)
    show("same family", renewed.family_id == pair.family_id)
    show("new access verifies", service.verify(renewed.access_token).subject)

    step(6, "Reusing the old refresh token revokes the whole family")
    try:
        service.refresh(pair.refresh_token)
    except RefreshTokenReused as error:
        show("reuse", f"rejected: {type(error).__name__} (family={error.family_id})")
    else:
        raise SystemExit("quickstart failed: a reused refresh token was accepted")
    expect_rejection(service, renewed.access_token, "successor access token")

    step(7, "Revoke every token of a subject at once")
    before = service.issue("user-42")
    service.revoke_subject("user-42")
    expect_rejection(service, before.access_token, "token issued before")
    after = service.issue("user-42")
    show("token issued after", f"accepted for {service.verify(after.access_token).subject}")


def demonstrate_rotation(service: TokenService, key_file: Path) -> None:
    ring = service.keys
    issued_before = service.issue("user-42")

    step(8, "Rotate the signing key: old tokens keep verifying, new ones use the new key")
    old_kid = ring.active.kid
    new_key = ring.rotate()
    ring.save(key_file)
    show("previous key", ring.get(old_kid))
    show("new active key", new_key)
    show("old token verifies", service.verify(issued_before.access_token).key_id == old_kid)
    rotated = service.issue("user-42")
    show("new token kid", service.verify(rotated.access_token).key_id)

    step(9, "Retire the old key; in production, wait until its tokens have expired")
    ring.retire(old_kid)
    expect_rejection(service, issued_before.access_token, "token of retired key")

    step(10, "Revoke one token, as a sign-out would")
    service.revoke(rotated.access_token)
    try:
        service.verify(rotated.access_token)
    except TokenRevoked as error:
        show("revoked token", f"rejected: {type(error).__name__} (scope={error.scope})")
    else:
        raise SystemExit("quickstart failed: a revoked token was accepted")


def run(redis_url: str | None, key_file: Path) -> None:
    store = open_store(redis_url)
    print(f"Token service quickstart, state kept in {store!r}")

    ring = demonstrate_keys(key_file)
    service = TokenService(ring, store, issuer=ISSUER, audience=AUDIENCE)
    demonstrate_tokens(service)
    demonstrate_rotation(service, key_file)

    store.close()
    print("\nDone: every step behaved as described.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis-url",
        help="keep revocation state in this Redis server instead of in memory "
        "(for example redis://127.0.0.1:6379/0)",
    )
    arguments = parser.parse_args(argv)

    # The library logs security events (such as a reused refresh token) at
    # WARNING; show them between the steps.
    logging.basicConfig(
        level=logging.WARNING, format="   [log %(levelname)s] %(message)s", stream=sys.stdout
    )

    with tempfile.TemporaryDirectory() as folder:
        run(arguments.redis_url, Path(folder) / "keyring.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
