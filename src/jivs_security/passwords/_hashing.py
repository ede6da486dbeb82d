"""Argon2id password hashing: cost profiles, calibration, peppers and the stored-hash format.

Stored hash format
==================

Without a pepper, a stored hash is the PHC string that argon2-cffi writes::

    $argon2id$v=19$m=19456,t=2,p=1$<salt>$<tag>

``m`` is the memory in KiB, ``t`` the number of passes and ``p`` the number
of lanes. Salt and tag are base64 without padding. With a pepper, a prefix
names the pepper key that was used::

    $jivs-pepper$v=1$id=<pepper id>$argon2id$v=19$m=19456,t=2,p=1$<salt>$<tag>

``v=1`` is the version of the prefix. The pepper id matches
``[A-Za-z0-9_-]{1,32}`` and is not secret. With a pepper, Argon2id hashes
HMAC-SHA-256(pepper key, password) in place of the password, so a copy of
the database alone is not enough to test guesses offline. Peppers rotate by
id: add the new key to ``peppers`` and make it ``pepper_id``. Old hashes
keep verifying with their own key and report ``needs_rehash``, so
:meth:`PasswordHasher.verify_and_upgrade` moves them to the new key at the
next sign-in.

Passwords are normalised to Unicode NFKC before hashing and checking, as
NIST SP 800-63B-4 recommends for passwords that accept Unicode. So the
ligature "ﬁ" (U+FB01) and the two letters "fi" are the same password, as are
full-width and ASCII letters.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NoReturn

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from jivs_security.errors import (
    ConfigurationError,
    InvalidHash,
    InvalidPassword,
    KeyNotFound,
    PasswordMismatch,
)
from jivs_security.passwords._profiles import (
    DEFAULT_PROFILE,
    MAX_PARALLELISM,
    MAX_UINT32,
    MIN_MEMORY_KIB_PER_LANE,
    OWASP_MINIMUM,
    RFC_9106_HIGH_MEMORY,
    RFC_9106_LOW_MEMORY,
    TESTS_ONLY,
    HashProfile,
    calibrate,
    check_int,
    setting_error,
)

__all__ = [
    "DEFAULT_PROFILE",
    "OWASP_MINIMUM",
    "RFC_9106_HIGH_MEMORY",
    "RFC_9106_LOW_MEMORY",
    "TESTS_ONLY",
    "HashProfile",
    "ParsedHash",
    "PasswordHasher",
    "VerifyResult",
    "calibrate",
    "parse_stored_hash",
]

logger = logging.getLogger("jivs_security.passwords")

# NIST SP 800-63B-4: verifiers should permit passwords of at least 64
# characters. The default limit of 1,024 characters stops denial-of-service
# inputs while leaving room for passphrases and password managers.
MIN_MAX_LENGTH: Final = 64
DEFAULT_MAX_LENGTH: Final = 1024

# RFC 2104, section 3: an HMAC key shorter than the hash output (32 bytes for
# SHA-256) is strongly discouraged.
MIN_PEPPER_BYTES: Final = 32

_PEPPER_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
_PEPPER_PREFIX: Final = re.compile(
    r"\$jivs-pepper\$v=(?P<version>[0-9]{1,4})\$id=(?P<id>[A-Za-z0-9_-]{1,32})(?P<rest>\$.*)",
    re.ASCII | re.DOTALL,
)
# Salt and tag lengths in base64 characters: 11 to 86 for an 8-byte salt
# (the Argon2 minimum) up to 64 bytes, and 22 to 86 for a 16- to 64-byte tag.
_PHC: Final = re.compile(
    r"\$argon2id\$v=19"
    r"\$m=(?P<m>[1-9][0-9]{0,9}),t=(?P<t>[1-9][0-9]{0,9}),p=(?P<p>[1-9][0-9]{0,7})"
    r"\$(?P<salt>[A-Za-z0-9+/]{11,86})\$(?P<tag>[A-Za-z0-9+/]{22,86})",
    re.ASCII,
)
# Longer than any hash this module writes (about 260 characters with 64-byte
# salt and tag and a 32-character pepper id), so parsing stays cheap.
_MAX_STORED_HASH_LENGTH: Final = 512

# Schemes that a migrated database may hold, named in errors by their PHC or
# crypt(3) identifier. Only identifiers from this table are shown, because an
# unknown string might be a plaintext password stored by mistake.
_KNOWN_SCHEMES: Final = {
    "argon2i": "Argon2i",
    "argon2d": "Argon2d",
    "2a": "bcrypt",
    "2b": "bcrypt",
    "2y": "bcrypt",
    "scrypt": "scrypt",
    "pbkdf2-sha256": "PBKDF2",
    "pbkdf2-sha512": "PBKDF2",
    "1": "MD5-crypt",
    "5": "SHA-256-crypt",
    "6": "SHA-512-crypt",
}

_EXPECTED_FORMAT: Final = (
    "a $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<tag> string from "
    "PasswordHasher.hash(), optionally behind a $jivs-pepper$v=1$id=<id> prefix"
)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a successful :meth:`PasswordHasher.verify`.

    ``needs_rehash`` is true when the stored hash uses other parameters or
    another pepper than the hasher's, and ``pepper_id`` names the pepper that
    verified it (``None`` for an unpeppered hash).
    """

    needs_rehash: bool
    pepper_id: str | None


