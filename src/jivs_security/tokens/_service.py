"""The token service: issue, verify, refresh and revoke access and refresh tokens."""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Final

from jivs_security.errors import ConfigurationError, InvalidToken, RefreshTokenReused, TokenExpired
from jivs_security.stores import KeyValueStore
from jivs_security.tokens._claims import Claims, TokenKind, TokenPair
from jivs_security.tokens._jose import b64url_decode, b64url_encode, dumps_compact, loads_object
from jivs_security.tokens._keys import SigningKey
from jivs_security.tokens._revocation import RevocationList
from jivs_security.tokens._ring import KeyRing

__all__ = ["TokenService"]

logger = logging.getLogger("jivs_security.tokens")

# Defaults, in seconds. Short-lived access tokens limit the damage of a
# leaked one (RFC 9700, section 2.2.2). Refresh tokens are rotated on every
# use, so their lifetime bounds only an idle client.
DEFAULT_ACCESS_TTL: Final = 15 * 60
DEFAULT_REFRESH_TTL: Final = 14 * 24 * 3600
DEFAULT_LEEWAY: Final = 30
MAX_LEEWAY: Final = 300

# Bytes. Tokens this service issues are well under 1 KiB unless the
# application adds large claims; the limit is checked before any decoding.
DEFAULT_MAX_TOKEN_BYTES: Final = 8192

# Claims this service sets itself; applications cannot override them.
REGISTERED_CLAIMS: Final = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "fid"}
)

# Header parameters that carry or point to keys (RFC 7515, section 4.1).
# Verification never uses them to find a key, and tokens that contain them
# are rejected outright, because this service never writes them.
_KEY_CARRYING_HEADERS: Final = frozenset({"jku", "jwk", "x5u", "x5c"})

# RFC 6749, section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

# I-JSON (RFC 7493, section 2.2) limits numbers to what an IEEE double
# represents exactly; larger NumericDate values are rejected rather than rounded.
_MAX_NUMERIC_DATE: Final = 2**53

# Cached parsed headers, keyed by the header segment. Only headers that
# parsed and named a usable key are cached. The bound keeps an attacker from
# growing the cache with variations of a valid header.
_HEADER_CACHE_SIZE: Final = 64

_KINDS_BY_TYP: Final = {kind.value: kind for kind in TokenKind}


