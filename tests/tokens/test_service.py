"""TokenService behaviour: issuing, verifying, revoking and refreshing tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from jivs_security.errors import (
    ConfigurationError,
    InvalidToken,
    RefreshTokenReused,
    TokenExpired,
    TokenRevoked,
)
from jivs_security.stores import KeyValueStore, MemoryStore
from jivs_security.tokens import KeyRing, TokenKind, TokenPair, TokenService

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"

# Wall-clock seconds at which every test starts. The fraction shows that iat
# keeps sub-second precision while nbf and exp are whole seconds.
START = 1_700_000_000.25

# The service's defaults, in seconds.
DEFAULT_ACCESS_TTL = 900
DEFAULT_REFRESH_TTL = 14 * 24 * 3600
DEFAULT_LEEWAY = 30

REGISTERED_CLAIMS = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "fid"]


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
def ring() -> KeyRing:
    """A ring with one new EdDSA key."""
    return KeyRing.generate("EdDSA")


def make_service(
    ring: KeyRing, store: KeyValueStore, clock: FakeClock, **options: Any
) -> TokenService:
    """Return a TokenService for ISSUER and AUDIENCE on ``store`` and ``clock``."""
    return TokenService(ring, store, issuer=ISSUER, audience=AUDIENCE, clock=clock, **options)


@pytest.fixture
def service(ring: KeyRing, memory_store: MemoryStore, clock: FakeClock) -> TokenService:
    """A token service with default settings on a MemoryStore."""
    return make_service(ring, memory_store, clock)


@pytest.fixture
def store_service(ring: KeyRing, store: KeyValueStore, clock: FakeClock) -> TokenService:
    """A token service with default settings on each store backend in turn."""
    return make_service(ring, store, clock)


def decode_segment(token: str, index: int) -> dict[str, Any]:
    """Return one JSON segment of a compact JWS (0 header, 1 payload) without verifying it."""
    segment = token.split(".")[index]
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return value


def payload_of(token: str) -> dict[str, Any]:
    """Return the claims of a token without verifying it."""
    return decode_segment(token, 1)


def revocation_key(subject: str, entry: str) -> str:
    """Return the store key of one revocation entry of ``subject`` under ISSUER.

    NOTE: this repeats the key layout of RevocationList, so the tests can read
    the TTL the service set; change both together.
    """
    digest = hashlib.sha256(ISSUER.encode() + b"\x00" + subject.encode()).hexdigest()
    return f"tok:{{{digest[:32]}}}:{entry}"


# Issuing.


def test_issue_sets_token_types(service: TokenService, ring: KeyRing) -> None:
    """issue() returns an at+jwt access token and an rt+jwt refresh token."""
    pair = service.issue("alice")

    access_header = decode_segment(pair.access_token, 0)
    refresh_header = decode_segment(pair.refresh_token, 0)

    assert access_header == {"alg": "EdDSA", "kid": ring.active.kid, "typ": "at+jwt"}
    assert refresh_header == {"alg": "EdDSA", "kid": ring.active.kid, "typ": "rt+jwt"}


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_issue_sets_registered_claims(service: TokenService, kind: str) -> None:
    """Both tokens carry iss, aud, sub, iat, nbf, exp, jti, scope and fid."""
    pair = service.issue("alice", scopes=["orders:write", "orders:read"])

    claims = payload_of(pair.access_token if kind == "access" else pair.refresh_token)

    assert set(claims) == {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "scope", "fid"}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == "alice"
    assert claims["iat"] == START
    assert claims["nbf"] == math.floor(START)
    assert claims["scope"] == "orders:read orders:write"
    assert claims["fid"] == pair.family_id
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 22


def test_issue_pair_shares_family(service: TokenService) -> None:
    """The two tokens of a pair share a family id and have different token ids."""
    pair = service.issue("alice")

    access = payload_of(pair.access_token)
    refresh = payload_of(pair.refresh_token)

    assert access["fid"] == refresh["fid"]
    assert access["jti"] != refresh["jti"]


def test_issue_starts_new_family(service: TokenService) -> None:
    """Each issue() starts a new family with new token ids."""
    first = service.issue("alice")
    second = service.issue("alice")

    assert first.family_id != second.family_id
    assert payload_of(first.access_token)["jti"] != payload_of(second.access_token)["jti"]


def test_issue_without_scopes_omits_claim(service: TokenService) -> None:
    """A pair issued without scopes has no scope claim and empty scopes."""
    pair = service.issue("alice")

    assert "scope" not in payload_of(pair.access_token)
    assert pair.scopes == frozenset()
    assert service.verify(pair.access_token).scopes == frozenset()


def test_issue_default_lifetimes(service: TokenService) -> None:
    """By default access tokens live 900 s and refresh tokens 14 days."""
    pair = service.issue("alice")

    access = payload_of(pair.access_token)
    refresh = payload_of(pair.refresh_token)

    assert access["exp"] - access["nbf"] == DEFAULT_ACCESS_TTL
    assert refresh["exp"] - refresh["nbf"] == DEFAULT_REFRESH_TTL
    assert pair.access_expires_at == access["exp"]
    assert pair.refresh_expires_at == refresh["exp"]


def test_issue_configured_lifetimes(
    ring: KeyRing, memory_store: MemoryStore, clock: FakeClock
) -> None:
    """access_ttl and refresh_ttl set the lifetimes of new tokens."""
    service = make_service(ring, memory_store, clock, access_ttl=60, refresh_ttl=3600)

    pair = service.issue("alice")

    assert payload_of(pair.access_token)["exp"] == math.floor(START) + 60
    assert payload_of(pair.refresh_token)["exp"] == math.floor(START) + 3600


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param({"access_ttl": 0}, id="access-zero"),
        pytest.param({"access_ttl": 1.5}, id="access-fraction"),
        pytest.param({"refresh_ttl": -1}, id="refresh-negative"),
        pytest.param({"leeway": 301}, id="leeway-too-large"),
        pytest.param({"refresh_grace": 61}, id="grace-too-large"),
        pytest.param({"audience": []}, id="audience-empty"),
        pytest.param({"issuer": ""}, id="issuer-empty"),
    ],
)
def test_invalid_settings_rejected(
    ring: KeyRing, memory_store: MemoryStore, setting: dict[str, Any]
) -> None:
    """An out-of-range lifetime, leeway, grace, issuer or audience raises ConfigurationError."""
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **setting}

    with pytest.raises(ConfigurationError) as caught:
        TokenService(ring, memory_store, **options)

    assert caught.value.setting == next(iter(setting))


def test_issue_several_audiences(
    ring: KeyRing, memory_store: MemoryStore, clock: FakeClock
) -> None:
    """With several audiences the aud claim is a list and verification accepts it."""
    service = TokenService(
        ring, memory_store, issuer=ISSUER, audience=["orders-api", "billing-api"], clock=clock
    )

    pair = service.issue("alice")

    assert payload_of(pair.access_token)["aud"] == ["orders-api", "billing-api"]
    assert service.verify(pair.access_token).audience == ("orders-api", "billing-api")


# Verifying.


def test_verify_returns_claims(service: TokenService, ring: KeyRing) -> None:
    """verify() returns the subject, scopes, ids and times of an access token."""
    pair = service.issue("alice", scopes=["orders:read", "orders:write"])

    claims = service.verify(pair.access_token)

    assert claims.kind is TokenKind.ACCESS
    assert claims.subject == "alice"
    assert claims.issuer == ISSUER
    assert claims.audience == (AUDIENCE,)
    assert claims.scopes == frozenset({"orders:read", "orders:write"})
    assert claims.token_id == payload_of(pair.access_token)["jti"]
    assert claims.family_id == pair.family_id
    assert claims.key_id == ring.active.kid
    assert claims.issued_at == START
    assert claims.not_before == math.floor(START)
    assert claims.expires_at == math.floor(START) + DEFAULT_ACCESS_TTL
    assert claims.has_scopes("orders:read")
    assert not claims.has_scopes("orders:read", "orders:delete")


def test_verify_returns_extra_claims(service: TokenService) -> None:
    """Application claims given to issue() come back in Claims.extra of both tokens."""
    extra = {"tenant": "acme", "roles": ["admin", "auditor"], "level": 3}
    pair = service.issue("alice", claims=extra)

    access = service.verify(pair.access_token)
    refresh = service.verify(pair.refresh_token, kind=TokenKind.REFRESH)

    assert access.extra == extra
    assert refresh.extra == extra


def test_verify_refresh_kind(service: TokenService) -> None:
    """verify(kind=REFRESH) accepts a refresh token and reports its kind."""
    pair = service.issue("alice")

    claims = service.verify(pair.refresh_token, kind=TokenKind.REFRESH)

    assert claims.kind is TokenKind.REFRESH
    assert claims.expires_at == math.floor(START) + DEFAULT_REFRESH_TTL


def test_verify_rejects_refresh_as_access(service: TokenService) -> None:
    """verify() of a refresh token where an access token is expected raises wrong_type."""
    pair = service.issue("alice")

    with pytest.raises(InvalidToken) as caught:
        service.verify(pair.refresh_token)

    assert caught.value.reason == "wrong_type"


def test_verify_within_leeway(service: TokenService, clock: FakeClock) -> None:
    """An access token still verifies up to the leeway after exp."""
    pair = service.issue("alice")
    clock.advance(DEFAULT_ACCESS_TTL + DEFAULT_LEEWAY - 1)

    claims = service.verify(pair.access_token)

    assert claims.subject == "alice"


def test_verify_expired_token(service: TokenService, clock: FakeClock) -> None:
    """An access token past exp plus the leeway raises TokenExpired with its times."""
    pair = service.issue("alice")
    clock.advance(DEFAULT_ACCESS_TTL + DEFAULT_LEEWAY + 1)

    with pytest.raises(TokenExpired) as caught:
        service.verify(pair.access_token)

    assert caught.value.expired_at == math.floor(START) + DEFAULT_ACCESS_TTL
    assert caught.value.checked_at == clock.now
    assert caught.value.leeway == DEFAULT_LEEWAY


@pytest.mark.parametrize("name", REGISTERED_CLAIMS)
def test_extra_claims_cannot_override_registered(service: TokenService, name: str) -> None:
    """issue() raises ConfigurationError when an application claim reuses a registered name."""
    with pytest.raises(ConfigurationError) as caught:
        service.issue("alice", claims={name: "attacker-chosen"})

    assert caught.value.setting == "claims"
    assert caught.value.value == [name]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(b"bytes", id="bytes"),
    ],
)
def test_extra_claims_must_be_json(service: TokenService, value: object) -> None:
    """issue() raises ConfigurationError for a claim value that is not JSON."""
    with pytest.raises(ConfigurationError) as caught:
        service.issue("alice", claims={"custom": value})

    assert caught.value.setting == "claims"


@pytest.mark.parametrize(
    "scopes",
    [
        pytest.param(["orders read"], id="space"),
        pytest.param(['say"hi"'], id="double-quote"),
        pytest.param(["back\\slash"], id="backslash"),
        pytest.param([""], id="empty"),
        pytest.param(["na\u00efve"], id="non-ascii"),
        pytest.param(["tab\there"], id="tab"),
        pytest.param([42], id="not-a-string"),
        pytest.param("orders:read", id="one-string"),
    ],
)
def test_invalid_scopes_rejected(service: TokenService, scopes: Any) -> None:
    """issue() raises ConfigurationError for scopes outside the RFC 6749 scope-token syntax."""
    with pytest.raises(ConfigurationError) as caught:
        service.issue("alice", scopes=scopes)

    assert caught.value.setting == "scopes"


# Revoking.


def test_revoke_access_blocks_token(store_service: TokenService) -> None:
    """A revoked access token raises TokenRevoked with scope token."""
    pair = store_service.issue("alice")

    store_service.revoke(pair.access_token)

    with pytest.raises(TokenRevoked) as caught:
        store_service.verify(pair.access_token)
    assert caught.value.scope == "token"
    assert caught.value.reason == "revoked_token"
    assert caught.value.token_id == payload_of(pair.access_token)["jti"]


def test_revoke_access_spares_other_tokens(store_service: TokenService) -> None:
    """Revoking one access token leaves the subject's other tokens and its refresh token valid."""
    revoked = store_service.issue("alice")
    other = store_service.issue("alice")

    store_service.revoke(revoked.access_token)

    assert store_service.verify(other.access_token).subject == "alice"
    assert store_service.verify(revoked.refresh_token, kind=TokenKind.REFRESH).subject == "alice"
    assert store_service.refresh(revoked.refresh_token).family_id == revoked.family_id