@dataclass(frozen=True)
class ParsedHash:
    """The parameters and pepper id of a stored hash, which keeps its salt and tag in ``phc``."""

    pepper_id: str | None
    memory_kib: int
    time_cost: int
    parallelism: int
    salt_len: int
    hash_len: int
    phc: str

    def __repr__(self) -> str:
        # The dataclass repr would show the PHC string, which is secret.
        return (
            f"ParsedHash(pepper_id={self.pepper_id!r}, memory_kib={self.memory_kib}, "
            f"time_cost={self.time_cost}, parallelism={self.parallelism}, "
            f"salt_len={self.salt_len}, hash_len={self.hash_len})"
        )


def parse_stored_hash(stored_hash: object) -> ParsedHash:
    """Check the format of a stored hash and return its parameters and pepper id.

    Raises :class:`~jivs_security.errors.InvalidHash` for anything but an
    Argon2id (version 19) PHC string, optionally behind the pepper prefix
    described in this module's docstring.
    """
    if not isinstance(stored_hash, str):
        raise _invalid_hash(
            "not_a_string", f"the stored hash is a {type(stored_hash).__name__}, not a str"
        )
    if not stored_hash:
        raise _invalid_hash("empty", "the stored hash is empty")
    if len(stored_hash) > _MAX_STORED_HASH_LENGTH:
        raise _invalid_hash(
            "too_long",
            f"the stored hash is longer than {_MAX_STORED_HASH_LENGTH} characters",
        )

    pepper_id = None
    phc = stored_hash
    if stored_hash.startswith("$jivs-pepper$"):
        prefix = _PEPPER_PREFIX.fullmatch(stored_hash)
        if prefix is None:
            raise _invalid_hash("malformed", "the pepper prefix of the stored hash is malformed")
        if prefix["version"] != "1":
            raise _invalid_hash(
                "unsupported_version",
                f"the pepper prefix has version {prefix['version']}; this library reads version 1",
            )
        pepper_id = prefix["id"]
        phc = prefix["rest"]

    match = _PHC.fullmatch(phc)
    if match is None:
        raise _invalid_hash(*_explain_mismatch(phc))

    memory_kib, time_cost, parallelism = int(match["m"]), int(match["t"]), int(match["p"])
    salt_chars, tag_chars = len(match["salt"]), len(match["tag"])
    if (
        memory_kib > MAX_UINT32
        or time_cost > MAX_UINT32
        or parallelism > MAX_PARALLELISM
        or memory_kib < MIN_MEMORY_KIB_PER_LANE * parallelism
        or salt_chars % 4 == 1
        or tag_chars % 4 == 1
    ):
        raise _invalid_hash("malformed", "the stored hash has parameters outside Argon2's limits")

    return ParsedHash(
        pepper_id=pepper_id,
        memory_kib=memory_kib,
        time_cost=time_cost,
        parallelism=parallelism,
        # Unpadded base64 carries 6 bits per character.
        salt_len=salt_chars * 3 // 4,
        hash_len=tag_chars * 3 // 4,
        phc=phc,
    )


