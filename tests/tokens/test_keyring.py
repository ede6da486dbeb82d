"""Signing keys and the key ring: generation, key ids, rotation, the JWKS and the key file."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jivs_security.errors import (
    ConfigurationError,
    InsecureKeyFile,
    InvalidToken,
    KeyNotFound,
    KeyRingError,
)
from jivs_security.stores import MemoryStore
from jivs_security.tokens import KeyRing, KeyState, SigningKey, TokenService
from jivs_security.tokens._keys import thumbprint

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"

ALGORITHMS = ["EdDSA", "ES256", "RS256", "HS256"]
ASYMMETRIC_ALGORITHMS = ["EdDSA", "ES256", "RS256"]

# Key type and curve that each algorithm's JWK must carry (RFC 7518 and RFC 8037).
KEY_TYPES = {
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
    "RS256": ("RSA", None),
    "HS256": ("oct", None),
}

# JWK members that contain private key material (RFC 7518, section 6).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")

# The RSA public key of RFC 7638, section 3.1, and its SHA-256 thumbprint.
RFC7638_MODULUS = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
    "WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY36"
    "8QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4l"
    "Fd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# A printable HS256 secret one byte below the minimum, so a leak is easy to spot.
SHORT_SECRET = b"0123456789abcdefghijklmnopqrstu"


@pytest.fixture
def ring() -> KeyRing:
    """A ring with one new EdDSA key."""
    return KeyRing.generate("EdDSA")


@pytest.fixture
def service(ring: KeyRing) -> Iterator[TokenService]:
    """A token service that signs with ``ring`` and keeps revocations in memory."""
    store = MemoryStore()

    yield TokenService(ring, store, issuer=ISSUER, audience=AUDIENCE)

    store.close()


def decode_b64url(text: str) -> bytes:
    """Decode unpadded base64url, as JWS segments and JWK members are written."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_header(token: str) -> dict[str, Any]:
    """Return the JOSE header of a compact JWS without verifying anything."""
    header: dict[str, Any] = json.loads(decode_b64url(token.split(".", maxsplit=1)[0]))
    return header


def private_material(
    algorithm: str,
) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """Return a new private key object for an asymmetric ``algorithm``."""
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> bytes:
    """Return ``private_key`` as unencrypted PKCS #8 PEM."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key_file(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as a key file readable by its owner only."""
    path.write_text(json.dumps(document), encoding="utf-8")
    path.chmod(0o600)


def secret_forms(secret: bytes) -> list[str]:
    """Return the ways ``secret`` could appear in text: raw, repr, hex and base64."""
    return [
        secret.decode("latin-1"),
        repr(secret),
        secret.hex(),
        base64.b64encode(secret).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(secret).decode("ascii").rstrip("="),
    ]


# Generation and key ids.


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_generate_ring_per_algorithm(algorithm: str) -> None:
    """generate() returns a ring whose one key is active and uses the algorithm."""
    ring = KeyRing.generate(algorithm)

    assert len(ring) == 1
    assert ring.active.algorithm == algorithm
    assert ring.active.state is KeyState.ACTIVE


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_generated_key_type_and_curve(algorithm: str) -> None:
    """A generated key has the JWK key type and curve its algorithm requires."""
    key = SigningKey.generate(algorithm)

    jwk = key.to_private_jwk()

    key_type, curve = KEY_TYPES[algorithm]
    assert jwk["kty"] == key_type
    assert jwk.get("crv") == curve


def test_generated_rsa_key_size() -> None:
    """A generated RS256 key has a 3072-bit modulus."""
    key = SigningKey.generate("RS256")

    modulus = key.public_jwk()["n"]

    assert len(decode_b64url(modulus)) * 8 == 3072