def test_revoke_access_ttl_is_remaining_lifetime(
    store_service: TokenService, store: KeyValueStore, clock: FakeClock
) -> None:
    """The entry for a revoked access token lasts its remaining lifetime plus the leeway."""
    pair = store_service.issue("alice")
    clock.advance(100)

    store_service.revoke(pair.access_token)

    remaining = payload_of(pair.access_token)["exp"] + DEFAULT_LEEWAY - clock.now
    key = revocation_key("alice", f"jti:{payload_of(pair.access_token)['jti']}")
    assert store.ttl(key) == pytest.approx(remaining, abs=1)


def test_revoke_refresh_revokes_family(store_service: TokenService) -> None:
    """Revoking a refresh token revokes its family, the access token included."""
    pair = store_service.issue("alice")

    store_service.revoke(pair.refresh_token)

    with pytest.raises(TokenRevoked) as access_error:
        store_service.verify(pair.access_token)
    with pytest.raises(TokenRevoked) as refresh_error:
        store_service.refresh(pair.refresh_token)
    assert access_error.value.scope == "family"
    assert refresh_error.value.scope == "family"


def test_revoke_refresh_spares_other_families(store_service: TokenService) -> None:
    """Revoking one family leaves another family of the same subject valid."""
    revoked = store_service.issue("alice")
    other = store_service.issue("alice")

    store_service.revoke(revoked.refresh_token)

    assert store_service.verify(other.access_token).family_id == other.family_id