class PasswordHasher:
    """Hashes and verifies passwords with Argon2id, optionally with a pepper.

    ``profile`` sets the cost of new hashes. Hashes made with other costs
    still verify and report ``needs_rehash``. ``peppers`` maps pepper ids to
    secret keys of at least 32 bytes, and ``pepper_id`` names the one that new
    hashes use. With ``accept_unpeppered=False``, hashes without a pepper are
    rejected. Set it once every stored hash has a pepper, so that a hash
    written into the database by someone without the pepper never verifies.

    Passwords must be non-empty ``str`` values of at most ``max_length``
    characters (code points, counted before normalisation). They are
    normalised to NFKC and hashed whole, never truncated. The hash comparison
    is the constant-time one inside the Argon2 library. ``repr`` shows the
    profile name and pepper ids, never a key.

    :meth:`verify` runs with the cost parameters written in the stored hash.
    So that a forged or corrupted hash cannot make one verification take
    minutes or gigabytes, hashes whose memory exceeds ``max_memory_kib`` or
    whose passes exceed ``max_time_cost`` are rejected as
    :class:`~jivs_security.errors.InvalidHash` (``reason="cost_too_high"``).
    The defaults allow four times the profile's cost, and at least the
    RFC 9106 low-memory profile, so hashes from an earlier, costlier profile
    still verify.
    """

    def __init__(
        self,
        profile: HashProfile = DEFAULT_PROFILE,
        *,
        peppers: Mapping[str, bytes] | None = None,
        pepper_id: str | None = None,
        accept_unpeppered: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
        max_memory_kib: int | None = None,
        max_time_cost: int | None = None,
    ) -> None:
        if not isinstance(profile, HashProfile):
            raise setting_error("profile", type(profile).__name__, "a HashProfile")
        check_int(
            "max_length",
            max_length,
            MIN_MAX_LENGTH,
            None,
            note="NIST SP 800-63B-4 asks verifiers to permit at least 64 characters",
        )
        self._profile = profile
        self._peppers = _check_peppers(peppers, pepper_id)
        if not accept_unpeppered and not self._peppers:
            raise setting_error(
                "accept_unpeppered", accept_unpeppered, "True unless peppers are configured"
            )
        self._pepper_id = pepper_id
        self._accept_unpeppered = bool(accept_unpeppered)
        self._max_length = max_length
        if max_memory_kib is None:
            max_memory_kib = max(4 * profile.memory_kib, RFC_9106_LOW_MEMORY.memory_kib)
        if max_time_cost is None:
            max_time_cost = max(4 * profile.time_cost, RFC_9106_LOW_MEMORY.time_cost)
        check_int("max_memory_kib", max_memory_kib, profile.memory_kib, MAX_UINT32)
        check_int("max_time_cost", max_time_cost, profile.time_cost, MAX_UINT32)
        self._max_memory_kib = max_memory_kib
        self._max_time_cost = max_time_cost
        self._argon2 = argon2.PasswordHasher(
            time_cost=profile.time_cost,
            memory_cost=profile.memory_kib,
            parallelism=profile.parallelism,
            hash_len=profile.hash_len,
            salt_len=profile.salt_len,
            type=argon2.Type.ID,
        )
        # Made by the first dummy_verify() call rather than here, so that
        # building a hasher with a 2 GiB profile allocates nothing.
        self._dummy_hash: str | None = None

    def __repr__(self) -> str:
        return (
            f"PasswordHasher(profile={self._profile.name!r}, "
            f"pepper_ids={sorted(self._peppers)!r}, pepper_id={self._pepper_id!r}, "
            f"max_length={self._max_length})"
        )

    @property
    def profile(self) -> HashProfile:
        """The cost profile of new hashes."""
        return self._profile

    @property
    def pepper_id(self) -> str | None:
        """The id of the pepper that new hashes use, or ``None`` without a pepper."""
        return self._pepper_id

    @property
    def max_length(self) -> int:
        """The maximum password length in characters."""
        return self._max_length

    def hash(self, password: str) -> str:
        """Hash ``password`` with a new random salt and return the string to store."""
        secret = self._secret(password, self._pepper_id)
        phc = self._argon2.hash(secret)
        logger.debug(
            "password hashed (profile=%s, pepper_id=%s)", self._profile.name, self._pepper_id
        )
        return _with_prefix(self._pepper_id, phc)

    def verify(self, stored_hash: str, password: str) -> VerifyResult:
        """Verify ``password`` against ``stored_hash`` and raise unless it matches.

        Raises :class:`~jivs_security.errors.PasswordMismatch` when the
        password is wrong, :class:`~jivs_security.errors.InvalidPassword` for
        a password that could never have been hashed,
        :class:`~jivs_security.errors.InvalidHash` for a malformed stored
        hash and :class:`~jivs_security.errors.KeyNotFound` when the hash
        names a pepper id that is not configured.
        """
        normalised = self._normalise(password)
        parsed = parse_stored_hash(stored_hash)
        self._verify_parsed(parsed, normalised)
        needs_rehash = self._needs_rehash(parsed)
        logger.debug(
            "password verified (pepper_id=%s, needs_rehash=%s)", parsed.pepper_id, needs_rehash
        )
        return VerifyResult(needs_rehash=needs_rehash, pepper_id=parsed.pepper_id)

    def needs_rehash(self, stored_hash: str) -> bool:
        """Return whether ``stored_hash`` differs from what :meth:`hash` would write now.

        It differs when its Argon2 parameters, salt or tag length differ from
        the profile, or when its pepper id is not the active one (including
        a hash without a pepper while one is configured, and the reverse).
        """
        return self._needs_rehash(parse_stored_hash(stored_hash))

    def verify_and_upgrade(self, stored_hash: str, password: str) -> str | None:
        """Verify ``password`` and return a new hash to store if the old one is outdated.

        Returns ``None`` when ``stored_hash`` is current. Raises as
        :meth:`verify` does, and then nothing is hashed.
        """
        result = self.verify(stored_hash, password)
        if not result.needs_rehash:
            return None
        new_hash = self.hash(password)
        logger.info(
            "password hash upgraded to profile %s (%s), pepper_id %s -> %s",
            self._profile.name,
            self._profile.describe(),
            result.pepper_id,
            self._pepper_id,
        )
        return new_hash

    def dummy_verify(self, password: str) -> NoReturn:
        """Spend the time of a real :meth:`verify`, then raise ``PasswordMismatch``.

        Call it when the account does not exist, so that a sign-in for an
        unknown user takes as long as one with a wrong password and response
        times do not reveal which accounts exist. It checks ``password``
        against a hash of a random password, made with this hasher's profile
        and active pepper. It always raises
        :class:`~jivs_security.errors.PasswordMismatch` with
        ``reason="unknown_account"``, or ``InvalidPassword`` as :meth:`verify`
        would.

        NOTE: the first call also makes that hash, so it takes about one
        extra hash longer than later calls.
        """
        normalised = self._normalise(password)
        if self._dummy_hash is None:
            # Two threads may both get here. Each makes a valid hash and the
            # last assignment wins, which is harmless.
            self._dummy_hash = self.hash(secrets.token_urlsafe(32))
        parsed = parse_stored_hash(self._dummy_hash)
        with contextlib.suppress(PasswordMismatch):
            self._verify_parsed(parsed, normalised)
        raise PasswordMismatch(reason="unknown_account")

    def _verify_parsed(self, parsed: ParsedHash, normalised: bytes) -> None:
        if parsed.memory_kib > self._max_memory_kib or parsed.time_cost > self._max_time_cost:
            # Built directly: the hash is well formed, so the format hint that
            # _invalid_hash() adds would mislead.
            raise InvalidHash(
                f"the stored hash asks for m={parsed.memory_kib} KiB and t={parsed.time_cost}, "
                f"above this hasher's limits of m={self._max_memory_kib} KiB and "
                f"t={self._max_time_cost}; raise max_memory_kib or max_time_cost if such "
                "hashes are genuine",
                reason="cost_too_high",
            )
        if parsed.pepper_id is None and self._peppers and not self._accept_unpeppered:
            raise _invalid_hash(
                "missing_pepper",
                "the stored hash has no pepper, and this hasher is set to accept_unpeppered=False",
            )
        secret = self._apply_pepper(normalised, parsed.pepper_id)
        try:
            self._argon2.verify(parsed.phc, secret)
        except VerifyMismatchError:
            mismatch = True
        except (VerificationError, InvalidHashError) as exc:
            # Argon2's messages come from a fixed list ("Decoding failed")
            # and never contain the hash.
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            raise _invalid_hash("malformed", f"Argon2 rejected the stored hash: {reason}") from None
        else:
            mismatch = False
        if mismatch:
            raise PasswordMismatch()

    def _needs_rehash(self, parsed: ParsedHash) -> bool:
        profile = self._profile
        return (
            parsed.pepper_id != self._pepper_id
            or parsed.memory_kib != profile.memory_kib
            or parsed.time_cost != profile.time_cost
            or parsed.parallelism != profile.parallelism
            or parsed.salt_len != profile.salt_len
            or parsed.hash_len != profile.hash_len
        )

    def _secret(self, password: str, pepper_id: str | None) -> bytes:
        return self._apply_pepper(self._normalise(password), pepper_id)

    def _apply_pepper(self, normalised: bytes, pepper_id: str | None) -> bytes:
        if pepper_id is None:
            return normalised
        key = self._peppers.get(pepper_id)
        if key is None:
            raise KeyNotFound(
                f"the stored hash was made with pepper id {pepper_id!r}, which is not in "
                f"this hasher's peppers {sorted(self._peppers)!r}. Add that pepper key "
                "to peppers to verify it.",
                kid=pepper_id,
            )
        return hmac.digest(key, normalised, hashlib.sha256)

    def _normalise(self, password: object) -> bytes:
        """Validate ``password`` and return its NFKC form as UTF-8."""
        limit = self._max_length
        if not isinstance(password, str):
            raise InvalidPassword(
                f"the password must be a str, got {type(password).__name__}; "
                "decode bytes to text before hashing or verifying",
                reason="not_a_string",
                max_length=limit,
            )

        if not password:
            raise InvalidPassword(
                "the password is empty; ask the user for a password",
                reason="empty",
                max_length=limit,
            )

        # The length is checked before normalisation, so NFKC never runs on a
        # huge input. Each code point counts as one character, as NIST
        # SP 800-63B-4 requires.
        if len(password) > limit:
            raise InvalidPassword(
                f"the password is longer than the maximum of {limit} characters; "
                "ask the user for a shorter one",
                reason="too_long",
                max_length=limit,
            )

        normalised = unicodedata.normalize("NFKC", password)
        # The encoding error carries the whole password, so the error raised
        # here is built outside the except clause and has no context.
        try:
            encoded = normalised.encode("utf-8")
        except UnicodeEncodeError:
            encoded = None
        if encoded is None:
            raise InvalidPassword(
                "the password contains a lone surrogate code point, which is not valid "
                "Unicode text; check how the request body is decoded",
                reason="invalid_unicode",
                max_length=limit,
            )
        return encoded


