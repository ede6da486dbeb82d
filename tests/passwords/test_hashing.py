"""PasswordHasher, HashProfile and calibrate: Argon2id hashing, peppers and the stored format.

Every hasher here uses the TESTS_ONLY profile, except the round trips that
show each standard profile works. The 2 GiB profile is built but never
hashed with.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable

import pytest

from jivs_security.errors import (
    ConfigurationError,
    InvalidHash,
    InvalidPassword,
    KeyNotFound,
    LoginFailed,
    PasswordMismatch,
)
from jivs_security.passwords._hashing import (
    DEFAULT_PROFILE,
    OWASP_MINIMUM,
    RFC_9106_HIGH_MEMORY,
    RFC_9106_LOW_MEMORY,
    TESTS_ONLY,
    HashProfile,
    PasswordHasher,
    VerifyResult,
    calibrate,
    parse_stored_hash,
)

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "Tr0ub4dor&3"

# A second cheap profile, so hashes made with it need a rehash under TESTS_ONLY.
OLD_PROFILE = HashProfile(
    name="tests-only-old", memory_kib=32, time_cost=1, parallelism=1, source="tests only"
)


@pytest.fixture
def hasher() -> PasswordHasher:
    """A hasher with the cheap test profile and no pepper."""
    return PasswordHasher(TESTS_ONLY)


@pytest.fixture
def keys() -> dict[str, bytes]:
    """Two random 32-byte pepper keys, under the ids "k1" and "k2"."""
    return {"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}


def peppered(keys: dict[str, bytes], pepper_id: str, **options: object) -> PasswordHasher:
    """Return a TESTS_ONLY hasher with ``keys`` whose new hashes use ``pepper_id``."""
    return PasswordHasher(TESTS_ONLY, peppers=keys, pepper_id=pepper_id, **options)  # type: ignore[arg-type]


# Profiles.


def test_owasp_profile_values() -> None:
    """The OWASP profile is m=19 MiB, t=2, p=1, as the cheat sheet's minimum."""
    assert OWASP_MINIMUM.memory_kib == 19456
    assert OWASP_MINIMUM.time_cost == 2
    assert OWASP_MINIMUM.parallelism == 1
    assert "OWASP Password Storage Cheat Sheet" in OWASP_MINIMUM.source


def test_rfc9106_low_memory_values() -> None:
    """The RFC 9106 second recommended option is m=64 MiB, t=3, p=4."""
    assert RFC_9106_LOW_MEMORY.memory_kib == 2**16
    assert RFC_9106_LOW_MEMORY.time_cost == 3
    assert RFC_9106_LOW_MEMORY.parallelism == 4
    assert "RFC 9106, section 4, second recommended" in RFC_9106_LOW_MEMORY.source


def test_rfc9106_high_memory_values() -> None:
    """The RFC 9106 first recommended option is m=2 GiB, t=1, p=4."""
    assert RFC_9106_HIGH_MEMORY.memory_kib == 2**21
    assert RFC_9106_HIGH_MEMORY.time_cost == 1
    assert RFC_9106_HIGH_MEMORY.parallelism == 4
    assert "RFC 9106, section 4, first recommended" in RFC_9106_HIGH_MEMORY.source


def test_profiles_use_rfc_salt_and_tag() -> None:
    """Every named profile has a 128-bit salt and a 256-bit tag, as RFC 9106 recommends."""
    for profile in (OWASP_MINIMUM, RFC_9106_LOW_MEMORY, RFC_9106_HIGH_MEMORY, TESTS_ONLY):
        assert profile.salt_len == 16, profile.name
        assert profile.hash_len == 32, profile.name


def test_default_profile_is_owasp() -> None:
    """A hasher built without a profile uses the OWASP minimum."""
    assert DEFAULT_PROFILE is OWASP_MINIMUM
    assert PasswordHasher().profile is OWASP_MINIMUM


def test_tests_profile_named_insecure() -> None:
    """The cheap profile's name and source mark it as for tests only."""
    assert TESTS_ONLY.name == "tests-only-insecure"
    assert "Never store real passwords" in TESTS_ONLY.source


