"""Regression tests for known JWT attacks, one group per attack class.

Each token is built by hand with the helpers below: the JSON, the base64url
and the signature come from ``json``, ``base64``, ``hmac`` and
``cryptography``, never from ``TokenService``, so a test can change exactly
one thing about an otherwise valid token. The verifier runs on a fixed
clock, so time checks are exact to the second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from jivs_security.errors import InvalidToken, TokenExpired
from jivs_security.stores import MemoryStore
from jivs_security.tokens import KeyRing, SigningKey, TokenKind, TokenService

# Forging: tokens and key material built without the token service.

# Signs a JWS signing input (``header.payload`` as bytes) and returns the raw signature.
Signer = Callable[[bytes], bytes]

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# The content of a header or payload: a mapping is serialised as compact
# JSON, and bytes are encoded exactly as given.
TokenPart = Mapping[str, object] | bytes


def b64url(data: bytes) -> str:
    """Encode ``data`` as base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode a canonical unpadded base64url segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def json_text(value: object) -> str:
    """Serialise ``value`` as compact JSON text."""
    return json.dumps(value, separators=(",", ":"))


def raw_object(members: Iterable[tuple[str, str]]) -> bytes:
    """Write a JSON object from ``(name, value)`` pairs exactly as given, duplicates included.

    Each name is put between quotes unchanged, so it may contain JSON escapes,
    and each value must already be JSON text.
    """
    body = ",".join(f'"{name}":{value}' for name, value in members)
    return ("{" + body + "}").encode("utf-8")


def members(value: Mapping[str, object]) -> list[tuple[str, str]]:
    """Return the members of ``value`` as ``(name, JSON text)`` pairs for :func:`raw_object`."""
    return [(name, json_text(member)) for name, member in value.items()]


def encode_part(part: TokenPart) -> str:
    """Return the base64url segment for a header or payload."""
    data = part if isinstance(part, bytes) else json_text(dict(part)).encode("utf-8")
    return b64url(data)


def sign_segments(header_segment: str, payload_segment: str, signer: Signer | None) -> str:
    """Join two segments and their signature into a compact token.

    The signing input is the UTF-8 encoding of ``header.payload``, so segments
    that are not valid base64url can still carry a real signature. With no
    ``signer`` the signature segment is empty.
    """
    signing_input = f"{header_segment}.{payload_segment}"
    if signer is None:
        return f"{signing_input}."
    return f"{signing_input}.{b64url(signer(signing_input.encode('utf-8')))}"


def forge(header: TokenPart, payload: TokenPart, signer: Signer | None) -> str:
    """Build a compact JWS from a header and payload, signed by ``signer``."""
    return sign_segments(encode_part(header), encode_part(payload), signer)


def hs256(secret: bytes) -> Signer:
    """Return a signer computing HMAC-SHA256 with ``secret``."""

    def sign(data: bytes) -> bytes:
        return hmac.digest(secret, data, hashlib.sha256)

    return sign


def eddsa(key: ed25519.Ed25519PrivateKey) -> Signer:
    """Return a signer computing Ed25519 signatures (RFC 8037)."""
    return key.sign


# The order n of the P-256 group (SEC 2, section 2.4.2).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def es256(key: ec.EllipticCurvePrivateKey, *, high_s: bool = False) -> Signer:
    """Return a signer computing ECDSA P-256 signatures in JWS form, R || S (RFC 7518, 3.4).

    The signer emits the low form of s (s <= n / 2), or the high form n - s
    when ``high_s`` is set; both verify under plain ECDSA.
    """

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        low = min(s, P256_ORDER - s)
        chosen = P256_ORDER - low if high_s else low
        return r.to_bytes(32, "big") + chosen.to_bytes(32, "big")

    return sign


def rs256(key: rsa.RSAPrivateKey) -> Signer:
    """Return a signer computing RSASSA-PKCS1-v1_5 SHA-256 signatures."""

    def sign(data: bytes) -> bytes:
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    return sign


def signer_for(algorithm: str, key: PrivateKey | bytes) -> Signer:
    """Return the signer for ``key`` under JWS ``algorithm``."""
    if algorithm == "HS256" and isinstance(key, bytes):
        return hs256(key)
    if algorithm == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        return eddsa(key)
    if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        return es256(key)
    if algorithm == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        return rs256(key)
    raise ValueError(f"no {algorithm} signer for a {type(key).__name__}")


def padded(segment: str) -> str:
    """Return ``segment`` with the ``=`` padding of standard base64."""
    return segment + "=" * (-len(segment) % 4)


def with_trailing_bits(segment: str) -> str:
    """Set an unused low bit in the last character, giving another text for the same bytes.

    Raises ``ValueError`` when the segment length is a multiple of 4, because
    then the last character has no unused bits.
    """
    if len(segment) % 4 == 0:
        raise ValueError("a segment whose length is a multiple of 4 has no unused bits")
    last = BASE64URL_ALPHABET.index(segment[-1])
    return segment[:-1] + BASE64URL_ALPHABET[last | 1]


def flip_bit(segment: str, byte_index: int) -> str:
    """Flip the lowest bit of one decoded byte and re-encode the segment canonically."""
    data = bytearray(b64url_decode(segment))
    data[byte_index] ^= 1
    return b64url(bytes(data))