def test_revoke_refresh_ttl(store_service: TokenService, store: KeyValueStore) -> None:
    """A family entry lasts the refresh lifetime plus the leeway."""
    pair = store_service.issue("alice")

    store_service.revoke(pair.refresh_token)

    key = revocation_key("alice", f"fam:{pair.family_id}")
    assert store.ttl(key) == pytest.approx(DEFAULT_REFRESH_TTL + DEFAULT_LEEWAY, abs=1)


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_revoke_expired_token_noop(
    store_service: TokenService, store: KeyValueStore, clock: FakeClock, kind: str
) -> None:
    """revoke() of a token past exp plus the leeway returns without writing an entry."""
    pair = store_service.issue("alice")
    token = pair.access_token if kind == "access" else pair.refresh_token
    clock.advance(payload_of(token)["exp"] - clock.now + DEFAULT_LEEWAY + 1)

    store_service.revoke(token)

    entry = f"jti:{payload_of(token)['jti']}" if kind == "access" else f"fam:{pair.family_id}"
    assert store.get(revocation_key("alice", entry)) is None


def test_revoke_forged_token_rejected(service: TokenService) -> None:
    """revoke() of a token with a bad signature raises InvalidToken."""
    pair = service.issue("alice")
    other = service.issue("bob")
    header, _, signature = pair.access_token.split(".")
    forged = f"{header}.{other.access_token.split('.')[1]}.{signature}"

    with pytest.raises(InvalidToken) as caught:
        service.revoke(forged)

    assert caught.value.reason == "bad_signature"