def test_high_memory_hasher_builds_lazily() -> None:
    """Building a hasher with the 2 GiB profile makes no hash, not even the dummy one."""
    high = PasswordHasher(RFC_9106_HIGH_MEMORY)

    assert high._dummy_hash is None
    assert high.profile.memory_kib == 2**21
    assert "rfc9106-high-memory" in repr(high)


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"memory_kib": 7}, "memory_kib"),
        ({"memory_kib": 31, "parallelism": 4}, "memory_kib"),
        ({"memory_kib": 2**32}, "memory_kib"),
        ({"time_cost": 0}, "time_cost"),
        ({"time_cost": True}, "time_cost"),
        ({"parallelism": 0}, "parallelism"),
        ({"parallelism": 2**24}, "parallelism"),
        ({"hash_len": 8}, "hash_len"),
        ({"hash_len": 65}, "hash_len"),
        ({"salt_len": 8}, "salt_len"),
        ({"memory_kib": 64.0}, "memory_kib"),
        ({"name": ""}, "name"),
        ({"source": ""}, "source"),
    ],
)
def test_profile_rejects_bad_values(changes: dict[str, object], setting: str) -> None:
    """HashProfile rejects values outside Argon2's limits and names the setting."""
    arguments: dict[str, object] = {
        "name": "p",
        "memory_kib": 64,
        "time_cost": 1,
        "parallelism": 1,
        "source": "tests",
    }
    arguments.update(changes)

    with pytest.raises(ConfigurationError) as caught:
        HashProfile(**arguments)  # type: ignore[arg-type]

    assert caught.value.setting == setting


def test_profile_describe_phc_notation() -> None:
    """describe() writes the parameters as they appear in a PHC string."""
    assert OWASP_MINIMUM.describe() == "m=19456,t=2,p=1"


# Round trips.


@pytest.mark.parametrize(
    "profile", [OWASP_MINIMUM, RFC_9106_LOW_MEMORY, TESTS_ONLY], ids=lambda p: p.name
)
def test_round_trip_per_profile(profile: HashProfile) -> None:
    """A hash verifies with the password it was made from, and needs no rehash."""
    profile_hasher = PasswordHasher(profile)

    stored = profile_hasher.hash(PASSWORD)
    result = profile_hasher.verify(stored, PASSWORD)

    assert result == VerifyResult(needs_rehash=False, pepper_id=None)
    assert stored.startswith(f"$argon2id$v=19${profile.describe()}$")


def test_hash_salts_each_call(hasher: PasswordHasher) -> None:
    """Two hashes of the same password differ, because each has a new random salt."""
    first = hasher.hash(PASSWORD)

    second = hasher.hash(PASSWORD)

    assert first != second


def test_parse_reports_parameters(hasher: PasswordHasher) -> None:
    """parse_stored_hash returns the parameters and lengths of a hash."""
    parsed = parse_stored_hash(hasher.hash(PASSWORD))

    assert (parsed.memory_kib, parsed.time_cost, parsed.parallelism) == (64, 1, 1)
    assert (parsed.salt_len, parsed.hash_len) == (16, 32)
    assert parsed.pepper_id is None


# Mismatch.


def test_mismatch_raises(hasher: PasswordHasher) -> None:
    """A wrong password raises PasswordMismatch; verify never returns a false value."""
    stored = hasher.hash(PASSWORD)

    with pytest.raises(PasswordMismatch) as caught:
        hasher.verify(stored, OTHER_PASSWORD)

    assert caught.value.reason == "password_mismatch"


def test_mismatch_is_login_failed(hasher: PasswordHasher) -> None:
    """The mismatch error is a LoginFailed with the common sign-in message."""
    stored = hasher.hash(PASSWORD)

    with pytest.raises(LoginFailed) as caught:
        hasher.verify(stored, OTHER_PASSWORD)

    assert str(caught.value).startswith("Sign-in failed")


def test_mismatch_has_no_context(hasher: PasswordHasher) -> None:
    """The mismatch error chains no argon2 exception that callers could log."""
    stored = hasher.hash(PASSWORD)

    with pytest.raises(PasswordMismatch) as caught:
        hasher.verify(stored, OTHER_PASSWORD)

    assert caught.value.__context__ is None


# needs_rehash.


def test_rehash_not_needed_current(hasher: PasswordHasher) -> None:
    """A hash made with the hasher's own profile needs no rehash."""
    assert not hasher.needs_rehash(hasher.hash(PASSWORD))