def okp_public_jwk(key: ed25519.Ed25519PrivateKey) -> dict[str, str]:
    """Return the public JWK of an Ed25519 key (RFC 8037, section 2), without kid."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def okp_thumbprint(key: ed25519.Ed25519PrivateKey) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of an Ed25519 key, the usual kid."""
    jwk = okp_public_jwk(key)
    canonical = json_text({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]})
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def self_signed_certificate(key: ed25519.Ed25519PrivateKey) -> x509.Certificate:
    """Return a self-signed certificate for ``key``, valid from 2023 to 2033."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth.example")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2023, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2033, 1, 1, tzinfo=UTC))
    )
    return builder.sign(key, None)


def public_key_member(key: PrivateKey) -> bytes:
    """Return the decoded main JWK member of the public key: ``x`` for OKP and EC, ``n`` for RSA."""
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return public.public_numbers().x.to_bytes(32, "big")
    modulus = public.public_numbers().n
    return modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")


# The service under attack.

ISSUER = "https://auth.example"
AUDIENCE = "api"

# Seconds since the epoch on the verifier's fixed clock, and its clock leeway.
NOW = 1_700_000_000
LEEWAY = 30

# Fixed key material, so that EdDSA and HS256 tokens are the same on every
# run. ES256 signatures use a random nonce, and cryptography cannot derive an
# RSA key from a seed, so ES256 and RS256 tokens differ between runs.
ED25519_SEED = bytes(range(32))
ATTACKER_ED25519_SEED = bytes(range(32, 64))
P256_SECRET = 0x3B1F_9C2D_44A0_7E51_0D6B_82F3_19C4_5A7E_2F60_B8D1_4C93_E07A_6B25_D14F_8A3C_90E6
HMAC_SECRET = bytes(range(100, 132))

# Marks a header parameter or claim to leave out of a token.
ABSENT: Any = object()


def claims(**changes: Any) -> dict[str, Any]:
    """Return a payload the verifier accepts, with ``changes`` applied."""
    payload = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 600,
        "jti": "token-1",
        "fid": "family-1",
    }
    return _apply(payload, changes)


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = {**base, **changes}
    return {name: value for name, value in result.items() if value is not ABSENT}


@dataclass(frozen=True)
class Target:
    """A token service whose ring contains one key, and a signer for that key."""

    service: TokenService
    algorithm: str
    kid: str
    sign: Signer

    def header(self, **changes: Any) -> dict[str, Any]:
        """Return the header of a valid access token, with ``changes`` applied."""
        return _apply({"alg": self.algorithm, "kid": self.kid, "typ": "at+jwt"}, changes)

    def token(
        self,
        header: dict[str, Any] | bytes | None = None,
        payload: dict[str, Any] | bytes | None = None,
    ) -> str:
        """Return a token signed by the ring's key, valid unless a part is given."""
        return forge(
            self.header() if header is None else header,
            claims() if payload is None else payload,
            self.sign,
        )

    def signed(self, header_segment: str, payload_segment: str) -> str:
        """Return the two segments with a real signature by the ring's key."""
        return sign_segments(header_segment, payload_segment, self.sign)