class TokenService:
    """Issues and verifies JWT access and refresh tokens for one issuer.

    ``keys`` signs and verifies, ``store`` keeps revocation state and
    refresh-token use (a :class:`~jivs_security.stores.MemoryStore` for one
    process, a :class:`~jivs_security.stores.RedisStore` for several).
    ``issuer`` is the exact ``iss`` value; ``audience`` is the ``aud`` value
    tokens are issued for, or several values, any of which verification
    accepts.

    Verification follows RFC 8725: the algorithm comes from the key found
    by ``kid``, ``exp``, ``iat``, ``iss``, ``aud``, ``sub`` and ``jti`` are
    required, the ``typ`` header must match the expected token kind, and
    ``leeway`` seconds of clock skew are allowed. Refresh tokens rotate on
    every use (RFC 9700, section 4.14.2): a refresh token presented a second
    time revokes its whole family. ``refresh_grace`` seconds (off by default)
    let an immediate retry of the same refresh receive the same successor
    instead, for clients that lost the first response.
    """

    def __init__(
        self,
        keys: KeyRing,
        store: KeyValueStore,
        *,
        issuer: str,
        audience: str | Collection[str],
        access_ttl: int = DEFAULT_ACCESS_TTL,
        refresh_ttl: int = DEFAULT_REFRESH_TTL,
        leeway: float = DEFAULT_LEEWAY,
        refresh_grace: float = 0,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._store = store
        self._issuer = _require_text(issuer, "issuer")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences:
            raise _bad_setting("audience", audience, "a non-empty string or list of strings")
        for value in audiences:
            _require_text(value, "audience")
        self._audiences = frozenset(audiences)
        self._audience_claim: str | list[str] = (
            audiences[0] if len(audiences) == 1 else list(audiences)
        )

        self._access_ttl = _require_whole_seconds(access_ttl, "access_ttl")
        self._refresh_ttl = _require_whole_seconds(refresh_ttl, "refresh_ttl")
        if not (isinstance(leeway, int | float) and 0 <= leeway <= MAX_LEEWAY):
            raise _bad_setting("leeway", leeway, f"seconds from 0 to {MAX_LEEWAY}")
        self._leeway = float(leeway)
        if not (isinstance(refresh_grace, int | float) and 0 <= refresh_grace <= 60):
            raise _bad_setting("refresh_grace", refresh_grace, "seconds from 0 (off) to 60")
        self._refresh_grace = float(refresh_grace)
        if not (isinstance(max_token_bytes, int) and 512 <= max_token_bytes <= 65536):
            raise _bad_setting("max_token_bytes", max_token_bytes, "bytes from 512 to 65536")
        self._max_token_bytes = max_token_bytes

        self._clock = clock
        self._revocations = RevocationList(store, issuer=self._issuer)
        self._header_cache: dict[str, tuple[SigningKey, TokenKind]] = {}
        self._header_cache_version = keys.version
        self._signing_headers: dict[tuple[str, TokenKind], str] = {}

    def __repr__(self) -> str:
        return (
            f"TokenService(issuer={self._issuer!r}, audience={sorted(self._audiences)!r}, "
            f"keys={self._keys!r}, store={self._store!r})"
        )

    @property
    def keys(self) -> KeyRing:
        """The key ring this service signs and verifies with."""
        return self._keys

    # Issuing.

    def issue(
        self,
        subject: str,
        *,
        scopes: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> TokenPair:
        """Issue a new access and refresh token pair for ``subject``, starting a new family.

        ``scopes`` become the space-separated ``scope`` claim (RFC 9068,
        section 2.2.3). ``claims`` adds application claims to both tokens;
        they must be JSON values and may not reuse a registered claim name.
        """
        _require_text(subject, "subject")
        scope_set = _check_scopes(scopes)
        extra = _check_extra_claims(claims)
        family_id = _new_id()
        access, refresh = self._plan_pair(subject, scope_set, family_id, extra, self._clock())
        pair = self._sign_pair(access, refresh)
        logger.info("tokens issued family=%s kid=%s", family_id, self._keys.active.kid)
        return pair

    def _plan_pair(
        self,
        subject: str,
        scopes: frozenset[str],
        family_id: str,
        extra: Mapping[str, Any],
        now: float,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # iat keeps microseconds, so revoke_subject() catches every token
        # issued before it but not one issued a moment later in the same
        # second. nbf and exp are whole seconds; nbf is rounded down so it is
        # never in the future.
        issued_at = _to_microseconds(now)
        start = math.floor(now)

        def payload(ttl: int) -> dict[str, Any]:
            body: dict[str, Any] = {
                "iss": self._issuer,
                "sub": subject,
                "aud": self._audience_claim,
                "iat": issued_at,
                "nbf": start,
                "exp": start + ttl,
                "jti": _new_id(),
                "fid": family_id,
            }
            if scopes:
                body["scope"] = " ".join(sorted(scopes))
            body.update(extra)
            return body

        return payload(self._access_ttl), payload(self._refresh_ttl)

    def _sign_pair(self, access: dict[str, Any], refresh: dict[str, Any]) -> TokenPair:
        scope = access.get("scope")
        return TokenPair(
            access_token=self._encode(access, TokenKind.ACCESS),
            refresh_token=self._encode(refresh, TokenKind.REFRESH),
            subject=access["sub"],
            family_id=access["fid"],
            scopes=frozenset(scope.split()) if scope else frozenset(),
            access_expires_at=access["exp"],
            refresh_expires_at=refresh["exp"],
        )

    def _encode(self, payload: dict[str, Any], kind: TokenKind) -> str:
        key = self._keys.active
        header = self._signing_headers.get((key.kid, kind))
        if header is None:
            fields = {"alg": key.algorithm, "kid": key.kid, "typ": kind.value}
            header = b64url_encode(dumps_compact(fields))
            self._signing_headers[(key.kid, kind)] = header
        signing_input = f"{header}.{b64url_encode(dumps_compact(payload))}"
        return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"

    # Verifying.

    def verify(self, token: str, *, kind: TokenKind = TokenKind.ACCESS) -> Claims:
        """Verify ``token`` completely and return its claims, or raise.

        Raises :class:`~jivs_security.errors.InvalidToken` (with a ``reason``
        code) for a malformed, forged, mistyped or mis-addressed token,
        :class:`~jivs_security.errors.TokenExpired` past ``exp`` plus the
        leeway, :class:`~jivs_security.errors.TokenRevoked` when a revocation
        covers it, and :class:`~jivs_security.errors.StoreUnavailable` when
        the revocation state cannot be read. In that last case the token is
        never accepted.
        """
        payload, key, token_kind = self._decode(token, kind)
        claims = self._validate(payload, key, token_kind, self._clock())
        self._revocations.check(claims)
        return claims

    def _decode(
        self, token: str, expected: TokenKind | None
    ) -> tuple[dict[str, Any], SigningKey, TokenKind]:
        """Check size, form, header and signature; return the still unchecked payload."""
        if not isinstance(token, str):
            raise InvalidToken(
                f"Token rejected: expected a str, got {type(token).__name__}.",
                reason="malformed",
            )
        if len(token) > self._max_token_bytes:
            raise InvalidToken(
                f"Token rejected: it is {len(token)} characters long, over the limit of "
                f"{self._max_token_bytes}. Issue smaller tokens or raise max_token_bytes.",
                reason="too_large",
            )

        if not token.isascii():
            raise InvalidToken(
                "Token rejected: it contains characters outside ASCII, which base64url "
                "segments never do. Send the token exactly as it was issued.",
                reason="malformed",
            )

        segments = token.split(".")
        if len(segments) != 3:
            raise InvalidToken(
                f"Token rejected: it has {len(segments)} dot-separated segments; a compact JWS "
                "has 3 (header.payload.signature). Encrypted and JSON-serialised tokens are not "
                "accepted.",
                reason="malformed",
            )
        header_segment, payload_segment, signature_segment = segments

        if self._header_cache_version != self._keys.version:
            self._header_cache.clear()
            self._header_cache_version = self._keys.version
        cached = self._header_cache.get(header_segment)
        if cached is None:
            cached = self._read_header(header_segment)
            if len(self._header_cache) >= _HEADER_CACHE_SIZE:
                self._header_cache.clear()
            self._header_cache[header_segment] = cached
        key, token_kind = cached

        if expected is not None and token_kind is not expected:
            raise InvalidToken(
                f"Token rejected: its typ is {token_kind.value} ({token_kind.name.lower()} "
                f"token) but {expected.value} ({expected.name.lower()} token) is required here.",
                reason="wrong_type",
                claim="typ",
            )

        signature = b64url_decode(signature_segment, part="signature")
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)]
        key.verify_signature(signature, signing_input.encode("ascii"))
        payload = loads_object(b64url_decode(payload_segment, part="payload"), part="payload")
        return payload, key, token_kind

    def _read_header(self, segment: str) -> tuple[SigningKey, TokenKind]:
        header = loads_object(b64url_decode(segment, part="header"), part="header")

        algorithm = header.get("alg")
        if not isinstance(algorithm, str):
            raise _header_error("has no alg parameter", "missing_alg", "alg")
        if algorithm.lower() == "none":
            raise _header_error(
                "declares alg 'none'; unsigned tokens are never accepted", "alg_none", "alg"
            )

        carried = _KEY_CARRYING_HEADERS.intersection(header)
        if carried:
            names = ", ".join(sorted(carried))
            raise _header_error(
                f"carries key parameters ({names}); keys come only from the key ring",
                "key_in_header",
                sorted(carried)[0],
            )
        if "crit" in header:
            # RFC 7515, section 4.1.11: a recipient must reject a token whose
            # crit lists an extension it does not implement, and this service
            # implements none.
            raise _header_error("has a crit parameter with unsupported extensions", "crit", "crit")

        kid = header.get("kid")
        key = self._keys.verifying_key(kid) if isinstance(kid, str) else None
        if key is None:
            # The kid is not echoed: it is attacker-chosen text.
            raise _header_error(
                "names no key (kid) that this service verifies with; the key may have been retired",
                "unknown_kid",
                "kid",
            )
        if algorithm != key.algorithm:
            raise _header_error(
                f"declares alg {algorithm[:16]!r}, but its key is for {key.algorithm}",
                "alg_mismatch",
                "alg",
            )

        typ = header.get("typ")
        token_kind = _KINDS_BY_TYP.get(_media_type(typ)) if isinstance(typ, str) else None
        if token_kind is None:
            raise _header_error(
                f"has no typ of {TokenKind.ACCESS.value} or {TokenKind.REFRESH.value}",
                "wrong_type",
                "typ",
            )
        return key, token_kind

    def _validate(
        self, payload: dict[str, Any], key: SigningKey, kind: TokenKind, now: float
    ) -> Claims:
        expires_at = _required_numeric_date(payload, "exp")
        issued_at = _required_numeric_date(payload, "iat")
        not_before = _numeric_date(payload, "nbf")

        if payload.get("iss") != self._issuer:
            # Exact comparison: an issuer that merely contains, starts with
            # or differs in case from the expected one is rejected.
            raise _claim_error("iss", "issuer_mismatch", "does not match the expected issuer")

        audience = payload.get("aud")
        if isinstance(audience, str):
            audiences: tuple[str, ...] = (audience,)
        elif isinstance(audience, list) and audience and all(isinstance(a, str) for a in audience):
            audiences = tuple(audience)
        else:
            raise _claim_error(
                "aud", "invalid_claim", "is missing or not a string or list of strings"
            )
        if self._audiences.isdisjoint(audiences):
            raise _claim_error("aud", "audience_mismatch", "does not name this service's audience")

        subject = _string_claim(payload, "sub")
        token_id = _string_claim(payload, "jti")
        family_id = _string_claim(payload, "fid")
        scope = payload.get("scope", "")
        if not isinstance(scope, str):
            raise _claim_error("scope", "invalid_claim", "is not a space-separated string")

        if now > expires_at + self._leeway:
            raise TokenExpired(
                f"Token rejected: it expired at {expires_at:.0f}, {now - expires_at:.0f} s before "
                f"the check (leeway {self._leeway:.0f} s). Refresh it or sign in again.",
                expired_at=expires_at,
                checked_at=now,
                leeway=self._leeway,
            )
        if not_before is not None and not_before > now + self._leeway:
            raise _claim_error(
                "nbf", "not_yet_valid", "is in the future, so the token is not valid yet"
            )
        if issued_at > now + self._leeway:
            raise _claim_error("iat", "issued_in_future", "is in the future; check the clocks")

        return Claims(
            kind=kind,
            subject=subject,
            issuer=self._issuer,
            audience=audiences,
            issued_at=issued_at,
            not_before=not_before,
            expires_at=expires_at,
            token_id=token_id,
            family_id=family_id,
            scopes=frozenset(scope.split()),
            key_id=key.kid,
            extra={name: value for name, value in payload.items() if name not in REGISTERED_CLAIMS},
        )

    # Refreshing.

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair in the same family.

        The refresh token is consumed atomically: of any number of
        concurrent calls with one token, exactly one succeeds. A later use
        raises :class:`~jivs_security.errors.RefreshTokenReused` and revokes
        the family, access tokens included. A later use within
        ``refresh_grace`` seconds of the first instead returns the same
        successor pair again.
        """
        payload, key, kind = self._decode(refresh_token, TokenKind.REFRESH)
        now = self._clock()
        claims = self._validate(payload, key, kind, now)
        revoked, earlier = self._revocations.lookup(claims, include_use=True)

        if earlier is None:
            if revoked is not None:
                raise revoked
            access, refresh = self._plan_pair(
                claims.subject, claims.scopes, claims.family_id, claims.extra, now
            )
            # The successor's claims are stored only when a grace window may
            # need them again: they can include application claims.
            used: dict[str, Any] = {"used_at": now}
            if self._refresh_grace:
                used.update(access=access, refresh=refresh)
            # Keep the marker until the old refresh token could no longer be
            # accepted anyway.
            marker_ttl = max(1.0, claims.expires_at + self._leeway - now)
            earlier = self._revocations.consume(
                claims.subject, claims.token_id, dumps_compact(used), ttl=marker_ttl
            )
            if earlier is None:
                logger.info("tokens refreshed family=%s jti=%s", claims.family_id, claims.token_id)
                return self._sign_pair(access, refresh)

        # The token was exchanged before, by this client or by a thief.
        if self._refresh_grace and earlier and revoked is None:
            first = json.loads(earlier)
            if "access" in first and now - float(first["used_at"]) <= self._refresh_grace:
                logger.info("refresh retried within grace family=%s", claims.family_id)
                return self._sign_pair(first["access"], first["refresh"])

        self._revocations.revoke_family(
            claims.subject, claims.family_id, ttl=self._refresh_ttl + self._leeway
        )
        logger.warning(
            "refresh token reused; family revoked family=%s jti=%s",
            claims.family_id,
            claims.token_id,
        )
        raise RefreshTokenReused(
            "Refresh token rejected: it was already exchanged, so it may have been stolen. "
            f"Every token of its family ({claims.family_id}) is now revoked; sign in again.",
            token_id=claims.token_id,
            family_id=claims.family_id,
        )

    # Revoking.

    def revoke(self, token: str) -> None:
        """Revoke a token this service issued, following RFC 7009, section 2.1.

        An access token is blocked by its ``jti`` until it would have expired.
        A refresh token revokes its whole family, so the access tokens issued
        with it stop working too. An already expired token needs nothing and
        is ignored; a forged or malformed one raises
        :class:`~jivs_security.errors.InvalidToken`.
        """
        payload, key, kind = self._decode(token, None)
        now = self._clock()
        try:
            claims = self._validate(payload, key, kind, now)
        except TokenExpired:
            return

        if kind is TokenKind.REFRESH:
            self._revocations.revoke_family(
                claims.subject, claims.family_id, ttl=self._refresh_ttl + self._leeway
            )
            logger.info("token family revoked family=%s", claims.family_id)
        else:
            ttl = max(1.0, claims.expires_at + self._leeway - now)
            self._revocations.revoke_token(claims.subject, claims.token_id, ttl=ttl)
            logger.info("token revoked jti=%s", claims.token_id)

    def revoke_subject(self, subject: str) -> None:
        """Revoke every token issued to ``subject`` until now, in O(1).

        Tokens issued afterwards are unaffected. The entry lasts until the
        longest-lived of the revoked tokens would have expired.
        """
        _require_text(subject, "subject")
        ttl = max(self._access_ttl, self._refresh_ttl) + self._leeway
        self._revocations.revoke_subject(subject, at=_to_microseconds(self._clock()), ttl=ttl)
        logger.info("subject revoked")


def _to_microseconds(now: float) -> float:
    # Below 2**53 microseconds (the year 2255) the result is exact in a double.
    return math.floor(now * 1_000_000) / 1_000_000


def _new_id() -> str:
    # 128 random bits, so that two ids collide with negligible probability, as
    # RFC 7519, section 4.1.7 requires of jti values.
    return secrets.token_urlsafe(16)


def _media_type(typ: str) -> str:
    # RFC 7515, section 4.1.9: typ is compared case-insensitively and the
    # "application/" prefix may be left out.
    lowered = typ.lower()
    return lowered.removeprefix("application/")


def _numeric_date(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        if name in payload:
            raise _claim_error(name, "invalid_claim", "is null instead of a JSON number")
        return None
    # bool is a subclass of int in Python, but true is not a JSON number.
    if type(value) not in (int, float) or not 0 <= value < _MAX_NUMERIC_DATE:
        raise _claim_error(
            name, "invalid_claim", "must be a JSON number of seconds since the epoch (RFC 7519)"
        )
    return float(value)


def _required_numeric_date(payload: Mapping[str, Any], name: str) -> float:
    value = _numeric_date(payload, name)
    if value is None:
        raise _claim_error(name, "missing_claim", "is missing")
    return value


def _string_claim(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise _claim_error(name, "missing_claim", "is missing or not a non-empty string")
    return value


def _claim_error(claim: str, reason: str, problem: str) -> InvalidToken:
    return InvalidToken(f"Token rejected: its {claim} claim {problem}.", reason=reason, claim=claim)


def _header_error(problem: str, reason: str, parameter: str) -> InvalidToken:
    return InvalidToken(f"Token rejected: its header {problem}.", reason=reason, claim=parameter)


def _bad_setting(setting: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}",
        setting=setting,
        expected=expected,
        value=value,
    )


def _require_text(value: object, setting: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise _bad_setting(setting, value, "a non-empty string of at most 1024 characters")
    return value


def _require_whole_seconds(value: object, setting: str) -> int:
    if type(value) is not int or value < 1:
        raise _bad_setting(setting, value, "a whole number of seconds, at least 1")
    return value


def _check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    if isinstance(scopes, str):
        raise _bad_setting("scopes", scopes, "a list of scope strings, not one string")
    result = frozenset(scopes)
    for scope in result:
        if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
            raise _bad_setting(
                "scopes", scope, "scope tokens of printable ASCII without spaces, quotes or '\\'"
            )
    return result


def _check_extra_claims(claims: Mapping[str, Any] | None) -> dict[str, Any]:
    if not claims:
        return {}
    reserved = REGISTERED_CLAIMS.intersection(claims)
    if reserved:
        raise _bad_setting(
            "claims", sorted(reserved), "application claims that reuse no registered claim name"
        )
    try:
        # Round-trip through JSON so that only JSON values are accepted and
        # the stored copy cannot change after issue.
        result: dict[str, Any] = json.loads(dumps_compact(dict(claims)))
    except (TypeError, ValueError) as exc:
        raise _bad_setting("claims", type(exc).__name__, "JSON-serialisable values") from None
    return result