def test_revoke_subject_blocks_earlier_tokens(
    store_service: TokenService, clock: FakeClock
) -> None:
    """revoke_subject() rejects the subject's earlier tokens with scope subject."""
    pair = store_service.issue("alice")
    clock.advance(1)

    store_service.revoke_subject("alice")

    with pytest.raises(TokenRevoked) as access_error:
        store_service.verify(pair.access_token)
    with pytest.raises(TokenRevoked) as refresh_error:
        store_service.refresh(pair.refresh_token)
    assert access_error.value.scope == "subject"
    assert refresh_error.value.scope == "subject"


def test_revoke_subject_same_instant(store_service: TokenService) -> None:
    """A token issued at the very instant of revoke_subject() is revoked too."""
    pair = store_service.issue("alice")

    store_service.revoke_subject("alice")

    with pytest.raises(TokenRevoked):
        store_service.verify(pair.access_token)


def test_revoke_subject_spares_later_tokens(store_service: TokenService, clock: FakeClock) -> None:
    """Tokens issued a moment after revoke_subject() verify and refresh."""
    store_service.revoke_subject("alice")
    clock.advance(0.001)

    pair = store_service.issue("alice")

    assert store_service.verify(pair.access_token).subject == "alice"
    assert store_service.refresh(pair.refresh_token).subject == "alice"