@pytest.fixture(scope="module")
def asymmetric_keys() -> dict[str, PrivateKey]:
    """One private key per asymmetric algorithm."""
    return {
        "EdDSA": ed25519.Ed25519PrivateKey.from_private_bytes(ED25519_SEED),
        "ES256": ec.derive_private_key(P256_SECRET, ec.SECP256R1()),
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture(scope="module")
def private_keys(asymmetric_keys: dict[str, PrivateKey]) -> dict[str, PrivateKey | bytes]:
    """One private key per algorithm, the HS256 secret included."""
    return {**asymmetric_keys, "HS256": HMAC_SECRET}


@pytest.fixture
def build_target(
    private_keys: dict[str, PrivateKey | bytes],
) -> Iterator[Callable[..., Target]]:
    """A factory of targets by algorithm that passes keyword arguments to ``TokenService``."""
    stores: list[MemoryStore] = []

    def build(algorithm: str, **options: Any) -> Target:
        private = private_keys[algorithm]
        signing_key = SigningKey(algorithm, private)
        store = MemoryStore()
        stores.append(store)
        service = TokenService(
            KeyRing([signing_key]),
            store,
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway=LEEWAY,
            clock=lambda: float(NOW),
            **options,
        )
        return Target(service, algorithm, signing_key.kid, signer_for(algorithm, private))

    yield build

    for store in stores:
        store.close()


@pytest.fixture
def target(build_target: Callable[..., Target]) -> Target:
    """A service with one EdDSA key."""
    return build_target("EdDSA")


@pytest.fixture(scope="module")
def attacker_key() -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key that the service does not know."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(ATTACKER_ED25519_SEED)


def test_valid_forged_token_accepted(target: Target) -> None:
    """The unchanged hand-made token verifies, so each attack below changes only its own part."""
    token = target.token()

    verified = target.service.verify(token)

    assert verified.subject == "alice"
    assert verified.key_id == target.kid


# alg "none".


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signed", [False, True], ids=["empty-signature", "ring-signature"])
def test_alg_none_rejected(target: Target, alg: str, signed: bool) -> None:
    """A header with alg none is rejected in any letter case, with or without a signature."""
    token = forge(target.header(alg=alg), claims(), target.sign if signed else None)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "alg_none"
    assert caught.value.claim == "alg"


# Key confusion: an HMAC signature keyed with the public key.


def public_key_bytes(key: PrivateKey, encoding: str) -> bytes:
    """Return the public half of ``key`` in a form an attacker may use as an HMAC secret."""
    if encoding == "pem":
        return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    if encoding == "der":
        return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if encoding == "jwk-member":
        return public_key_member(key)
    return b64url(public_key_member(key)).encode("ascii")


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
@pytest.mark.parametrize("encoding", ["pem", "der", "jwk-member", "jwk-member-text"])
def test_hs256_keyed_with_public_key_rejected(
    build_target: Callable[..., Target],
    asymmetric_keys: dict[str, PrivateKey],
    algorithm: str,
    encoding: str,
) -> None:
    """An HS256 token whose HMAC key is the ring's public key is rejected for its kid."""
    target = build_target(algorithm)
    secret = public_key_bytes(asymmetric_keys[algorithm], encoding)
    token = forge(target.header(alg="HS256"), claims(), hs256(secret))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "alg_mismatch"
    assert caught.value.claim == "alg"


# A header alg that differs from the key's algorithm.


@pytest.mark.parametrize(
    ("key_algorithm", "header_alg"),
    [
        ("EdDSA", "ES256"),
        ("EdDSA", "RS256"),
        ("EdDSA", "Ed25519"),
        ("EdDSA", "eddsa"),
        ("ES256", "EdDSA"),
        ("ES256", "ES384"),
        ("RS256", "PS256"),
        ("RS256", "RS512"),
        ("HS256", "RS256"),
        ("HS256", "HS512"),
        ("HS256", "hs256"),
    ],
)
def test_header_alg_differs_from_key_rejected(
    build_target: Callable[..., Target], key_algorithm: str, header_alg: str
) -> None:
    """A header alg other than the kid's algorithm is rejected though the key signed the token."""
    target = build_target(key_algorithm)
    token = target.token(header=target.header(alg=header_alg))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "alg_mismatch"
    assert caught.value.claim == "alg"


@pytest.mark.parametrize(
    "alg", [ABSENT, None, 256, ["EdDSA"]], ids=["missing", "null", "number", "list"]
)
def test_alg_missing_or_not_string_rejected(target: Target, alg: object) -> None:
    """A header without a string alg is rejected."""
    token = target.token(header=target.header(alg=alg))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "missing_alg"
    assert caught.value.claim == "alg"


# Hostile and missing kid values.


@pytest.mark.parametrize(
    "kid",
    ["../../etc/passwd", "/dev/null", "' OR 1=1 --", "k\x00id"],
    ids=["path-traversal", "dev-null", "sql", "nul-byte"],
)
def test_hostile_kid_rejected_without_echo(target: Target, kid: str) -> None:
    """A kid holding a path or query is an unknown kid, and the message does not repeat it."""
    token = target.token(header=target.header(kid=kid))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "unknown_kid"
    assert caught.value.claim == "kid"
    assert kid not in str(caught.value)


@pytest.mark.parametrize(
    "make_kid",
    [
        lambda kid: ABSENT,
        lambda kid: None,
        lambda kid: 42,
        lambda kid: True,
        lambda kid: [kid],
        lambda kid: {"kid": kid},
        lambda kid: "",
        lambda kid: kid.upper(),
        lambda kid: kid + "=",
    ],
    ids=["missing", "null", "number", "bool", "list", "object", "empty", "upper-case", "padded"],
)
def test_kid_not_matching_ring_rejected(target: Target, make_kid: Callable[[str], object]) -> None:
    """A kid that is missing, not a string or only resembles the ring's kid is unknown."""
    token = target.token(header=target.header(kid=make_kid(target.kid)))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "unknown_kid"
    assert caught.value.claim == "kid"


# Keys carried in or pointed to by the header.


@dataclass
class KeyServer:
    """A loopback HTTP server offering the attacker's keys, recording each requested path."""

    url: str
    requests: list[str]


@pytest.fixture
def key_server(attacker_key: ed25519.Ed25519PrivateKey) -> Iterator[KeyServer]:
    """Serve the attacker's JWK set and certificate on 127.0.0.1, as a jku or x5u target would."""
    documents = {
        "/jwks.json": json_text({"keys": [okp_public_jwk(attacker_key)]}).encode("ascii"),
        "/cert.pem": self_signed_certificate(attacker_key).public_bytes(Encoding.PEM),
    }
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = documents.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep request lines out of the test output; ``requests`` records them."""

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    yield KeyServer(url=f"http://127.0.0.1:{server.server_port}", requests=requests)

    server.shutdown()
    server.server_close()
    thread.join()


def key_parameter(name: str, key: ed25519.Ed25519PrivateKey, server: KeyServer) -> object:
    """Return the header value of key parameter ``name`` that points to or carries ``key``."""
    if name == "jku":
        return f"{server.url}/jwks.json"
    if name == "x5u":
        return f"{server.url}/cert.pem"
    if name == "jwk":
        return okp_public_jwk(key)
    der = self_signed_certificate(key).public_bytes(Encoding.DER)
    return [base64.b64encode(der).decode("ascii")]


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_header_key_rejected_though_it_verifies(
    target: Target,
    attacker_key: ed25519.Ed25519PrivateKey,
    key_server: KeyServer,
    name: str,
) -> None:
    """A token signed by a key its header carries or links to is rejected, and no URL is fetched."""
    header = target.header(kid=okp_thumbprint(attacker_key))
    header[name] = key_parameter(name, attacker_key, key_server)
    token = forge(header, claims(), eddsa(attacker_key))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "key_in_header"
    assert caught.value.claim == name
    assert key_server.requests == []


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_header_key_rejected_beside_ring_kid(
    target: Target,
    attacker_key: ed25519.Ed25519PrivateKey,
    key_server: KeyServer,
    name: str,
) -> None:
    """A key parameter is rejected even when the ring's kid names the key that signed the token."""
    header = target.header()
    header[name] = key_parameter(name, attacker_key, key_server)
    token = target.token(header=header)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "key_in_header"
    assert caught.value.claim == name
    assert key_server.requests == []


# Time: exp, nbf and iat against the clock and its leeway.


@pytest.mark.parametrize("past_leeway", [1, 0.5])
def test_expired_past_leeway_rejected(target: Target, past_leeway: float) -> None:
    """A token whose exp plus the leeway lies before now is expired."""
    expires_at = NOW - LEEWAY - past_leeway
    token = target.token(payload=claims(exp=expires_at))

    with pytest.raises(TokenExpired) as caught:
        target.service.verify(token)

    assert caught.value.reason == "expired"
    assert caught.value.claim == "exp"
    assert caught.value.expired_at == expires_at
    assert caught.value.checked_at == NOW
    assert caught.value.leeway == LEEWAY


@pytest.mark.parametrize(
    ("claim", "value", "attribute"),
    [
        ("exp", NOW - LEEWAY, "expires_at"),
        ("nbf", NOW + LEEWAY, "not_before"),
        ("iat", NOW + LEEWAY, "issued_at"),
    ],
    ids=["exp", "nbf", "iat"],
)
def test_time_claim_at_leeway_boundary_accepted(
    target: Target, claim: str, value: int, attribute: str
) -> None:
    """A time claim exactly at the leeway boundary is still accepted."""
    token = target.token(payload=claims(**{claim: value}))

    verified = target.service.verify(token)

    assert getattr(verified, attribute) == value


@pytest.mark.parametrize(
    ("claim", "reason"),
    [("nbf", "not_yet_valid"), ("iat", "issued_in_future")],
)
def test_future_nbf_or_iat_rejected(target: Target, claim: str, reason: str) -> None:
    """An nbf or iat one second beyond now plus the leeway is rejected."""
    token = target.token(payload=claims(**{claim: NOW + LEEWAY + 1}))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == reason
    assert caught.value.claim == claim


# NumericDate claims of the wrong JSON type or out of range.


@pytest.mark.parametrize(
    ("claim", "raw_value", "reason"),
    [
        pytest.param("exp", None, "missing_claim", id="exp-missing"),
        pytest.param("exp", '"9999999999"', "invalid_claim", id="exp-string"),
        pytest.param("exp", "true", "invalid_claim", id="exp-true"),
        pytest.param("exp", "null", "invalid_claim", id="exp-null"),
        pytest.param("exp", str(2**60), "invalid_claim", id="exp-2-pow-60"),
        pytest.param("exp", str(2**53), "invalid_claim", id="exp-2-pow-53"),
        pytest.param("exp", "1e400", "invalid_claim", id="exp-overflows-to-inf"),
        pytest.param("exp", "-1", "invalid_claim", id="exp-negative"),
        pytest.param("exp", f"[{NOW + 600}]", "invalid_claim", id="exp-list"),
        pytest.param("iat", None, "missing_claim", id="iat-missing"),
        pytest.param("iat", f'"{NOW}"', "invalid_claim", id="iat-string"),
        pytest.param("nbf", "null", "invalid_claim", id="nbf-null"),
        pytest.param("nbf", "false", "invalid_claim", id="nbf-false"),
    ],
)
def test_numeric_date_wrong_type_rejected(
    target: Target, claim: str, raw_value: str | None, reason: str
) -> None:
    """A missing exp or iat, or a time claim that is not a JSON number in range, is rejected."""
    pairs = members(claims(**{claim: ABSENT}))
    if raw_value is not None:
        pairs.append((claim, raw_value))
    token = target.token(payload=raw_object(pairs))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == reason
    assert caught.value.claim == claim


# Audience.


@pytest.mark.parametrize(
    ("audience", "reason"),
    [
        pytest.param("other", "audience_mismatch", id="other"),
        pytest.param("API", "audience_mismatch", id="other-case"),
        pytest.param("api ", "audience_mismatch", id="trailing-space"),
        pytest.param(["other", "api2"], "audience_mismatch", id="list-without-ours"),
        pytest.param(ABSENT, "invalid_claim", id="missing"),
        pytest.param(None, "invalid_claim", id="null"),
        pytest.param(42, "invalid_claim", id="number"),
        pytest.param(True, "invalid_claim", id="bool"),
        pytest.param({"api": True}, "invalid_claim", id="object"),
        pytest.param([], "invalid_claim", id="empty-list"),
        pytest.param(["api", 1], "invalid_claim", id="list-with-number"),
        pytest.param([["api"]], "invalid_claim", id="nested-list"),
    ],
)
def test_audience_not_ours_rejected(target: Target, audience: object, reason: str) -> None:
    """An aud without our audience, or not a string or list of strings, is rejected."""
    token = target.token(payload=claims(aud=audience))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == reason
    assert caught.value.claim == "aud"


def test_audience_list_with_ours_accepted(target: Target) -> None:
    """A multi-valued aud that contains this service's audience is accepted."""
    token = target.token(payload=claims(aud=["other", AUDIENCE]))

    verified = target.service.verify(token)

    assert verified.audience == ("other", AUDIENCE)


# Issuer.


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param("https://evil.example/https://auth.example", id="prefix"),
        pytest.param("https://auth.example.evil", id="suffix"),
        pytest.param("https://evil.example/?https://auth.example#", id="substring"),
        pytest.param("https://auth.exampl", id="truncated"),
        pytest.param("HTTPS://AUTH.EXAMPLE", id="upper-case"),
        pytest.param("https://auth.example/", id="trailing-slash"),
        pytest.param(" https://auth.example", id="leading-space"),
        pytest.param([ISSUER], id="list"),
        pytest.param(None, id="null"),
        pytest.param(ABSENT, id="missing"),
    ],
)
def test_issuer_not_exact_rejected(target: Target, issuer: object) -> None:
    """An iss that only contains, resembles or wraps the expected issuer is rejected."""
    token = target.token(payload=claims(iss=issuer))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "issuer_mismatch"
    assert caught.value.claim == "iss"