@pytest.mark.parametrize(
    "changes",
    [
        {"memory_kib": 128},
        {"time_cost": 2},
        {"parallelism": 2},
        {"hash_len": 16},
        {"salt_len": 32},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_rehash_needed_other_parameters(hasher: PasswordHasher, changes: dict[str, int]) -> None:
    """A hash whose memory, passes, lanes, tag or salt length differ needs a rehash."""
    arguments: dict[str, object] = {
        "name": "other",
        "memory_kib": 64,
        "time_cost": 1,
        "parallelism": 1,
        "source": "tests",
        **changes,
    }
    other = PasswordHasher(HashProfile(**arguments))  # type: ignore[arg-type]

    stored = other.hash(PASSWORD)

    assert hasher.needs_rehash(stored)


def test_rehash_needed_when_pepper_added(hasher: PasswordHasher, keys: dict[str, bytes]) -> None:
    """An unpeppered hash needs a rehash once a pepper is configured."""
    stored = hasher.hash(PASSWORD)

    assert peppered(keys, "k1").needs_rehash(stored)


def test_rehash_needed_other_pepper(keys: dict[str, bytes]) -> None:
    """A hash made with another pepper id needs a rehash."""
    stored = peppered(keys, "k1").hash(PASSWORD)

    assert peppered(keys, "k2").needs_rehash(stored)


def test_rehash_needed_pepper_removed(hasher: PasswordHasher, keys: dict[str, bytes]) -> None:
    """A peppered hash needs a rehash under a hasher without a pepper."""
    stored = peppered(keys, "k1").hash(PASSWORD)

    assert hasher.needs_rehash(stored)


def test_verify_reports_needs_rehash(hasher: PasswordHasher) -> None:
    """verify() reports needs_rehash for a hash made with an older profile."""
    stored = PasswordHasher(OLD_PROFILE).hash(PASSWORD)

    result = hasher.verify(stored, PASSWORD)

    assert result.needs_rehash


# Upgrade on sign-in.


def test_upgrade_current_returns_none(hasher: PasswordHasher) -> None:
    """verify_and_upgrade returns None for a current hash."""
    stored = hasher.hash(PASSWORD)

    assert hasher.verify_and_upgrade(stored, PASSWORD) is None


def test_upgrade_returns_current_hash(hasher: PasswordHasher) -> None:
    """An outdated hash is replaced by one with the current profile that verifies."""
    stored = PasswordHasher(OLD_PROFILE).hash(PASSWORD)

    upgraded = hasher.verify_and_upgrade(stored, PASSWORD)

    assert upgraded is not None
    assert not hasher.needs_rehash(upgraded)
    assert hasher.verify(upgraded, PASSWORD).needs_rehash is False


def test_upgrade_mismatch_raises(hasher: PasswordHasher) -> None:
    """A wrong password raises before any upgrade happens."""
    stored = PasswordHasher(OLD_PROFILE).hash(PASSWORD)

    with pytest.raises(PasswordMismatch):
        hasher.verify_and_upgrade(stored, OTHER_PASSWORD)


def test_upgrade_logs_one_info_line(
    hasher: PasswordHasher, caplog: pytest.LogCaptureFixture
) -> None:
    """An upgrade logs one INFO line naming the new profile."""
    stored = PasswordHasher(OLD_PROFILE).hash(PASSWORD)
    caplog.set_level(logging.INFO, logger="jivs_security.passwords")

    hasher.verify_and_upgrade(stored, PASSWORD)

    infos = [record for record in caplog.records if record.levelno == logging.INFO]
    assert len(infos) == 1
    assert "tests-only-insecure" in infos[0].getMessage()


# Peppers.


def test_pepper_prefix_format(keys: dict[str, bytes]) -> None:
    """A peppered hash is the pepper prefix followed by a standard Argon2id PHC string."""
    stored = peppered(keys, "k1").hash(PASSWORD)

    assert stored.startswith("$jivs-pepper$v=1$id=k1$argon2id$v=19$m=64,t=1,p=1$")


def test_pepper_round_trip(keys: dict[str, bytes]) -> None:
    """A peppered hash verifies and reports its pepper id."""
    pepper_hasher = peppered(keys, "k1")
    stored = pepper_hasher.hash(PASSWORD)

    result = pepper_hasher.verify(stored, PASSWORD)

    assert result == VerifyResult(needs_rehash=False, pepper_id="k1")


def test_pepper_key_matters(keys: dict[str, bytes]) -> None:
    """The same pepper id with a different key does not verify."""
    stored = peppered(keys, "k1").hash(PASSWORD)
    impostor = PasswordHasher(TESTS_ONLY, peppers={"k1": secrets.token_bytes(32)}, pepper_id="k1")

    with pytest.raises(PasswordMismatch):
        impostor.verify(stored, PASSWORD)


def test_pepper_prefix_stripped(hasher: PasswordHasher, keys: dict[str, bytes]) -> None:
    """Removing the pepper prefix does not turn a hash into a plain one that verifies."""
    stored = peppered(keys, "k1").hash(PASSWORD)
    stripped = stored.removeprefix("$jivs-pepper$v=1$id=k1")

    with pytest.raises(PasswordMismatch):
        hasher.verify(stripped, PASSWORD)


def test_pepper_id_swapped(keys: dict[str, bytes]) -> None:
    """Rewriting the pepper id in the prefix makes the hash fail to verify."""
    stored = peppered(keys, "k1").hash(PASSWORD)
    swapped = stored.replace("id=k1$", "id=k2$", 1)

    with pytest.raises(PasswordMismatch):
        peppered(keys, "k2").verify(swapped, PASSWORD)


def test_pepper_rotation(keys: dict[str, bytes]) -> None:
    """After rotation, old hashes verify with their own key, report needs_rehash and upgrade."""
    old_hash = PasswordHasher(TESTS_ONLY, peppers={"k1": keys["k1"]}, pepper_id="k1").hash(PASSWORD)
    rotated = peppered(keys, "k2")

    result = rotated.verify(old_hash, PASSWORD)
    upgraded = rotated.verify_and_upgrade(old_hash, PASSWORD)

    assert result == VerifyResult(needs_rehash=True, pepper_id="k1")
    assert upgraded is not None
    assert upgraded.startswith("$jivs-pepper$v=1$id=k2$")
    assert rotated.verify(upgraded, PASSWORD).needs_rehash is False


def test_unpeppered_hash_verifies_with_pepper(
    hasher: PasswordHasher, keys: dict[str, bytes]
) -> None:
    """A hash from before peppers were added still verifies and reports needs_rehash."""
    stored = hasher.hash(PASSWORD)

    result = peppered(keys, "k1").verify(stored, PASSWORD)

    assert result == VerifyResult(needs_rehash=True, pepper_id=None)


def test_unpeppered_rejected_when_disabled(hasher: PasswordHasher, keys: dict[str, bytes]) -> None:
    """With accept_unpeppered=False, a hash without a pepper raises InvalidHash."""
    stored = hasher.hash(PASSWORD)
    strict = peppered(keys, "k1", accept_unpeppered=False)

    with pytest.raises(InvalidHash) as caught:
        strict.verify(stored, PASSWORD)

    assert caught.value.reason == "missing_pepper"


def test_unknown_pepper_id_names_id(hasher: PasswordHasher, keys: dict[str, bytes]) -> None:
    """A hash naming a pepper id that is not configured raises KeyNotFound with that id."""
    stored = peppered(keys, "k2").hash(PASSWORD)
    only_k1 = PasswordHasher(TESTS_ONLY, peppers={"k1": keys["k1"]}, pepper_id="k1")

    with pytest.raises(KeyNotFound) as caught:
        only_k1.verify(stored, PASSWORD)

    assert caught.value.kid == "k2"
    assert "'k2'" in str(caught.value)


def test_unknown_pepper_without_peppers(hasher: PasswordHasher, keys: dict[str, bytes]) -> None:
    """A hasher without peppers raises KeyNotFound for a peppered hash."""
    stored = peppered(keys, "k1").hash(PASSWORD)

    with pytest.raises(KeyNotFound):
        hasher.verify(stored, PASSWORD)


@pytest.mark.parametrize(
    ("peppers", "pepper_id", "setting"),
    [
        ({"k1": b"short"}, "k1", "peppers"),
        ({"k1": "a" * 32}, "k1", "peppers"),
        ({"bad id": b"k" * 32}, "bad id", "peppers"),
        ({"k" * 33: b"k" * 32}, "k" * 33, "peppers"),
        ({"": b"k" * 32}, "", "peppers"),
        ({"k1": b"k" * 32}, "k2", "pepper_id"),
        ({"k1": b"k" * 32}, None, "pepper_id"),
        (None, "k1", "pepper_id"),
    ],
    ids=[
        "short-key",
        "str-key",
        "space-in-id",
        "long-id",
        "empty-id",
        "unknown-id",
        "no-id",
        "no-peppers",
    ],
)
def test_pepper_config_rejected(peppers: object, pepper_id: str | None, setting: str) -> None:
    """Bad pepper ids, short keys and a pepper_id outside peppers raise ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordHasher(TESTS_ONLY, peppers=peppers, pepper_id=pepper_id)  # type: ignore[arg-type]

    assert caught.value.setting == setting


def test_short_key_error_hides_key() -> None:
    """The error for a short pepper key names the id but neither shows nor stores the key."""
    key = b"0123456789abcdef"

    with pytest.raises(ConfigurationError) as caught:
        PasswordHasher(TESTS_ONLY, peppers={"k1": key}, pepper_id="k1")

    assert "0123456789abcdef" not in str(caught.value)
    assert caught.value.value is None
    assert "'k1'" in str(caught.value)


def test_strict_mode_needs_peppers() -> None:
    """accept_unpeppered=False without peppers is rejected, as it would reject every hash."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordHasher(TESTS_ONLY, accept_unpeppered=False)

    assert caught.value.setting == "accept_unpeppered"


# Malformed stored hashes.

VALID = PasswordHasher(TESTS_ONLY).hash(PASSWORD)
SALT_AND_TAG = VALID.split("$", 4)[4]

MALFORMED = {
    "empty": ("", "empty"),
    "truncated-params": (VALID[:22], "malformed"),
    "truncated-tag-dropped": (VALID.rsplit("$", 1)[0], "malformed"),
    "truncated-tag-length": (VALID[:-10], "malformed"),
    "argon2i": (VALID.replace("$argon2id$", "$argon2i$"), "not_argon2id"),
    "argon2d": (VALID.replace("$argon2id$", "$argon2d$"), "not_argon2id"),
    "bcrypt": ("$2b$12$" + "R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "not_argon2id"),
    "plaintext": ("hunter2", "not_argon2id"),
    "leading-space": (" " + VALID, "not_argon2id"),
    "version-16": (VALID.replace("$v=19$", "$v=16$"), "malformed"),
    "memory-zero": (VALID.replace("m=64,", "m=0,"), "malformed"),
    "memory-below-minimum": (VALID.replace("m=64,", "m=4,"), "malformed"),
    "memory-leading-zero": (VALID.replace("m=64,", "m=064,"), "malformed"),
    "non-ascii-digits": (VALID.replace("m=64,", "m=\u0666\u0664,"), "malformed"),
    "parallelism-over-limit": (VALID.replace("p=1$", "p=16777216$"), "malformed"),
    "trailing-data": (VALID + "$extra", "malformed"),
    "trailing-newline": (VALID + "\n", "malformed"),
    "pepper-empty-id": ("$jivs-pepper$v=1$id=" + VALID, "malformed"),
    "pepper-version-2": ("$jivs-pepper$v=2$id=k1" + VALID, "unsupported_version"),
    "pepper-without-hash": ("$jivs-pepper$v=1$id=k1", "malformed"),
    "overlong": (VALID + "A" * 600, "too_long"),
}


@pytest.mark.parametrize(("stored", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_hash_rejected(hasher: PasswordHasher, stored: str, reason: str) -> None:
    """verify() raises InvalidHash with a stable reason for each malformed stored hash."""
    with pytest.raises(InvalidHash) as caught:
        hasher.verify(stored, PASSWORD)

    assert caught.value.reason == reason


@pytest.mark.parametrize(("stored", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_hash_not_echoed(hasher: PasswordHasher, stored: str, reason: str) -> None:
    """The InvalidHash message contains neither the stored string nor its salt and tag."""
    with pytest.raises(InvalidHash) as caught:
        hasher.verify(stored, PASSWORD)

    message = str(caught.value)
    if stored:
        assert stored not in message
    assert SALT_AND_TAG not in message
    assert "hunter2" not in message


@pytest.mark.parametrize(("stored", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_hash_needs_rehash_raises(
    hasher: PasswordHasher, stored: str, reason: str
) -> None:
    """needs_rehash() raises InvalidHash too, rather than guessing."""
    with pytest.raises(InvalidHash):
        hasher.needs_rehash(stored)


def test_bytes_hash_rejected(hasher: PasswordHasher) -> None:
    """A stored hash given as bytes raises InvalidHash naming the type."""
    with pytest.raises(InvalidHash) as caught:
        hasher.verify(VALID.encode("ascii"), PASSWORD)  # type: ignore[arg-type]

    assert caught.value.reason == "not_a_string"
    assert "bytes" in str(caught.value)


def test_bcrypt_named_in_error(hasher: PasswordHasher) -> None:
    """A bcrypt hash is named as bcrypt, so the operator knows to migrate it."""
    with pytest.raises(InvalidHash) as caught:
        hasher.verify(MALFORMED["bcrypt"][0], PASSWORD)

    assert "bcrypt" in str(caught.value)


def test_bad_base64_rejected_by_argon2(hasher: PasswordHasher) -> None:
    """A tag that passes the format check but that Argon2 cannot decode raises InvalidHash."""
    head, tag = VALID.rsplit("$", 1)
    # 43 base64 characters carry 258 bits, so the last two bits of a 32-byte
    # tag are zero. "B" (000001) sets one of them, which the Argon2 reference
    # decoder rejects as non-canonical.
    bad = f"{head}${tag[:-1]}B"

    with pytest.raises(InvalidHash) as caught:
        hasher.verify(bad, PASSWORD)

    assert caught.value.reason == "malformed"
    assert "Decoding failed" in str(caught.value)


# Unicode normalisation.


@pytest.mark.parametrize(
    ("typed", "stored_as"),
    [
        ("\ufb01sh-and-chips", "fish-and-chips"),
        ("\uff21\uff22\uff23-password", "ABC-password"),
        ("cafe\u0301-au-lait", "caf\u00e9-au-lait"),
        ("\u2460\u2461\u2462-secret", "123-secret"),
    ],
    ids=["ligature", "full-width", "combining-accent", "circled-digits"],
)
def test_nfkc_equivalents_match(hasher: PasswordHasher, typed: str, stored_as: str) -> None:
    """Passwords that are equal under NFKC verify against each other."""
    stored = hasher.hash(stored_as)

    result = hasher.verify(stored, typed)

    assert result.needs_rehash is False


def test_nfkc_distinct_stays_distinct(hasher: PasswordHasher) -> None:
    """Normalisation does not fold case, so "Password" and "password" differ."""
    stored = hasher.hash("Password-one")

    with pytest.raises(PasswordMismatch):
        hasher.verify(stored, "password-one")


# No truncation.


def test_long_password_last_char(hasher: PasswordHasher) -> None:
    """Two 1,000-character passwords that differ only in the last character do not match."""
    base = "a" * 999
    stored = hasher.hash(base + "b")

    with pytest.raises(PasswordMismatch):
        hasher.verify(stored, base + "c")


def test_long_password_beyond_bcrypt_limit(hasher: PasswordHasher) -> None:
    """Characters after bcrypt's 72-byte limit still count."""
    stored = hasher.hash("x" * 72 + "tail-one")

    with pytest.raises(PasswordMismatch):
        hasher.verify(stored, "x" * 72 + "tail-two")


def test_nul_byte_not_truncated(hasher: PasswordHasher) -> None:
    """A NUL character does not end the password, as it would for a C string."""
    stored = hasher.hash("prefix\x00suffix-one")

    with pytest.raises(PasswordMismatch):
        hasher.verify(stored, "prefix\x00suffix-two")


def test_nul_prefix_not_equal(hasher: PasswordHasher) -> None:
    """A password does not match the same password followed by a NUL and more text."""
    stored = hasher.hash("prefix")

    with pytest.raises(PasswordMismatch):
        hasher.verify(stored, "prefix\x00")


# Password input limits.


def test_max_length_accepted(hasher: PasswordHasher) -> None:
    """A password of exactly the default maximum of 1,024 characters hashes and verifies."""
    password = "p" * 1024

    stored = hasher.hash(password)

    assert hasher.verify(stored, password).needs_rehash is False


def test_over_max_length_rejected(hasher: PasswordHasher) -> None:
    """A password one character over the maximum raises InvalidPassword."""
    with pytest.raises(InvalidPassword) as caught:
        hasher.hash("p" * 1025)

    assert caught.value.reason == "too_long"
    assert caught.value.max_length == 1024


def test_custom_max_length(hasher: PasswordHasher) -> None:
    """max_length is configurable, and verify() applies it too."""
    short = PasswordHasher(TESTS_ONLY, max_length=100)
    stored = hasher.hash("q" * 101)

    with pytest.raises(InvalidPassword) as caught:
        short.verify(stored, "q" * 101)

    assert caught.value.max_length == 100


def test_length_counts_code_points(hasher: PasswordHasher) -> None:
    """Length counts code points, so 64 four-byte emoji fit a 64-character limit."""
    limited = PasswordHasher(TESTS_ONLY, max_length=64)
    password = "\U0001f600" * 64

    stored = limited.hash(password)

    assert limited.verify(stored, password).pepper_id is None


@pytest.mark.parametrize("max_length", [63, 0, -1, True, 100.0])
def test_max_length_below_nist_rejected(max_length: object) -> None:
    """max_length below 64 (NIST SP 800-63B-4) or not an integer is rejected."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordHasher(TESTS_ONLY, max_length=max_length)  # type: ignore[arg-type]

    assert caught.value.setting == "max_length"


def test_empty_password_rejected(hasher: PasswordHasher) -> None:
    """An empty password raises InvalidPassword."""
    with pytest.raises(InvalidPassword) as caught:
        hasher.hash("")

    assert caught.value.reason == "empty"


@pytest.mark.parametrize("password", [b"bytes-password", None, 12345678, ["list"]])
def test_non_str_password_rejected(hasher: PasswordHasher, password: object) -> None:
    """A password that is not a str raises InvalidPassword naming the type."""
    with pytest.raises(InvalidPassword) as caught:
        hasher.hash(password)  # type: ignore[arg-type]

    assert caught.value.reason == "not_a_string"
    assert type(password).__name__ in str(caught.value)


def test_non_str_password_verify(hasher: PasswordHasher) -> None:
    """verify() rejects a bytes password as hash() does."""
    stored = hasher.hash(PASSWORD)

    with pytest.raises(InvalidPassword):
        hasher.verify(stored, PASSWORD.encode())  # type: ignore[arg-type]


def test_lone_surrogate_rejected(hasher: PasswordHasher) -> None:
    """A lone surrogate raises InvalidPassword without chaining the encoding error."""
    with pytest.raises(InvalidPassword) as caught:
        hasher.hash("abc\ud800def")

    assert caught.value.reason == "invalid_unicode"
    assert caught.value.__context__ is None


def test_invalid_password_is_value_error(hasher: PasswordHasher) -> None:
    """InvalidPassword is a ValueError, for callers that do not know this package."""
    with pytest.raises(ValueError, match="empty"):
        hasher.hash("")


# Secrets never shown.


def test_repr_shows_ids_not_keys(keys: dict[str, bytes]) -> None:
    """repr names the profile and pepper ids and contains no key material."""
    text = repr(peppered(keys, "k2"))

    assert "tests-only-insecure" in text
    assert "['k1', 'k2']" in text
    for key in keys.values():
        assert key.hex() not in text
        assert repr(key) not in text


def test_parsed_hash_repr_hides_tag(hasher: PasswordHasher) -> None:
    """ParsedHash's repr shows the parameters but not the salt and tag."""
    stored = hasher.hash(PASSWORD)

    text = repr(parse_stored_hash(stored))

    assert stored.split("$", 4)[4] not in text
    assert "memory_kib=64" in text


def test_errors_never_contain_password(hasher: PasswordHasher) -> None:
    """No error raised for a wrong, too long or surrogate password contains the password."""
    secret = "S3cret-Value!"
    stored = hasher.hash(PASSWORD)
    attempts: list[Callable[[], object]] = [
        lambda: hasher.verify(stored, secret),
        lambda: hasher.hash(secret * 100),
        lambda: hasher.hash(secret + "\udfff"),
        lambda: hasher.dummy_verify(secret),
    ]

    messages = []
    for attempt in attempts:
        with pytest.raises((PasswordMismatch, InvalidPassword)) as caught:
            attempt()
        messages.append(f"{caught.value!s} {caught.value!r} {vars(caught.value)!r}")

    assert len(messages) == 4
    for message in messages:
        assert secret not in message


def test_logs_never_contain_secrets(
    keys: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG level, no log line contains the password, a stored hash or a pepper key."""
    caplog.set_level(logging.DEBUG, logger="jivs_security.passwords")
    old = PasswordHasher(TESTS_ONLY, peppers={"k1": keys["k1"]}, pepper_id="k1")
    current = peppered(keys, "k2")
    stored = old.hash(PASSWORD)

    upgraded = current.verify_and_upgrade(stored, PASSWORD)
    with pytest.raises(PasswordMismatch):
        current.verify(stored, OTHER_PASSWORD)
    with pytest.raises(PasswordMismatch):
        current.dummy_verify(PASSWORD)
    with pytest.raises(InvalidHash):
        current.verify(stored[:30], PASSWORD)

    assert upgraded is not None
    assert caplog.records
    logged = caplog.text + " ".join(repr(record.args) for record in caplog.records)
    for text in (PASSWORD, OTHER_PASSWORD, stored, upgraded):
        assert text not in logged
    for key in keys.values():
        assert key.hex() not in logged
        assert repr(key) not in logged
    assert stored.rsplit("$", 1)[1] not in logged
    assert upgraded.rsplit("$", 1)[1] not in logged


# dummy_verify.


def test_dummy_verify_raises_mismatch(hasher: PasswordHasher) -> None:
    """dummy_verify always raises PasswordMismatch with reason "unknown_account"."""
    with pytest.raises(PasswordMismatch) as caught:
        hasher.dummy_verify(PASSWORD)

    assert caught.value.reason == "unknown_account"


def test_dummy_verify_same_message(hasher: PasswordHasher) -> None:
    """An unknown account and a wrong password produce the same error message."""
    stored = hasher.hash(PASSWORD)
    with pytest.raises(PasswordMismatch) as wrong:
        hasher.verify(stored, OTHER_PASSWORD)

    with pytest.raises(PasswordMismatch) as unknown:
        hasher.dummy_verify(OTHER_PASSWORD)

    assert str(unknown.value) == str(wrong.value)


def test_dummy_verify_repeated(keys: dict[str, bytes]) -> None:
    """dummy_verify keeps raising PasswordMismatch on later calls, with a pepper too."""
    pepper_hasher = peppered(keys, "k1")

    for _ in range(3):
        with pytest.raises(PasswordMismatch):
            pepper_hasher.dummy_verify(PASSWORD)


def test_dummy_hash_uses_profile_and_pepper(keys: dict[str, bytes]) -> None:
    """The hash behind dummy_verify has the hasher's profile and pepper, so it costs the same."""
    pepper_hasher = peppered(keys, "k1")
    with pytest.raises(PasswordMismatch):
        pepper_hasher.dummy_verify(PASSWORD)

    dummy = pepper_hasher._dummy_hash

    assert dummy is not None
    assert not pepper_hasher.needs_rehash(dummy)


def test_dummy_verify_checks_password(hasher: PasswordHasher) -> None:
    """dummy_verify rejects an invalid password as verify() would."""
    with pytest.raises(InvalidPassword):
        hasher.dummy_verify("")


# Calibration. A fake measurement makes the search exact: 1 ms per pass per MiB.


def linear_ms(profile: HashProfile) -> float:
    """Return a modelled hash time: one millisecond per pass per MiB of memory."""
    return profile.time_cost * profile.memory_kib / 1024


def test_calibrate_picks_largest_fitting() -> None:
    """With 1 ms per pass, a 10 ms target at 1 MiB gives t=10."""
    profile = calibrate(10, memory_kib=1024, measure=linear_ms)

    assert profile.time_cost == 10
    assert profile.memory_kib == 1024


def test_calibrate_target_between_passes() -> None:
    """A target between two pass counts gives the lower one, never exceeding the target."""
    profile = calibrate(10.9, memory_kib=1024, measure=linear_ms)

    assert profile.time_cost == 10


def test_calibrate_caps_time_cost() -> None:
    """max_time_cost caps the passes even when the target allows more."""
    profile = calibrate(1000, memory_kib=1024, max_time_cost=7, measure=linear_ms)

    assert profile.time_cost == 7


def test_calibrate_monotonic_in_target() -> None:
    """A larger target never gives fewer passes at fixed memory."""
    targets = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]

    costs = [calibrate(t, memory_kib=1024, measure=linear_ms).time_cost for t in targets]

    assert costs == [min(t, 64) for t in targets]


def test_calibrate_reduces_memory_when_allowed() -> None:
    """When t=1 is over the target, memory is halved down to min_memory_kib."""
    profile = calibrate(2, memory_kib=8192, min_memory_kib=1024, measure=linear_ms)

    assert profile.memory_kib == 2048
    assert profile.time_cost == 1


def test_calibrate_fixed_memory_too_slow() -> None:
    """Without min_memory_kib, a memory size too slow for t=1 raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        calibrate(0.5, memory_kib=1024, measure=linear_ms)

    assert caught.value.setting == "target_ms"
    assert "min_memory_kib" in str(caught.value)


def test_calibrate_passes_parallelism() -> None:
    """Every measured profile has the requested lanes and memory."""
    seen: list[HashProfile] = []

    def recording(profile: HashProfile) -> float:
        seen.append(profile)
        return linear_ms(profile)

    calibrate(20, memory_kib=2048, parallelism=2, measure=recording)

    assert seen
    assert {(p.memory_kib, p.parallelism) for p in seen} == {(2048, 2)}


def test_calibrate_cites_rfc() -> None:
    """The calibrated profile's source names RFC 9106 and the target."""
    profile = calibrate(10, memory_kib=1024, measure=linear_ms)

    assert "RFC 9106, section 4" in profile.source
    assert "10 ms" in profile.source


def test_calibrate_real_measurement() -> None:
    """Real timing with a tiny memory size returns a usable profile within the bounds given."""
    profile = calibrate(1000, memory_kib=64, max_time_cost=3, min_memory_kib=8, rounds=1)
    calibrated = PasswordHasher(profile)

    stored = calibrated.hash(PASSWORD)

    assert 1 <= profile.time_cost <= 3
    assert 8 <= profile.memory_kib <= 64
    assert profile.parallelism == 1
    assert calibrated.verify(stored, PASSWORD).needs_rehash is False


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"target_ms": 0}, "target_ms"),
        ({"target_ms": -5}, "target_ms"),
        ({"target_ms": math.nan}, "target_ms"),
        ({"target_ms": math.inf}, "target_ms"),
        ({"target_ms": True}, "target_ms"),
        ({"target_ms": "50"}, "target_ms"),
        ({"max_time_cost": 0}, "max_time_cost"),
        ({"rounds": 0}, "rounds"),
        ({"min_memory_kib": 2048}, "min_memory_kib"),
        ({"min_memory_kib": 4}, "min_memory_kib"),
        ({"parallelism": 0}, "parallelism"),
        ({"memory_kib": 4}, "memory_kib"),
    ],
)
def test_calibrate_rejects_bad_input(options: dict[str, object], setting: str) -> None:
    """calibrate() validates every argument before measuring and names the bad one."""
    arguments: dict[str, object] = {"target_ms": 10, "memory_kib": 1024, "measure": linear_ms}
    arguments.update(options)

    with pytest.raises(ConfigurationError) as caught:
        calibrate(**arguments)  # type: ignore[arg-type]

    assert caught.value.setting == setting


def test_stored_cost_above_limit_rejected() -> None:
    """A stored hash asking for more memory than the hasher allows is rejected before hashing."""
    hasher = PasswordHasher(TESTS_ONLY, max_memory_kib=1024)
    costly = PasswordHasher(
        HashProfile(name="costly", memory_kib=4096, time_cost=1, parallelism=1, source="test input")
    ).hash("correct horse battery staple")

    with pytest.raises(InvalidHash) as caught:
        hasher.verify(costly, "correct horse battery staple")

    assert caught.value.reason == "cost_too_high"


def test_default_memory_limit_above_rfc_profile() -> None:
    """For a cheap profile the default limit is the RFC 9106 low-memory size, 64 MiB."""
    hasher = PasswordHasher(TESTS_ONLY)

    with pytest.raises(InvalidHash) as caught:
        hasher.verify(
            "$argon2id$v=19$m=65537,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
            "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "password",
        )

    assert caught.value.reason == "cost_too_high"