def test_generated_hmac_secret_length() -> None:
    """A generated HS256 secret is 32 bytes long."""
    key = SigningKey.generate("HS256")

    secret = key.to_private_jwk()["k"]

    assert len(decode_b64url(secret)) == 32


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_generated_key_signs_and_verifies(algorithm: str) -> None:
    """A generated key verifies its own signature and rejects one over other data."""
    key = SigningKey.generate(algorithm)

    signature = key.sign(b"header.payload")

    key.verify_signature(signature, b"header.payload")
    with pytest.raises(InvalidToken) as caught:
        key.verify_signature(signature, b"header.payloaD")
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize("algorithm", ["RS512", "none", "", "eddsa"])
def test_generate_unknown_algorithm_rejected(algorithm: str) -> None:
    """generate() raises ConfigurationError for an algorithm outside the supported four."""
    with pytest.raises(ConfigurationError) as caught:
        KeyRing.generate(algorithm)

    assert caught.value.setting == "algorithm"


@pytest.mark.parametrize("algorithm", ASYMMETRIC_ALGORITHMS)
def test_kid_is_public_key_thumbprint(algorithm: str) -> None:
    """The kid of an asymmetric key is the RFC 7638 thumbprint of its public JWK."""
    key = SigningKey.generate(algorithm)

    assert key.kid == thumbprint(key.public_jwk())


def test_kid_of_hmac_key_is_thumbprint() -> None:
    """The kid of an HS256 key is the RFC 7638 thumbprint of its oct JWK."""
    key = SigningKey.generate("HS256")

    assert key.kid == thumbprint(key.to_private_jwk())


def test_thumbprint_matches_rfc7638_example() -> None:
    """thumbprint() of the RFC 7638 example key returns the RFC's value."""
    jwk = {"kty": "RSA", "n": RFC7638_MODULUS, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}

    assert thumbprint(jwk) == RFC7638_THUMBPRINT


def test_kid_stable_across_wrapping() -> None:
    """Two SigningKey objects around the same private key get the same kid."""
    private_key = ed25519.Ed25519PrivateKey.generate()

    first = SigningKey("EdDSA", private_key)
    second = SigningKey.from_pem(pem_of(private_key))

    assert first.kid == second.kid


# Rotation.


def test_rotate_keeps_old_tokens_valid(ring: KeyRing, service: TokenService) -> None:
    """A token signed before rotate() still verifies afterwards."""
    old_kid = ring.active.kid
    pair = service.issue("alice")

    ring.rotate()
    claims = service.verify(pair.access_token)

    assert claims.key_id == old_kid
    assert ring.get(old_kid).state is KeyState.VERIFY_ONLY


def test_rotate_signs_with_new_key(ring: KeyRing, service: TokenService) -> None:
    """After rotate(), new tokens carry the new key's kid."""
    old_kid = ring.active.kid

    new_key = ring.rotate()
    pair = service.issue("alice")

    assert new_key.kid != old_kid
    assert ring.active is new_key
    assert decode_header(pair.access_token)["kid"] == new_key.kid
    assert decode_header(pair.refresh_token)["kid"] == new_key.kid
    assert service.verify(pair.access_token).key_id == new_key.kid


def test_rotate_to_other_algorithm(ring: KeyRing, service: TokenService) -> None:
    """rotate("ES256") switches the signing algorithm and old EdDSA tokens keep verifying."""
    old_pair = service.issue("alice")

    ring.rotate("ES256")
    new_pair = service.issue("alice")

    assert decode_header(new_pair.access_token)["alg"] == "ES256"
    assert service.verify(new_pair.access_token).subject == "alice"
    assert service.verify(old_pair.access_token).subject == "alice"


def test_prepare_publishes_without_signing(ring: KeyRing, service: TokenService) -> None:
    """prepare() adds a NEXT key to the JWKS, while tokens keep the active key's kid."""
    active_kid = ring.active.kid

    next_key = ring.prepare()
    pair = service.issue("alice")

    assert next_key.state is KeyState.NEXT
    assert next_key.kid in {jwk["kid"] for jwk in ring.jwks()["keys"]}
    assert ring.active.kid == active_kid
    assert decode_header(pair.access_token)["kid"] == active_kid