# crit.


@pytest.mark.parametrize(
    "extension",
    [
        pytest.param({"crit": ["exp"], "exp": NOW + 600}, id="exp"),
        pytest.param({"crit": ["b64"], "b64": False}, id="b64"),
        pytest.param({"crit": []}, id="empty-list"),
        pytest.param({"crit": "exp"}, id="string"),
        pytest.param({"crit": None}, id="null"),
        pytest.param({"crit": {"exp": True}}, id="object"),
    ],
)
def test_crit_header_rejected(target: Target, extension: dict[str, Any]) -> None:
    """A header with any crit parameter is rejected, since no extension is implemented."""
    token = target.token(header=target.header(**extension))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "crit"
    assert caught.value.claim == "crit"


# Duplicate member names.


def with_duplicate(valid: dict[str, Any], name: str, raw_value: str, position: str) -> bytes:
    """Return ``valid`` as JSON with a second ``name`` member placed before or after its members."""
    pairs = members(valid)
    extra = (name, raw_value)
    return raw_object([extra, *pairs] if position == "before" else [*pairs, extra])


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize(
    ("name", "raw_value"),
    [
        pytest.param("alg", '"none"', id="alg"),
        pytest.param("kid", '"../../etc/passwd"', id="kid"),
        pytest.param("typ", '"rt+jwt"', id="typ"),
        pytest.param("\\u0061lg", '"none"', id="alg-escaped-name"),
    ],
)
def test_duplicate_header_member_rejected(
    target: Target, name: str, raw_value: str, position: str
) -> None:
    """A header naming a member twice is malformed, whichever copy a parser would keep."""
    token = target.token(header=with_duplicate(target.header(), name, raw_value, position))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == "header"


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize(
    ("name", "raw_value"),
    [
        pytest.param("sub", '"admin"', id="sub"),
        pytest.param("exp", str(NOW - 3600), id="exp"),
        pytest.param("aud", '"other"', id="aud"),
    ],
)
def test_duplicate_payload_member_rejected(
    target: Target, name: str, raw_value: str, position: str
) -> None:
    """A correctly signed payload naming a claim twice is malformed, whichever copy is valid."""
    token = target.token(payload=with_duplicate(claims(), name, raw_value, position))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == "payload"