def test_revoke_subject_spares_other_subjects(
    store_service: TokenService, clock: FakeClock
) -> None:
    """revoke_subject() leaves tokens of other subjects valid."""
    pair = store_service.issue("bob")
    clock.advance(1)

    store_service.revoke_subject("alice")

    assert store_service.verify(pair.access_token).subject == "bob"


def test_revoke_subject_ttl(store_service: TokenService, store: KeyValueStore) -> None:
    """The subject entry lasts the longest token lifetime plus the leeway."""
    store_service.revoke_subject("alice")

    ttl = store.ttl(revocation_key("alice", "sub"))

    assert ttl == pytest.approx(DEFAULT_REFRESH_TTL + DEFAULT_LEEWAY, abs=1)


# Refreshing.


def test_refresh_rotates_tokens(store_service: TokenService) -> None:
    """refresh() returns new tokens with new ids in the same family."""
    pair = store_service.issue("alice", scopes=["orders:read"])

    renewed = store_service.refresh(pair.refresh_token)

    old_refresh = payload_of(pair.refresh_token)
    new_refresh = payload_of(renewed.refresh_token)
    assert new_refresh["jti"] != old_refresh["jti"]
    assert payload_of(renewed.access_token)["jti"] != payload_of(pair.access_token)["jti"]
    assert new_refresh["fid"] == old_refresh["fid"]
    assert renewed.family_id == pair.family_id
    assert renewed.subject == "alice"
    assert renewed.scopes == frozenset({"orders:read"})


def test_refresh_keeps_claims(store_service: TokenService, clock: FakeClock) -> None:
    """The renewed access token keeps the scopes and application claims and starts now."""
    pair = store_service.issue("alice", scopes=["orders:read"], claims={"tenant": "acme"})
    clock.advance(600)

    renewed = store_service.refresh(pair.refresh_token)
    claims = store_service.verify(renewed.access_token)

    assert claims.scopes == frozenset({"orders:read"})
    assert claims.extra == {"tenant": "acme"}
    assert claims.issued_at == START + 600
    assert claims.expires_at == math.floor(START + 600) + DEFAULT_ACCESS_TTL


def test_refresh_chain_continues(store_service: TokenService) -> None:
    """Each renewed refresh token can be exchanged in turn."""
    pair = store_service.issue("alice")

    for _ in range(3):
        pair = store_service.refresh(pair.refresh_token)

    assert store_service.verify(pair.access_token).subject == "alice"


def test_refresh_reuse_raises(store_service: TokenService) -> None:
    """A second refresh() with the same token raises RefreshTokenReused for its family."""
    pair = store_service.issue("alice")
    store_service.refresh(pair.refresh_token)

    with pytest.raises(RefreshTokenReused) as caught:
        store_service.refresh(pair.refresh_token)

    assert caught.value.family_id == pair.family_id
    assert caught.value.token_id == payload_of(pair.refresh_token)["jti"]
    assert caught.value.scope == "family"
    assert caught.value.reason == "refresh_token_reused"


def test_refresh_reuse_revokes_successors(store_service: TokenService) -> None:
    """After a reuse, the pair issued by the first refresh is revoked too."""
    pair = store_service.issue("alice")
    successor = store_service.refresh(pair.refresh_token)

    with pytest.raises(RefreshTokenReused):
        store_service.refresh(pair.refresh_token)

    with pytest.raises(TokenRevoked) as access_error:
        store_service.verify(successor.access_token)
    with pytest.raises(TokenRevoked) as refresh_error:
        store_service.refresh(successor.refresh_token)
    assert access_error.value.scope == "family"
    assert refresh_error.value.scope == "family"


def test_refresh_reuse_revokes_original_access(store_service: TokenService) -> None:
    """After a reuse, the access token issued with the reused refresh token is revoked."""
    pair = store_service.issue("alice")
    store_service.refresh(pair.refresh_token)

    with pytest.raises(RefreshTokenReused):
        store_service.refresh(pair.refresh_token)

    with pytest.raises(TokenRevoked):
        store_service.verify(pair.access_token)