def test_prepared_key_verifies() -> None:
    """A token signed by a NEXT key verifies, so a relying party may see it early."""
    ring = KeyRing.generate("EdDSA")
    next_key = ring.prepare()
    signer = TokenService(
        KeyRing([SigningKey.from_jwk({**next_key.to_private_jwk(), "jivs_state": "active"})]),
        MemoryStore(),
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    verifier = TokenService(ring, MemoryStore(), issuer=ISSUER, audience=AUDIENCE)
    pair = signer.issue("alice")

    claims = verifier.verify(pair.access_token)

    assert claims.key_id == next_key.kid


def test_prepare_twice_rejected(ring: KeyRing) -> None:
    """A second prepare() while a NEXT key exists raises KeyRingError."""
    ring.prepare()

    with pytest.raises(KeyRingError):
        ring.prepare()


def test_rotate_promotes_prepared_key(ring: KeyRing, service: TokenService) -> None:
    """rotate() makes the NEXT key active instead of generating another one."""
    next_key = ring.prepare()

    promoted = ring.rotate()
    pair = service.issue("alice")

    assert promoted is next_key
    assert promoted.state is KeyState.ACTIVE
    assert len(ring) == 2
    assert decode_header(pair.access_token)["kid"] == next_key.kid


def test_rotate_rejects_other_algorithm_than_prepared(ring: KeyRing) -> None:
    """rotate() with an algorithm other than the NEXT key's raises and changes nothing."""
    active_kid = ring.active.kid
    ring.prepare("EdDSA")

    with pytest.raises(KeyRingError):
        ring.rotate("ES256")

    assert ring.active.kid == active_kid


def test_retire_rejects_old_tokens(ring: KeyRing, service: TokenService) -> None:
    """After retire(), a token its key signed fails with reason unknown_kid."""
    old_kid = ring.active.kid
    pair = service.issue("alice")
    service.verify(pair.access_token)
    ring.rotate()

    ring.retire(old_kid)

    with pytest.raises(InvalidToken) as caught:
        service.verify(pair.access_token)
    assert caught.value.reason == "unknown_kid"
    assert ring.get(old_kid).state is KeyState.RETIRED


def test_retire_keeps_new_tokens_valid(ring: KeyRing, service: TokenService) -> None:
    """Retiring the previous key leaves tokens of the active key valid."""
    old_kid = ring.active.kid
    ring.rotate()
    pair = service.issue("alice")

    ring.retire(old_kid)

    assert service.verify(pair.access_token).subject == "alice"


def test_retire_active_key_rejected(ring: KeyRing) -> None:
    """retire() of the active key raises KeyRingError and leaves it active."""
    active = ring.active

    with pytest.raises(KeyRingError):
        ring.retire(active.kid)

    assert active.state is KeyState.ACTIVE


def test_retire_unknown_kid_rejected(ring: KeyRing) -> None:
    """retire() of a kid not in the ring raises KeyNotFound naming it."""
    with pytest.raises(KeyNotFound) as caught:
        ring.retire("no-such-kid")

    assert caught.value.kid == "no-such-kid"


def test_remove_retired_drops_keys(ring: KeyRing) -> None:
    """remove_retired() deletes retired keys, returns their kids and keeps the others."""
    old_kid = ring.active.kid
    new_key = ring.rotate()
    ring.retire(old_kid)

    removed = ring.remove_retired()

    assert removed == [old_kid]
    assert len(ring) == 1
    assert ring.active is new_key
    with pytest.raises(KeyNotFound):
        ring.get(old_kid)


def test_remove_retired_keeps_verifying_keys(ring: KeyRing) -> None:
    """remove_retired() leaves VERIFY_ONLY and NEXT keys alone."""
    old_kid = ring.active.kid
    ring.rotate()
    ring.prepare()

    removed = ring.remove_retired()

    assert removed == []
    assert len(ring) == 3
    assert ring.get(old_kid).state is KeyState.VERIFY_ONLY


def test_version_changes_on_rotation(ring: KeyRing) -> None:
    """Each change of the ring's keys changes its version."""
    versions = [ring.version]

    ring.prepare()
    versions.append(ring.version)
    old_kid = ring.active.kid
    ring.rotate()
    versions.append(ring.version)
    ring.retire(old_kid)
    versions.append(ring.version)
    ring.remove_retired()
    versions.append(ring.version)

    assert len(set(versions)) == len(versions)


def test_ring_without_active_key_rejected() -> None:
    """KeyRing() without an ACTIVE key raises KeyRingError."""
    key = SigningKey.generate("EdDSA", state=KeyState.VERIFY_ONLY)

    with pytest.raises(KeyRingError):
        KeyRing([key])


# The JWKS.


def test_jwks_public_members_only() -> None:
    """jwks() lists each verifying asymmetric key with no private member."""
    keys = [
        SigningKey.generate("EdDSA"),
        SigningKey.generate("ES256", state=KeyState.VERIFY_ONLY),
        SigningKey.generate("RS256", state=KeyState.NEXT),
    ]
    ring = KeyRing(keys)

    published = ring.jwks()["keys"]

    assert {jwk["kid"] for jwk in published} == {key.kid for key in keys}
    for jwk in published:
        for member in PRIVATE_MEMBERS:
            assert member not in jwk, f"{jwk['alg']} JWK contains private member {member!r}"
        assert jwk["use"] == "sig"


def test_jwks_entries_name_algorithm() -> None:
    """Each JWKS entry carries the alg of its key."""
    keys = [
        SigningKey.generate("EdDSA"),
        SigningKey.generate("ES256", state=KeyState.VERIFY_ONLY),
        SigningKey.generate("RS256", state=KeyState.VERIFY_ONLY),
    ]
    ring = KeyRing(keys)

    published = ring.jwks()["keys"]

    assert {jwk["kid"]: jwk["alg"] for jwk in published} == {key.kid: key.algorithm for key in keys}


def test_jwks_excludes_hmac_keys() -> None:
    """jwks() leaves out HS256 keys, active or not."""
    public_key = SigningKey.generate("EdDSA", state=KeyState.VERIFY_ONLY)
    ring = KeyRing([SigningKey.generate("HS256"), public_key])

    published = ring.jwks()["keys"]

    assert [jwk["kid"] for jwk in published] == [public_key.kid]


def test_jwks_of_hmac_ring_empty() -> None:
    """A ring with only an HS256 key publishes an empty JWK set."""
    ring = KeyRing.generate("HS256")

    assert ring.jwks() == {"keys": []}


def test_hmac_public_jwk_rejected() -> None:
    """public_jwk() of an HS256 key raises instead of returning the secret."""
    key = SigningKey.generate("HS256")

    with pytest.raises(KeyRingError):
        key.public_jwk()


def test_jwks_excludes_retired_keys(ring: KeyRing) -> None:
    """A retired key is no longer published."""
    old_kid = ring.active.kid
    new_key = ring.rotate()

    ring.retire(old_kid)

    assert [jwk["kid"] for jwk in ring.jwks()["keys"]] == [new_key.kid]


# The key file.


def test_save_load_round_trip(tmp_path: Path) -> None:
    """load() returns the saved keys with their algorithms and states."""
    ring = KeyRing.generate("EdDSA")
    ring.rotate("ES256")
    ring.prepare("RS256")
    ring.add(SigningKey.generate("HS256", state=KeyState.VERIFY_ONLY))
    path = tmp_path / "keys.json"

    ring.save(path)
    loaded = KeyRing.load(path)

    assert {key.kid: (key.algorithm, key.state) for key in loaded} == {
        key.kid: (key.algorithm, key.state) for key in ring
    }
    assert loaded.active.kid == ring.active.kid


def test_loaded_ring_verifies_saved_tokens(tmp_path: Path, ring: KeyRing) -> None:
    """A service on the loaded ring verifies tokens signed before the save."""
    path = tmp_path / "keys.json"
    signer = TokenService(ring, MemoryStore(), issuer=ISSUER, audience=AUDIENCE)
    pair = signer.issue("alice")
    ring.save(path)

    verifier = TokenService(KeyRing.load(path), MemoryStore(), issuer=ISSUER, audience=AUDIENCE)

    assert verifier.verify(pair.access_token).subject == "alice"


def test_saved_file_mode_0600(tmp_path: Path, ring: KeyRing) -> None:
    """save() creates the key file with mode 0600."""
    path = tmp_path / "keys.json"

    ring.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_ignores_permissive_umask(tmp_path: Path, ring: KeyRing) -> None:
    """save() creates mode 0600 even when the umask would allow more."""
    path = tmp_path / "keys.json"
    previous = os.umask(0)
    try:
        ring.save(path)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_replaces_shared_file(tmp_path: Path, ring: KeyRing) -> None:
    """save() over an existing world-readable file leaves a file with mode 0600."""
    path = tmp_path / "keys.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)

    ring.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.load(path).active.kid == ring.active.kid


def test_save_leaves_no_temporary_file(tmp_path: Path, ring: KeyRing) -> None:
    """save() leaves only the key file in its folder."""
    path = tmp_path / "keys.json"

    ring.save(path)

    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_load_rejects_shared_file(tmp_path: Path, ring: KeyRing, mode: int) -> None:
    """load() raises InsecureKeyFile, with path and mode, when others may read the file."""
    path = tmp_path / "keys.json"
    ring.save(path)
    path.chmod(mode)

    with pytest.raises(InsecureKeyFile) as caught:
        KeyRing.load(path)

    assert caught.value.path == str(path)
    assert caught.value.mode == mode
    assert isinstance(caught.value, PermissionError)


def test_load_rejects_mismatched_kid(tmp_path: Path, ring: KeyRing) -> None:
    """load() raises KeyRingError when a key's kid is not its thumbprint."""
    path = tmp_path / "keys.json"
    document = {"keys": [ring.active.to_private_jwk()]}
    document["keys"][0]["kid"] = SigningKey.generate("EdDSA").kid
    write_key_file(path, document)

    with pytest.raises(KeyRingError, match="kid"):
        KeyRing.load(path)


def test_load_rejects_two_active_keys(tmp_path: Path) -> None:
    """load() raises KeyRingError for a file with two ACTIVE keys."""
    path = tmp_path / "keys.json"
    document = {"keys": [SigningKey.generate("EdDSA").to_private_jwk() for _ in range(2)]}
    write_key_file(path, document)

    with pytest.raises(KeyRingError, match="ACTIVE"):
        KeyRing.load(path)


def test_load_rejects_public_key_only(tmp_path: Path, ring: KeyRing) -> None:
    """load() raises KeyRingError for a JWK without its private part."""
    path = tmp_path / "keys.json"
    write_key_file(path, {"keys": [{**ring.active.public_jwk(), "jivs_state": "active"}]})

    with pytest.raises(KeyRingError):
        KeyRing.load(path)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[]", id="array"),
        pytest.param('{"keys": {}}', id="keys-not-list"),
        pytest.param('{"keys": ["x"]}', id="key-not-object"),
    ],
)
def test_load_rejects_malformed_file(tmp_path: Path, content: str) -> None:
    """load() raises KeyRingError for a file that is not a JWK set."""
    path = tmp_path / "keys.json"
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)

    with pytest.raises(KeyRingError):
        KeyRing.load(path)