def _with_prefix(pepper_id: str | None, phc: str) -> str:
    return phc if pepper_id is None else f"$jivs-pepper$v=1$id={pepper_id}{phc}"


def _check_peppers(peppers: Mapping[str, bytes] | None, pepper_id: str | None) -> dict[str, bytes]:
    checked: dict[str, bytes] = {}
    for key_id, key in (peppers or {}).items():
        if not isinstance(key_id, str) or _PEPPER_ID.fullmatch(key_id) is None:
            raise setting_error("peppers", key_id, "pepper ids matching [A-Za-z0-9_-]{1,32}")
        if not isinstance(key, bytes) or len(key) < MIN_PEPPER_BYTES:
            raise ConfigurationError(
                f"the pepper key {key_id!r} must be bytes of at least {MIN_PEPPER_BYTES} "
                "(the SHA-256 output size); generate one with secrets.token_bytes(32)",
                setting="peppers",
                expected=f"bytes of at least {MIN_PEPPER_BYTES}",
            )
        checked[key_id] = key

    if pepper_id is None and checked:
        raise setting_error(
            "pepper_id", None, f"the id of the pepper for new hashes, one of {sorted(checked)!r}"
        )
    if pepper_id is not None and pepper_id not in checked:
        raise setting_error(
            "pepper_id",
            pepper_id,
            f"one of the configured pepper ids {sorted(checked)!r}, or None without peppers",
        )
    return checked


def _explain_mismatch(phc: str) -> tuple[str, str]:
    """Return the reason code and message for a string that is not Argon2id."""
    scheme = phc.split("$")[1] if phc.startswith("$") and phc.count("$") >= 2 else ""
    if scheme == "argon2id":
        return "malformed", "the stored hash is not a valid Argon2id version 19 string"
    if scheme in _KNOWN_SCHEMES:
        return (
            "not_argon2id",
            f"the stored hash uses {_KNOWN_SCHEMES[scheme]}, and only Argon2id is accepted; "
            "verify it with that scheme and rehash it with PasswordHasher.hash()",
        )
    return "not_argon2id", "the stored hash is not in a recognised format"


def _invalid_hash(reason: str, problem: str) -> InvalidHash:
    return InvalidHash(f"{problem}. Expected {_EXPECTED_FORMAT}.", reason=reason)