def test_refresh_reuse_of_older_token(store_service: TokenService) -> None:
    """Reusing a refresh token two rotations back revokes the newest pair."""
    first = store_service.issue("alice")
    second = store_service.refresh(first.refresh_token)
    third = store_service.refresh(second.refresh_token)

    with pytest.raises(RefreshTokenReused):
        store_service.refresh(first.refresh_token)

    with pytest.raises(TokenRevoked):
        store_service.verify(third.access_token)


def test_refresh_reuse_repeated(store_service: TokenService) -> None:
    """Every later use of an exchanged refresh token raises RefreshTokenReused."""
    pair = store_service.issue("alice")
    store_service.refresh(pair.refresh_token)
    with pytest.raises(RefreshTokenReused):
        store_service.refresh(pair.refresh_token)

    with pytest.raises(RefreshTokenReused) as caught:
        store_service.refresh(pair.refresh_token)

    assert caught.value.family_id == pair.family_id


def test_refresh_reuse_spares_other_families(store_service: TokenService) -> None:
    """A reuse in one family leaves another family of the subject valid."""
    pair = store_service.issue("alice")
    other = store_service.issue("alice")
    store_service.refresh(pair.refresh_token)

    with pytest.raises(RefreshTokenReused):
        store_service.refresh(pair.refresh_token)

    assert store_service.refresh(other.refresh_token).family_id == other.family_id


def test_refresh_grace_returns_same_pair(
    ring: KeyRing, store: KeyValueStore, clock: FakeClock
) -> None:
    """Within refresh_grace, a retry returns a pair with the same claims as the first refresh."""
    service = make_service(ring, store, clock, refresh_grace=10)
    pair = service.issue("alice", scopes=["orders:read"])
    first = service.refresh(pair.refresh_token)
    clock.advance(1)

    retry = service.refresh(pair.refresh_token)

    assert payload_of(retry.access_token) == payload_of(first.access_token)
    assert payload_of(retry.refresh_token) == payload_of(first.refresh_token)
    assert retry.family_id == first.family_id


def test_refresh_grace_keeps_family_valid(
    ring: KeyRing, store: KeyValueStore, clock: FakeClock
) -> None:
    """A retry within refresh_grace revokes nothing, so the successor still refreshes."""
    service = make_service(ring, store, clock, refresh_grace=10)
    pair = service.issue("alice")
    first = service.refresh(pair.refresh_token)
    clock.advance(1)

    retry = service.refresh(pair.refresh_token)

    assert service.verify(first.access_token).subject == "alice"
    assert service.refresh(retry.refresh_token).family_id == pair.family_id


def test_refresh_after_grace_revokes_family(
    ring: KeyRing, store: KeyValueStore, clock: FakeClock
) -> None:
    """A reuse after refresh_grace has passed raises RefreshTokenReused and revokes the family."""
    service = make_service(ring, store, clock, refresh_grace=10)
    pair = service.issue("alice")
    first = service.refresh(pair.refresh_token)
    clock.advance(11)

    with pytest.raises(RefreshTokenReused):
        service.refresh(pair.refresh_token)

    with pytest.raises(TokenRevoked) as caught:
        service.verify(first.access_token)
    assert caught.value.scope == "family"


def test_refresh_expired_token(store_service: TokenService, clock: FakeClock) -> None:
    """refresh() of a refresh token past exp plus the leeway raises TokenExpired."""
    pair = store_service.issue("alice")
    clock.advance(DEFAULT_REFRESH_TTL + DEFAULT_LEEWAY + 1)

    with pytest.raises(TokenExpired) as caught:
        store_service.refresh(pair.refresh_token)

    assert caught.value.expired_at == pair.refresh_expires_at


def test_refresh_within_leeway(store_service: TokenService, clock: FakeClock) -> None:
    """refresh() still accepts a refresh token up to the leeway after exp."""
    pair = store_service.issue("alice")
    clock.advance(DEFAULT_REFRESH_TTL + DEFAULT_LEEWAY - 1)

    renewed = store_service.refresh(pair.refresh_token)

    assert renewed.family_id == pair.family_id


def test_refresh_rejects_access_token(store_service: TokenService) -> None:
    """refresh() of an access token raises InvalidToken with reason wrong_type."""
    pair = store_service.issue("alice")

    with pytest.raises(InvalidToken) as caught:
        store_service.refresh(pair.access_token)

    assert caught.value.reason == "wrong_type"


# Secrets in repr, str and error messages.