def test_duplicate_nested_member_rejected(target: Target) -> None:
    """A duplicate name inside a nested object of the payload is malformed too."""
    payload = raw_object([*members(claims()), ("ctx", '{"role":"user","role":"admin"}')])
    token = target.token(payload=payload)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == "payload"


# Signature and segment tampering.


def replace_signature(token: str, signature: str) -> str:
    """Return ``token`` with its third segment replaced."""
    header_segment, payload_segment, _ = token.split(".")
    return f"{header_segment}.{payload_segment}.{signature}"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda signature: "", id="stripped"),
        pytest.param(lambda signature: signature[:-2], id="truncated-one-byte"),
        pytest.param(lambda signature: signature[:44], id="truncated-to-33-bytes"),
        pytest.param(lambda signature: flip_bit(signature, 0), id="first-bit-flipped"),
        pytest.param(lambda signature: flip_bit(signature, -1), id="last-bit-flipped"),
        pytest.param(lambda signature: b64url(bytes(64)), id="all-zero"),
        pytest.param(lambda signature: signature + "AA", id="extended"),
    ],
)
def test_tampered_signature_rejected(target: Target, tamper: Callable[[str], str]) -> None:
    """A signature that was removed, shortened, extended or altered does not verify."""
    token = target.token()
    token = replace_signature(token, tamper(token.split(".")[2]))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "bad_signature"
    assert caught.value.claim == "signature"


