"""Signing keys for JWTs: one key per algorithm, identified by its RFC 7638 thumbprint."""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import time
from typing import Any, Final, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from jivs_security.errors import ConfigurationError, InvalidToken, KeyRingError
from jivs_security.tokens._jose import b64url_encode

__all__ = ["ALGORITHMS", "KeyState", "SigningKey"]

ALGORITHMS: Final = ("EdDSA", "ES256", "RS256", "HS256")

# RFC 7518, section 3.2: an HS256 key must be at least as long as the hash
# output, 256 bits.
MIN_HMAC_KEY_BYTES: Final = 32

# RFC 7518, section 3.3 sets 2048 bits as the minimum for RS256. New keys get
# 3072 bits, which NIST SP 800-57 Part 1 Rev. 5 (table 2) rates at 128-bit
# security, the level it requires for use beyond 2030.
MIN_RSA_BITS: Final = 2048
GENERATED_RSA_BITS: Final = 3072

# The order of the P-256 group (SEC 2, section 2.4.2). For every ECDSA
# signature (r, s), (r, n - s) verifies too. Signing emits only the low s
# and verification rejects the high one, so a token has one valid spelling.
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# RFC 7638, section 3.2: the members hashed for each key type, in
# lexicographic order.
_THUMBPRINT_MEMBERS: Final = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}

_KEY_TYPES: Final = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA", "HS256": "oct"}

_PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | bytes
_PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey | bytes


class KeyState(enum.Enum):
    """The stage of a key's life: published, signing, verifying only, or done."""

    #: Published in the JWKS and accepted for verification, but not signing
    #: yet, so relying parties can fetch it before the first token uses it.
    NEXT = "next"
    #: The one key that signs new tokens; it verifies too.
    ACTIVE = "active"
    #: Signed earlier tokens and keeps verifying them until they expire.
    VERIFY_ONLY = "verify-only"
    #: Neither signs nor verifies; kept only until removed.
    RETIRED = "retired"


VERIFYING_STATES: Final = frozenset({KeyState.NEXT, KeyState.ACTIVE, KeyState.VERIFY_ONLY})