def test_load_missing_file_rejected(tmp_path: Path) -> None:
    """load() of a missing file raises KeyRingError naming the path."""
    path = tmp_path / "missing.json"

    with pytest.raises(KeyRingError, match=r"missing\.json"):
        KeyRing.load(path)


# Key checks.


@pytest.mark.parametrize("length", [0, 16, 31])
def test_short_hmac_secret_rejected(length: int) -> None:
    """An HS256 secret under 32 bytes raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        SigningKey.from_secret(SHORT_SECRET[:length])

    assert caught.value.setting == "secret"
    assert caught.value.value is None


def test_short_hmac_error_hides_secret() -> None:
    """The error for a short HS256 secret contains no form of the secret."""
    with pytest.raises(ConfigurationError) as caught:
        KeyRing.from_secret(SHORT_SECRET)

    message = str(caught.value)
    for form in secret_forms(SHORT_SECRET):
        assert form not in message
        assert form not in repr(caught.value)


def test_hmac_secret_of_32_bytes_accepted() -> None:
    """An HS256 secret of exactly 32 bytes is accepted."""
    ring = KeyRing.from_secret(SHORT_SECRET + b"v")

    assert ring.active.algorithm == "HS256"


def test_hmac_secret_must_be_bytes() -> None:
    """An HS256 secret given as str raises KeyRingError."""
    with pytest.raises(KeyRingError):
        SigningKey("HS256", "a" * 40)  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [1024, 2047])
def test_small_rsa_key_rejected(bits: int) -> None:
    """An RSA key under 2048 bits raises KeyRingError."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    with pytest.raises(KeyRingError, match=str(bits)):
        SigningKey("RS256", private_key)