def test_zero_ecdsa_signature_rejected(build_target: Callable[..., Target]) -> None:
    """An ES256 signature of all zero bytes, r = s = 0, does not verify."""
    target = build_target("ES256")
    token = replace_signature(target.token(), b64url(bytes(64)))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "bad_signature"
    assert caught.value.claim == "signature"


def test_ecdsa_high_s_signature_rejected(
    build_target: Callable[..., Target], private_keys: dict[str, PrivateKey | bytes]
) -> None:
    """An ES256 signature rewritten to its high-s twin (r, n - s) is rejected as malleable."""
    target = build_target("ES256")
    key = private_keys["ES256"]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    low = target.token()
    high = forge(target.header(), claims(), es256(key, high_s=True))

    target.service.verify(low)
    with pytest.raises(InvalidToken) as caught:
        target.service.verify(high)

    assert caught.value.reason == "bad_signature"


def test_payload_changed_after_signing_rejected(target: Target) -> None:
    """Swapping in another payload under the original signature fails verification."""
    original = target.token()
    forged_payload = encode_part(claims(sub="admin"))
    header_segment, _, signature = original.split(".")
    token = f"{header_segment}.{forged_payload}.{signature}"

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "bad_signature"
    assert caught.value.claim == "signature"


@pytest.mark.parametrize(
    "reshape",
    [
        pytest.param(lambda parts: "", id="empty"),
        pytest.param(lambda parts: parts[0], id="one-segment"),
        pytest.param(lambda parts: f"{parts[0]}.{parts[1]}", id="two-segments"),
        pytest.param(lambda parts: ".".join([*parts, ""]), id="four-segments"),
        pytest.param(lambda parts: ".".join([*parts, parts[2]]), id="four-with-signature"),
        pytest.param(lambda parts: ".".join([parts[0], "", "AAAA", parts[1], "AAAA"]), id="jwe"),
    ],
)
def test_wrong_segment_count_rejected(target: Target, reshape: Callable[[list[str]], str]) -> None:
    """A token with other than three dot-separated segments, such as a JWE, is malformed."""
    token = reshape(target.token().split("."))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim is None


def payload_with_url_characters() -> str:
    """Return a payload segment containing both base64url-only characters, "-" and "_".

    The first member, ``"x":">>>???"``, starts at a 3-byte boundary, so its
    value encodes to ``Pj4-Pz8_``.
    """
    return encode_part(raw_object([("x", json_text(">>>???")), *members(claims())]))


def header_padded(target: Target) -> str:
    """Return a token whose header segment has base64 ``=`` padding."""
    header_segment, payload_segment, signature = target.token().split(".")
    return f"{padded(header_segment)}.{payload_segment}.{signature}"


def payload_padded(target: Target) -> str:
    """Return a token whose payload segment has ``=`` padding and is signed that way."""
    return target.signed(encode_part(target.header()), padded(encode_part(claims())))


def signature_padded(target: Target) -> str:
    """Return a token whose signature segment has ``=`` padding."""
    token = target.token()
    return replace_signature(token, padded(token.split(".")[2]))


def payload_with_plus(target: Target) -> str:
    """Return a token whose payload uses the standard base64 "+" and is signed that way."""
    return target.signed(
        encode_part(target.header()), payload_with_url_characters().replace("-", "+")
    )


def payload_with_slash(target: Target) -> str:
    """Return a token whose payload uses the standard base64 "/" and is signed that way."""
    return target.signed(
        encode_part(target.header()), payload_with_url_characters().replace("_", "/")
    )


def header_trailing_bits(target: Target) -> str:
    """Return a token whose header segment has non-zero unused bits."""
    header_segment, payload_segment, signature = target.token().split(".")
    return f"{with_trailing_bits(header_segment)}.{payload_segment}.{signature}"


def payload_trailing_bits(target: Target) -> str:
    """Return a token whose payload has non-zero unused bits and is signed that way."""
    return target.signed(encode_part(target.header()), with_trailing_bits(encode_part(claims())))


def signature_trailing_bits(target: Target) -> str:
    """Return a token whose signature segment has non-zero unused bits."""
    token = target.token()
    return replace_signature(token, with_trailing_bits(token.split(".")[2]))


def signature_bit_flipped(target: Target) -> str:
    """Return a token with one bit of its signature flipped."""
    token = target.token()
    return replace_signature(token, flip_bit(token.split(".")[2], 0))


def signature_one_char_short(target: Target) -> str:
    """Return a token whose signature has a length no base64url text can have."""
    token = target.token()
    return replace_signature(token, token.split(".")[2][:-1])