def test_token_pair_repr_hides_tokens(service: TokenService) -> None:
    """repr() and str() of a TokenPair contain neither token nor any signature."""
    pair = service.issue("alice")

    texts = [repr(pair), str(pair)]

    for text in texts:
        for token in (pair.access_token, pair.refresh_token):
            assert token not in text
            assert token.split(".")[1] not in text
            assert token.split(".")[2] not in text
        assert pair.family_id in text


def test_service_repr_hides_secret(memory_store: MemoryStore, clock: FakeClock) -> None:
    """repr() and str() of an HS256 TokenService contain no form of the secret."""
    secret = b"hs256-secret-for-repr-test-00001"
    service = make_service(KeyRing.from_secret(secret), memory_store, clock)

    texts = [repr(service), str(service)]

    for text in texts:
        assert secret.decode("ascii") not in text
        assert secret.hex() not in text
        assert base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=") not in text
        assert ISSUER in text


def forge_signature(service: TokenService, clock: FakeClock, pair: TokenPair) -> str:
    header, _, signature = pair.access_token.split(".")
    other = service.issue("mallory").access_token.split(".")[1]
    return f"{header}.{other}.{signature}"


def expire_access(service: TokenService, clock: FakeClock, pair: TokenPair) -> str:
    clock.advance(DEFAULT_ACCESS_TTL + DEFAULT_LEEWAY + 1)
    return pair.access_token


def revoke_access(service: TokenService, clock: FakeClock, pair: TokenPair) -> str:
    service.revoke(pair.access_token)
    return pair.access_token


def retire_key(service: TokenService, clock: FakeClock, pair: TokenPair) -> str:
    old_kid = service.keys.active.kid
    service.keys.rotate()
    service.keys.retire(old_kid)
    return pair.access_token


def cut_signature(service: TokenService, clock: FakeClock, pair: TokenPair) -> str:
    return pair.access_token.rsplit(".", 1)[0]


def pad_token(service: TokenService, clock: FakeClock, pair: TokenPair) -> str:
    return pair.access_token + "A" * 9000


# Each case prepares a failure and returns the token that verify() then rejects.
VERIFY_FAILURES: dict[str, Callable[[TokenService, FakeClock, TokenPair], str]] = {
    "bad-signature": forge_signature,
    "expired": expire_access,
    "revoked": revoke_access,
    "unknown-kid": retire_key,
    "malformed": cut_signature,
    "too-large": pad_token,
}


def assert_token_absent(error: BaseException, token: str) -> None:
    """Assert that neither the token nor any of its segments appears in ``error``."""
    for text in (str(error), repr(error)):
        assert token not in text
        for segment in token.split("."):
            assert segment not in text


@pytest.mark.parametrize("case", sorted(VERIFY_FAILURES))
def test_verify_errors_exclude_token(service: TokenService, clock: FakeClock, case: str) -> None:
    """The error raised by verify() never contains the token or a segment of it."""
    pair = service.issue("alice")
    token = VERIFY_FAILURES[case](service, clock, pair)

    with pytest.raises(InvalidToken) as caught:
        service.verify(token)

    assert_token_absent(caught.value, token)


def test_wrong_type_error_excludes_token(service: TokenService) -> None:
    """The error for a refresh token given as an access token does not contain it."""
    pair = service.issue("alice")

    with pytest.raises(InvalidToken) as caught:
        service.verify(pair.refresh_token)

    assert_token_absent(caught.value, pair.refresh_token)


def test_reuse_error_excludes_token(service: TokenService) -> None:
    """RefreshTokenReused does not contain the reused refresh token."""
    pair = service.issue("alice")
    service.refresh(pair.refresh_token)

    with pytest.raises(RefreshTokenReused) as caught:
        service.refresh(pair.refresh_token)

    assert_token_absent(caught.value, pair.refresh_token)


def test_expired_refresh_error_excludes_token(service: TokenService, clock: FakeClock) -> None:
    """TokenExpired from refresh() does not contain the refresh token."""
    pair = service.issue("alice")
    clock.advance(DEFAULT_REFRESH_TTL + DEFAULT_LEEWAY + 1)

    with pytest.raises(TokenExpired) as caught:
        service.refresh(pair.refresh_token)

    assert_token_absent(caught.value, pair.refresh_token)