def test_small_rsa_pem_rejected() -> None:
    """from_pem() of an RSA key under 2048 bits raises KeyRingError."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)

    with pytest.raises(KeyRingError):
        SigningKey.from_pem(pem_of(private_key))


def test_rsa_key_of_2048_bits_accepted() -> None:
    """An RSA key of exactly 2048 bits is accepted for RS256."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    key = SigningKey("RS256", private_key)

    assert key.algorithm == "RS256"


@pytest.mark.parametrize(
    "curve", [ec.SECP384R1(), ec.SECP256K1(), ec.SECP521R1()], ids=lambda c: c.name
)
def test_es256_other_curve_rejected(curve: ec.EllipticCurve) -> None:
    """An ES256 key on a curve other than P-256 raises KeyRingError."""
    private_key = ec.generate_private_key(curve)

    with pytest.raises(KeyRingError, match=curve.name):
        SigningKey("ES256", private_key)


def test_es256_other_curve_pem_rejected() -> None:
    """from_pem() of a P-384 key raises KeyRingError."""
    private_key = ec.generate_private_key(ec.SECP384R1())

    with pytest.raises(KeyRingError):
        SigningKey.from_pem(pem_of(private_key))


def test_key_of_wrong_type_rejected() -> None:
    """An Ed25519 key given for ES256 raises KeyRingError."""
    private_key = ed25519.Ed25519PrivateKey.generate()

    with pytest.raises(KeyRingError):
        SigningKey("ES256", private_key)