@pytest.mark.parametrize(
    ("build", "part"),
    [
        pytest.param(header_padded, "header", id="header-padding"),
        pytest.param(payload_padded, "payload", id="payload-padding"),
        pytest.param(signature_padded, "signature", id="signature-padding"),
        pytest.param(payload_with_plus, "payload", id="payload-plus"),
        pytest.param(payload_with_slash, "payload", id="payload-slash"),
        pytest.param(header_trailing_bits, "header", id="header-trailing-bits"),
        pytest.param(payload_trailing_bits, "payload", id="payload-trailing-bits"),
        pytest.param(signature_trailing_bits, "signature", id="signature-trailing-bits"),
        pytest.param(signature_one_char_short, "signature", id="signature-impossible-length"),
    ],
)
def test_non_canonical_base64url_rejected(
    target: Target, build: Callable[[Target], str], part: str
) -> None:
    """A segment in any form but unpadded canonical base64url is malformed, even when signed."""
    token = build(target)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == part


def with_header_suffix(target: Target, suffix: str) -> str:
    """Return a valid token with ``suffix`` appended to its header segment."""
    header_segment, payload_segment, signature = target.token().split(".")
    return f"{header_segment}{suffix}.{payload_segment}.{signature}"


def with_payload_suffix(target: Target, suffix: str) -> str:
    """Return a token with ``suffix`` appended to its payload segment, signed that way."""
    return target.signed(encode_part(target.header()), encode_part(claims()) + suffix)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda t: with_header_suffix(t, "é"), id="header-latin"),
        pytest.param(lambda t: with_header_suffix(t, "\uff21"), id="header-fullwidth"),
        pytest.param(lambda t: with_payload_suffix(t, "é"), id="payload-latin"),
        pytest.param(lambda t: t.token() + "é", id="signature-latin"),
    ],
)
def test_non_ascii_token_rejected(target: Target, build: Callable[[Target], str]) -> None:
    """A token with a character outside ASCII in any segment is malformed, even when signed."""
    token = build(target)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"


@pytest.mark.parametrize(
    ("build", "part"),
    [
        pytest.param(lambda t: with_header_suffix(t, "\n"), "header", id="header-newline"),
        pytest.param(lambda t: with_payload_suffix(t, " "), "payload", id="payload-space"),
        pytest.param(lambda t: t.token() + "\n", "signature", id="signature-newline"),
    ],
)
def test_whitespace_in_segment_rejected(
    target: Target, build: Callable[[Target], str], part: str
) -> None:
    """A segment containing whitespace is malformed, even when the signature covers it."""
    token = build(target)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == part


# Size limit.


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("!" * 513, id="not-base64"),
        pytest.param("." * 513, id="only-dots"),
        pytest.param("é" * 513, id="non-ascii"),
    ],
)
def test_oversized_garbage_rejected_before_decoding(
    build_target: Callable[..., Target], token: str
) -> None:
    """A token over max_token_bytes is too large, whatever it contains."""
    target = build_target("EdDSA", max_token_bytes=512)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "too_large"
    assert caught.value.claim is None


def test_oversized_valid_token_rejected(build_target: Callable[..., Target]) -> None:
    """A correctly signed token over max_token_bytes is too large."""
    target = build_target("EdDSA", max_token_bytes=512)
    token = target.token(payload=claims(note="x" * 400))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "too_large"


def test_token_at_size_limit_is_decoded(build_target: Callable[..., Target]) -> None:
    """A token of exactly max_token_bytes passes the size check and fails only on its form."""
    target = build_target("EdDSA", max_token_bytes=512)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify("!" * 512)

    assert caught.value.reason == "malformed"


# Token type.


def test_refresh_token_as_access_rejected(target: Target) -> None:
    """A correctly signed refresh token is rejected where an access token is expected."""
    token = target.token(header=target.header(typ="rt+jwt"))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "wrong_type"
    assert caught.value.claim == "typ"


def test_access_token_as_refresh_rejected(target: Target) -> None:
    """A correctly signed access token cannot be exchanged with refresh()."""
    token = target.token()

    with pytest.raises(InvalidToken) as caught:
        target.service.refresh(token)

    assert caught.value.reason == "wrong_type"
    assert caught.value.claim == "typ"


@pytest.mark.parametrize(
    "typ",
    [
        pytest.param(ABSENT, id="missing"),
        pytest.param("JWT", id="jwt"),
        pytest.param("at+jwt; charset=utf-8", id="parameters"),
        pytest.param("application/application/at+jwt", id="double-prefix"),
        pytest.param("text/at+jwt", id="other-top-level-type"),
        pytest.param("", id="empty"),
        pytest.param(None, id="null"),
        pytest.param(["at+jwt"], id="list"),
    ],
)
def test_access_typ_not_at_jwt_rejected(target: Target, typ: object) -> None:
    """An access token whose typ is missing or not at+jwt is rejected."""
    token = target.token(header=target.header(typ=typ))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "wrong_type"
    assert caught.value.claim == "typ"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
def test_access_typ_forms_accepted(target: Target, typ: str) -> None:
    """The at+jwt typ is accepted with or without the application/ prefix, in any case."""
    token = target.token(header=target.header(typ=typ))

    verified = target.service.verify(token)

    assert verified.kind is TokenKind.ACCESS


# JSON traps.