def thumbprint(jwk: dict[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a JWK, base64url encoded."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _invalid_key(message: str) -> KeyRingError:
    return KeyRingError(f"{message}. Generate a new key with KeyRing.generate() or rotate().")


class SigningKey:
    """A private key (or HMAC secret) with its algorithm, key id and state.

    The key id (``kid``) is the RFC 7638 thumbprint of the public key, so it
    is stable, derived from the key itself and never chosen by a token. The
    key material is never shown by ``repr`` or ``str``.
    """

    __slots__ = ("_private", "_public", "algorithm", "created_at", "kid", "state")

    def __init__(
        self,
        algorithm: str,
        private_key: _PrivateKey,
        *,
        state: KeyState = KeyState.ACTIVE,
        created_at: float | None = None,
    ) -> None:
        self.algorithm = algorithm
        self._private = private_key
        self._public = _check_key(algorithm, private_key)
        self.state = state
        self.created_at = time.time() if created_at is None else created_at
        self.kid = thumbprint(self._jwk(private=False))

    @classmethod
    def generate(cls, algorithm: str = "EdDSA", *, state: KeyState = KeyState.ACTIVE) -> SigningKey:
        """Create a new random key for ``algorithm``: EdDSA, ES256, RS256 or HS256."""
        private: _PrivateKey
        if algorithm == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_RSA_BITS)
        elif algorithm == "HS256":
            private = hmac_secret_generate()
        else:
            raise _unsupported_algorithm(algorithm)
        return cls(algorithm, private, state=state)

    @classmethod
    def from_secret(cls, secret: bytes, *, state: KeyState = KeyState.ACTIVE) -> SigningKey:
        """Wrap an HS256 secret of at least 32 random bytes."""
        return cls("HS256", secret, state=state)

    @classmethod
    def from_pem(
        cls,
        pem: bytes,
        *,
        password: bytes | None = None,
        state: KeyState = KeyState.ACTIVE,
    ) -> SigningKey:
        """Load a PEM private key; the algorithm follows from its type (Ed25519, P-256 or RSA)."""
        try:
            private = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as exc:
            raise KeyRingError(f"cannot load the PEM private key: {exc}") from None

        if isinstance(private, ed25519.Ed25519PrivateKey):
            return cls("EdDSA", private, state=state)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            return cls("ES256", private, state=state)
        if isinstance(private, rsa.RSAPrivateKey):
            return cls("RS256", private, state=state)
        raise _invalid_key(f"a {type(private).__name__} cannot sign JWTs here")

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> SigningKey:
        """Load a private JWK as written by :meth:`to_private_jwk`, checking its ``kid``."""
        algorithm = jwk.get("alg")
        if algorithm not in _KEY_TYPES:
            raise _invalid_key(
                f"JWK has unsupported alg {algorithm!r}; expected one of {ALGORITHMS}"
            )
        if jwk.get("kty") != _KEY_TYPES[algorithm]:
            raise _invalid_key(f"JWK for {algorithm} must have kty {_KEY_TYPES[algorithm]!r}")

        members = {name: jwk[name] for name in jwk if not name.startswith("jivs_")}
        codec = _CODECS[algorithm]
        try:
            private = cast(_PrivateKey, codec.from_jwk(members))
        except Exception as exc:  # noqa: BLE001  (PyJWT raises several unrelated types)
            raise _invalid_key(f"JWK for {algorithm} is invalid ({type(exc).__name__})") from None
        if algorithm != "HS256" and not hasattr(private, "sign"):
            raise _invalid_key(
                f"JWK for {algorithm} contains a public key only; a private key is needed"
            )

        try:
            state = KeyState(jwk.get("jivs_state", KeyState.VERIFY_ONLY.value))
        except ValueError:
            raise _invalid_key(f"JWK has unknown jivs_state {jwk.get('jivs_state')!r}") from None
        created_at = jwk.get("jivs_created")
        if created_at is not None and not isinstance(created_at, int | float):
            raise _invalid_key("JWK member jivs_created must be a number")

        key = cls(algorithm, private, state=state, created_at=created_at)
        if "kid" in jwk and jwk["kid"] != key.kid:
            raise _invalid_key(
                "JWK kid does not match the RFC 7638 thumbprint of its key; "
                "the key file was edited or corrupted"
            )
        return key

    def __repr__(self) -> str:
        return (
            f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r}, "
            f"state={self.state.value!r})"
        )

    @property
    def is_symmetric(self) -> bool:
        """Whether this is an HMAC secret, which must never be published."""
        return self.algorithm == "HS256"

    def public_jwk(self) -> dict[str, Any]:
        """Return the public JWK with ``kid``, ``alg`` and ``use``; HMAC keys have none."""
        if self.is_symmetric:
            raise KeyRingError(
                f"key {self.kid} is an HMAC secret and has no public form; "
                "publish asymmetric keys (EdDSA, ES256 or RS256) in a JWKS instead"
            )
        return {**self._jwk(private=False), "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def to_private_jwk(self) -> dict[str, Any]:
        """Return the private JWK with this library's state members, for a key file."""
        return {
            **self._jwk(private=True),
            "kid": self.kid,
            "alg": self.algorithm,
            "use": "sig",
            "jivs_state": self.state.value,
            "jivs_created": int(self.created_at),
        }

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the JWS signature bytes (RFC 7518, section 3)."""
        private = self._private
        if isinstance(private, bytes):
            return hmac.digest(private, data, "sha256")
        if isinstance(private, ed25519.Ed25519PrivateKey):
            return private.sign(data)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            # JWS carries ECDSA signatures as fixed-size R || S (RFC 7518,
            # section 3.4), while cryptography produces DER.
            r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
            s = min(s, _P256_ORDER - s)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def verify_signature(self, signature: bytes, data: bytes) -> None:
        """Check ``signature`` over ``data``; raise :class:`InvalidToken` if it does not match."""
        public = self._public
        try:
            if isinstance(public, bytes):
                if hmac.compare_digest(hmac.digest(public, data, "sha256"), signature):
                    return
                raise InvalidSignature
            if isinstance(public, ed25519.Ed25519PublicKey):
                public.verify(signature, data)
            elif isinstance(public, ec.EllipticCurvePublicKey):
                if len(signature) != 64:
                    raise InvalidSignature
                r = int.from_bytes(signature[:32], "big")
                s = int.from_bytes(signature[32:], "big")
                if s > _P256_ORDER // 2:
                    raise InvalidSignature
                public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            else:
                public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise InvalidToken(
                "Token rejected: the signature does not match the header and payload. "
                "The token was altered or signed with another key; obtain a new token.",
                reason="bad_signature",
                claim="signature",
            ) from None

    def _jwk(self, *, private: bool) -> dict[str, Any]:
        codec = _CODECS[self.algorithm]
        key = self._private if private else self._public
        return cast(dict[str, Any], codec.to_jwk(key, as_dict=True))


def hmac_secret_generate() -> bytes:
    """Return a new random HS256 secret of the minimum length."""
    import secrets  # noqa: PLC0415  (only needed here)

    return secrets.token_bytes(MIN_HMAC_KEY_BYTES)


# PyJWT's algorithm classes convert keys to and from JWK form; signing and
# verifying call cryptography directly, as above.
_CODECS: Final[dict[str, Any]] = {
    "EdDSA": OKPAlgorithm,
    "ES256": ECAlgorithm,
    "RS256": RSAAlgorithm,
    "HS256": HMACAlgorithm,
}


def _unsupported_algorithm(algorithm: object) -> ConfigurationError:
    return ConfigurationError(
        f"unsupported JWT algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}",
        setting="algorithm",
        expected=f"one of {ALGORITHMS}",
        value=algorithm,
    )


def _check_key(algorithm: str, private: _PrivateKey) -> _PublicKey:
    """Check that ``private`` suits ``algorithm`` and return its public half."""
    if algorithm not in _KEY_TYPES:
        raise _unsupported_algorithm(algorithm)

    if algorithm == "HS256":
        if not isinstance(private, bytes):
            raise _invalid_key("an HS256 key must be bytes")
        if len(private) < MIN_HMAC_KEY_BYTES:
            # The length is safe to show; the secret is not.
            raise ConfigurationError(
                f"HS256 secret is {len(private)} bytes, below the minimum of {MIN_HMAC_KEY_BYTES} "
                "(RFC 7518, section 3.2); generate one with secrets.token_bytes(32)",
                setting="secret",
                expected=f"at least {MIN_HMAC_KEY_BYTES} random bytes",
            )
        return private

    if algorithm == "EdDSA" and isinstance(private, ed25519.Ed25519PrivateKey):
        return private.public_key()
    if algorithm == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey):
        if not isinstance(private.curve, ec.SECP256R1):
            raise _invalid_key(f"an ES256 key must be on P-256, not {private.curve.name}")
        return private.public_key()
    if algorithm == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < MIN_RSA_BITS:
            raise _invalid_key(
                f"RSA key is {private.key_size} bits, below the minimum of {MIN_RSA_BITS} "
                "(RFC 7518, section 3.3)"
            )
        return private.public_key()
    raise _invalid_key(f"a {type(private).__name__} does not fit algorithm {algorithm}")