# Key material in repr and str.


@pytest.mark.parametrize("algorithm", ASYMMETRIC_ALGORITHMS)
def test_signing_key_repr_hides_material(algorithm: str) -> None:
    """repr() and str() of an asymmetric SigningKey contain no private member and no PEM."""
    private_key = private_material(algorithm)
    pem_lines = [
        line for line in pem_of(private_key).decode("ascii").splitlines() if "-----" not in line
    ]
    key = SigningKey(algorithm, private_key)
    ring = KeyRing([key])
    private_jwk = key.to_private_jwk()
    private_values = [private_jwk[name] for name in PRIVATE_MEMBERS if name in private_jwk]

    texts = [repr(key), str(key), repr(ring), str(ring)]

    assert private_values, "the private JWK has no private member to look for"
    for text in texts:
        for value in private_values:
            assert value not in text
        for line in pem_lines:
            assert line not in text


def test_hmac_key_repr_hides_secret() -> None:
    """repr() and str() of an HS256 SigningKey and its ring contain no form of the secret."""
    secret = SHORT_SECRET + b"v"
    key = SigningKey.from_secret(secret)
    ring = KeyRing([key])

    texts = [repr(key), str(key), repr(ring), str(ring)]

    for text in texts:
        assert key.to_private_jwk()["k"] not in text
        for form in secret_forms(secret):
            assert form not in text


def test_signing_key_repr_names_kid() -> None:
    """repr() of a SigningKey shows its kid, algorithm and state."""
    key = SigningKey.generate("EdDSA")

    text = repr(key)

    assert key.kid in text
    assert "EdDSA" in text
    assert "active" in text