VALID_PAYLOAD = raw_object(members(claims()))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(raw_object([*members(claims()), ("n", "NaN")]), id="nan"),
        pytest.param(raw_object([*members(claims()), ("n", "Infinity")]), id="infinity"),
        pytest.param(raw_object([*members(claims()), ("n", "-Infinity")]), id="minus-infinity"),
        pytest.param(raw_object([*members(claims(exp=ABSENT)), ("exp", "NaN")]), id="exp-nan"),
        pytest.param(b"[" + VALID_PAYLOAD + b"]", id="array"),
        pytest.param(VALID_PAYLOAD + b"x", id="trailing-text"),
        pytest.param(VALID_PAYLOAD + b"{}", id="second-object"),
        pytest.param(VALID_PAYLOAD + b"\x00", id="trailing-nul"),
        pytest.param(b"\xef\xbb\xbf" + VALID_PAYLOAD, id="byte-order-mark"),
        pytest.param(VALID_PAYLOAD.replace(b'"alice"', b'"al\xffce"'), id="invalid-utf8"),
        pytest.param(VALID_PAYLOAD.replace(b'"alice"', b'"\xc0\xafalice"'), id="overlong-utf8"),
        pytest.param(VALID_PAYLOAD.replace(b'"alice"', b'"\xed\xa0\x80"'), id="utf8-surrogate"),
        pytest.param(
            raw_object([*members(claims()), ("n", "9" * 5000)]), id="integer-over-digit-limit"
        ),
    ],
)
def test_payload_json_trap_rejected(target: Target, payload: bytes) -> None:
    """A correctly signed payload that is not one strict UTF-8 JSON object is malformed."""
    token = target.token(payload=payload)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == "payload"


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda header: b"[" + raw_object(members(header)) + b"]", id="array"),
        pytest.param(lambda header: raw_object([*members(header), ("n", "NaN")]), id="nan"),
        pytest.param(lambda header: raw_object(members(header)) + b"x", id="trailing-text"),
        pytest.param(lambda header: raw_object(members(header))[:-1], id="truncated"),
        pytest.param(
            lambda header: raw_object(members(header))[:-1] + b',"n":"\xff"}', id="invalid-utf8"
        ),
    ],
)
def test_header_json_trap_rejected(
    target: Target, make_header: Callable[[dict[str, Any]], bytes]
) -> None:
    """A header that is not one strict UTF-8 JSON object is malformed."""
    token = target.token(header=make_header(target.header()))

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
    assert caught.value.claim == "header"


# Error messages never carry the token.

REJECTED_TOKENS = [
    pytest.param(lambda t: forge(t.header(alg="none"), claims(), None), id="alg-none"),
    pytest.param(lambda t: t.token(header=t.header(kid="../../etc/passwd")), id="unknown-kid"),
    pytest.param(lambda t: t.token(header=t.header(alg="ES256")), id="alg-mismatch"),
    pytest.param(
        lambda t: t.token(header=t.header(jwk={"kty": "oct", "k": "c2VjcmV0"})), id="key-in-header"
    ),
    pytest.param(lambda t: t.token(header=t.header(typ="rt+jwt")), id="wrong-type"),
    pytest.param(lambda t: t.token(header=t.header(crit=["exp"])), id="crit"),
    pytest.param(signature_bit_flipped, id="bad-signature"),
    pytest.param(lambda t: t.token(payload=claims(exp=NOW - 3600)), id="expired"),
    pytest.param(lambda t: t.token(payload=claims(aud="other")), id="audience"),
    pytest.param(lambda t: t.token(payload=claims(iss=ISSUER + ".evil")), id="issuer"),
    pytest.param(lambda t: t.token(payload=VALID_PAYLOAD + b"x"), id="payload-json"),
    pytest.param(
        lambda t: t.token(payload=raw_object([*members(claims()), ("sub", '"admin"')])),
        id="duplicate-claim",
    ),
    pytest.param(payload_padded, id="padding"),
    pytest.param(signature_trailing_bits, id="trailing-bits"),
    pytest.param(lambda t: t.token(payload=claims(note="x" * 9000)), id="too-large"),
]


@pytest.mark.parametrize("build", REJECTED_TOKENS)
def test_rejection_message_omits_token(target: Target, build: Callable[[Target], str]) -> None:
    """A rejection message contains neither the token, nor a segment, nor the decoded payload."""
    token = build(target)
    segments = [segment for segment in token.split(".") if len(segment) >= 8]
    payload_text = b64url_decode(token.split(".")[1]).decode("utf-8")

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    message = str(caught.value)
    assert token not in message
    for segment in segments:
        assert segment not in message
    assert payload_text not in message


@pytest.mark.parametrize(
    ("before", "after"),
    [(b" ", b""), (b"", b" "), (b"", b"\n")],
    ids=["leading-space", "trailing-space", "trailing-newline"],
)
def test_whitespace_around_json_rejected(target: Target, before: bytes, after: bytes) -> None:
    """A valid payload with whitespace around the object has a second spelling and is rejected."""
    payload = before + json_text(claims()).encode("utf-8") + after
    token = target.token(payload=payload)

    with pytest.raises(InvalidToken) as caught:
        target.service.verify(token)

    assert caught.value.reason == "malformed"
