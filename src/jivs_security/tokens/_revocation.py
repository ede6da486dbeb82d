"""Revocation state of tokens in a key-value store: by token, by subject and by family."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from jivs_security.errors import TokenRevoked
from jivs_security.stores import KeyValueStore
from jivs_security.tokens._claims import Claims

__all__ = ["RevocationList"]


class RevocationList:
    """Reads and writes the revocation entries of one issuer's tokens.

    Every key of one subject shares the Redis Cluster hash tag
    ``{<subject tag>}``, so the three entries that :meth:`check` reads can be
    fetched with one MGET even on a cluster. The tag is a hash of issuer and
    subject: subjects may be e-mail addresses, which then never appear in
    key names, and may contain ``{`` or ``}`` without breaking the tag.
    """

    def __init__(self, store: KeyValueStore, *, issuer: str) -> None:
        self._store = store
        issuer_bytes = issuer.encode("utf-8")

        # Verification computes the tag on every call; the cache keeps that
        # to a dictionary lookup for subjects seen recently.
        @lru_cache(maxsize=4096)
        def subject_tag(subject: str) -> str:
            digest = hashlib.sha256(issuer_bytes + b"\x00" + subject.encode("utf-8"))
            return f"tok:{{{digest.hexdigest()[:32]}}}:"

        self._tag = subject_tag

    def check(self, claims: Claims) -> None:
        """Raise :class:`TokenRevoked` if any revocation covers ``claims``; one store round trip."""
        revoked, _ = self.lookup(claims, include_use=False)
        if revoked is not None:
            raise revoked

    def lookup(
        self, claims: Claims, *, include_use: bool
    ) -> tuple[TokenRevoked | None, bytes | None]:
        """Return the revocation that covers ``claims`` and, if asked, the refresh-use record.

        Both come from one store round trip. The record is ``None`` unless
        ``include_use`` is true and the refresh token was already exchanged.
        """
        tag = self._tag(claims.subject)
        keys = [f"{tag}jti:{claims.token_id}", f"{tag}sub", f"{tag}fam:{claims.family_id}"]
        if include_use:
            keys.append(f"{tag}used:{claims.token_id}")
        values = self._store.get_many(keys)
        by_token, valid_after, by_family = values[:3]
        used = values[3] if include_use else None

        revoked = None
        if by_token is not None:
            revoked = _revoked(claims, "token", "the token was revoked")
        elif valid_after is not None and claims.issued_at <= float(valid_after):
            revoked = _revoked(
                claims,
                "subject",
                "its subject's tokens issued before the last revocation were revoked",
            )
        elif by_family is not None:
            revoked = _revoked(claims, "family", "its token family was revoked")
        return revoked, used

    def revoke_token(self, subject: str, token_id: str, *, ttl: float) -> None:
        """Block one token id for ``ttl`` seconds."""
        self._store.set(f"{self._tag(subject)}jti:{token_id}", b"1", ttl=ttl)

    def revoke_subject(self, subject: str, *, at: float, ttl: float) -> None:
        """Reject every token of ``subject`` issued at or before ``at``, for ``ttl`` seconds."""
        self._store.set(f"{self._tag(subject)}sub", repr(at).encode("ascii"), ttl=ttl)

    def revoke_family(self, subject: str, family_id: str, *, ttl: float) -> None:
        """Reject every token of one family for ``ttl`` seconds."""
        self._store.set(f"{self._tag(subject)}fam:{family_id}", b"1", ttl=ttl)

    def consume(self, subject: str, token_id: str, record: bytes, *, ttl: float) -> bytes | None:
        """Mark a refresh token used, storing ``record``; return ``None`` if this call did it.

        When the token was used before, the record stored by that first call
        is returned instead. The marker is set with set-if-absent, so of any
        number of concurrent calls exactly one gets ``None``.
        """
        key = f"{self._tag(subject)}used:{token_id}"
        if self._store.set_if_absent(key, record, ttl=ttl):
            return None
        # The first call's record; empty if it expired in between, which the
        # caller treats as a reuse without a grace window.
        return self._store.get(key) or b""


def _revoked(claims: Claims, scope: str, why: str) -> TokenRevoked:
    return TokenRevoked(
        f"Token rejected: {why} (jti {claims.token_id}). Sign in again to get new tokens.",
        token_id=claims.token_id,
        scope=scope,
    )
