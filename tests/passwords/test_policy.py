"""PasswordPolicy: the NIST SP 800-63B-4 rules, the legacy rules and how verdicts are reported."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jivs_security.errors import (
    BreachCheckUnavailable,
    ConfigurationError,
    PasswordMismatch,
    PasswordReused,
    WeakPassword,
)
from jivs_security.passwords._blocklist import Blocklist
from jivs_security.passwords._hashing import TESTS_ONLY, PasswordHasher
from jivs_security.passwords._policy import PasswordPolicy, PolicyResult

# Passwords that pass nist() with the default minimum score. STRONG_14 is one
# code point short of the single-factor minimum.
STRONG = "vq7-Rm2!kZp9wLx"
STRONG_14 = "vq7-Rm2!kZp9wL"
PASSPHRASE = "Marble otter quietly folds 7"

# A 100-character passphrase of common English words, in no list.
WORDS = "orbit lantern pepper violin meadow canyon harbor pocket silver thunder garden rocket"
LONG_PASSPHRASE = " ".join(WORDS.split() * 2)[:100]

L33T_72 = ("4@8(3!1|0$5+7%2{[<69" * 4)[:72]


def fullwidth(text: str) -> str:
    """Return ``text`` with printable ASCII replaced by fullwidth forms, which NFKC maps back."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


class FakeHasher:
    """A hasher whose stored hash of ``p`` is ``"fake$" + p``; enough to test the history rule."""

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, stored_hash: str, password: str) -> None:
        self.calls += 1
        if stored_hash != "fake$" + password:
            raise PasswordMismatch

    def __repr__(self) -> str:
        return "FakeHasher(pepper='SECRET-PEPPER')"


class StaticBreachChecker:
    """A breach checker with a fixed set of breached passwords, or one that is unavailable."""

    def __init__(self, breached: set[str], *, unavailable: bool = False) -> None:
        self.breached = breached
        self.unavailable = unavailable
        self.calls = 0

    def is_breached(self, password: str) -> bool:
        self.calls += 1
        if self.unavailable:
            raise BreachCheckUnavailable("test service is down", service="static")
        return password in self.breached


@pytest.fixture
def nist() -> PasswordPolicy:
    """The default single-factor NIST policy."""
    return PasswordPolicy.nist()


# Length: NIST SP 800-63B-4 minimums and maximums.


def test_nist_single_factor_minimum_15(nist: PasswordPolicy) -> None:
    """A single-factor password needs 15 code points."""
    short = nist.check(STRONG_14)
    enough = nist.check(STRONG)

    assert short.codes == ("too_short",)
    assert short.violations[0].limit == 15
    assert enough.ok


def test_nist_multi_factor_minimum_8() -> None:
    """With another factor, 8 code points are enough."""
    policy = PasswordPolicy.nist(single_factor=False)

    result = policy.check("Kp9#vZ2qLm")

    assert policy.min_length == 8
    assert "too_short" not in result.codes


def test_nist_accepts_1024_characters(nist: PasswordPolicy) -> None:
    """The default maximum is 1,024 code points, well above the 64 NIST recommends."""
    password = (LONG_PASSPHRASE + " ") * 10 + "x" * 14

    result = nist.check(password[:1024])

    assert len(password[:1024]) == 1024
    assert "too_long" not in result.codes


def test_over_maximum_only_too_long(nist: PasswordPolicy) -> None:
    """One code point over the maximum yields too_long alone, with the limit."""
    result = nist.check("a" * 1025)

    assert result.codes == ("too_long",)
    assert result.violations[0].limit == 1024
    assert result.score is None


def test_huge_input_too_long(nist: PasswordPolicy) -> None:
    """A megabyte of input is reported too long rather than processed."""
    result = nist.check("x" * 1_000_000)

    assert result.codes == ("too_long",)


def test_max_length_configurable() -> None:
    """max_length may be set anywhere from 64 up."""
    policy = PasswordPolicy.nist(max_length=64)

    result = policy.check(STRONG * 5)

    assert result.codes == ("too_long",)


@pytest.mark.parametrize("max_length", [63, 8, 0, -1, 4097, True, 100.0, "1024"])
def test_max_length_out_of_range_rejected(max_length: object) -> None:
    """A maximum below NIST's 64, above 4,096 or not an integer is a configuration error."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.nist(max_length=max_length)  # type: ignore[arg-type]

    assert caught.value.setting == "max_length"


def test_length_counted_after_nfkc(nist: PasswordPolicy) -> None:
    """Length is counted in code points after NFKC, which composes and expands characters."""
    decomposed_short = STRONG[:13] + "e\u0301"  # 15 code points, 14 after NFKC
    decomposed_enough = STRONG_14 + "e\u0301"  # 16 code points, 15 after NFKC
    ligature_enough = STRONG[:12] + "\ufb03"  # 13 code points; the ffi ligature becomes 3

    assert nist.check(decomposed_short).codes == ("too_short",)
    assert nist.check(decomposed_enough).ok
    assert nist.check(ligature_enough).ok


def test_nfkc_expansion_counts_toward_maximum() -> None:
    """A character that NFKC expands to 18 code points counts as 18."""
    policy = PasswordPolicy.nist(max_length=64)
    password = "\ufdfa" * 4  # 4 code points, 72 after NFKC

    result = policy.check(password)

    assert result.codes == ("too_long",)


# Composition: none in nist(), the legacy rules in strict().


def test_nist_has_no_composition_rules(nist: PasswordPolicy) -> None:
    """An all-lower-case passphrase without digits or symbols passes nist()."""
    result = nist.check("marble otter quietly folds")

    assert result.ok


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("marble otter quietly folds", {"missing_upper", "missing_digit"}),
        ("MARBLE OTTER QUIETLY FOLDS 7", {"missing_lower"}),
        ("MarbleOtterQuietlyFolds", {"missing_digit", "missing_symbol"}),
        ("Marble otter quietly folds 7", set()),
        ("M\u00e4rble-\u00d6tt\u00e9r-f\u00f6lds-\u0667", set()),
    ],
)
def test_strict_composition_rules(password: str, missing: set[str]) -> None:
    """strict() requires upper case, lower case, a digit and a symbol, in any script."""
    result = PasswordPolicy.strict().check(password)

    assert {code for code in result.codes if code.startswith("missing_")} == missing


def test_strict_minimum_lengths() -> None:
    """strict() takes the larger of 12 and the NIST minimum."""
    single = PasswordPolicy.strict()
    multi = PasswordPolicy.strict(single_factor=False)

    assert single.min_length == 15
    assert multi.min_length == 12
    assert multi.check("Kp9#vZ2qLm!").codes[0] == "too_short"


def test_single_factor_must_be_bool() -> None:
    """single_factor takes True or False only, so a string 'False' cannot pass as true."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.nist(single_factor="False")  # type: ignore[arg-type]

    assert caught.value.setting == "single_factor"


# Blocklist.


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "PASSWORD",
        "P@ssw0rd",
        "password123456789",
        "2024password!!!!!!",
        "  letmein  ",
        "l3tm31n",
        fullwidth("Password"),
        "let me in",
    ],
)
def test_common_password_variants_blocklisted(nist: PasswordPolicy, password: str) -> None:
    """Common passwords are caught with case, look-alikes, padding and width undone."""
    result = nist.check(password)

    assert "blocklisted" in result.codes


def test_long_common_word_passphrase_accepted(nist: PasswordPolicy) -> None:
    """A 100-character passphrase of common words passes when no list contains it."""
    result = nist.check(LONG_PASSPHRASE)

    assert len(LONG_PASSPHRASE) == 100
    assert result.ok


def test_application_blocklist_rejects_passphrase(tmp_path: Path) -> None:
    """The same passphrase is rejected once the application's list contains it."""
    listed = tmp_path / "blocklist.txt"
    listed.write_text(f"first entry\n\n{LONG_PASSPHRASE.upper()}\n", encoding="utf-8")
    policy = PasswordPolicy.nist(blocklist=Blocklist.from_file(listed))

    result = policy.check(LONG_PASSPHRASE)

    assert result.codes == ("blocklisted",)


def test_application_blocklist_compares_after_nfkc(tmp_path: Path) -> None:
    """A fullwidth entry with a byte order mark matches the ASCII password."""
    listed = tmp_path / "blocklist.txt"
    listed.write_text("\ufeff" + fullwidth(PASSPHRASE.upper()) + "\r\n", encoding="utf-8")
    policy = PasswordPolicy.nist(blocklist=Blocklist.from_file(listed, include_common=False))

    result = policy.check(PASSPHRASE)

    assert result.codes == ("blocklisted",)


def test_application_blocklist_loaded_once_lazily(tmp_path: Path) -> None:
    """The file is read at first use, not at construction, and never again."""
    listed = tmp_path / "blocklist.txt"
    listed.write_text("nothing relevant\n", encoding="utf-8")
    blocklist = Blocklist.from_file(listed, include_common=False)
    listed.write_text(f"{PASSPHRASE}\n", encoding="utf-8")

    first = PASSPHRASE in blocklist
    listed.write_text("nothing relevant\n", encoding="utf-8")
    second = PASSPHRASE in blocklist

    assert first
    assert second


def test_blocklist_file_missing_rejected(tmp_path: Path) -> None:
    """A missing file is a configuration error at construction, naming the path."""
    missing = tmp_path / "absent.txt"

    with pytest.raises(ConfigurationError, match=r"absent\.txt"):
        Blocklist.from_file(missing)


@pytest.mark.parametrize(
    ("content", "offset"),
    [(b"caf\xe9 au lait\n", 3), (b"\xef\xbb\xbfok\ncaf\xe9\n", 9)],
    ids=["plain", "after byte order mark"],
)
def test_blocklist_file_not_utf8_rejected(tmp_path: Path, content: bytes, offset: int) -> None:
    """A file that is not UTF-8 fails when loaded, with the file offset of the bad byte."""
    listed = tmp_path / "latin1.txt"
    listed.write_bytes(content)
    blocklist = Blocklist.from_file(listed)

    with pytest.raises(ConfigurationError, match=f"not valid UTF-8 at byte {offset};"):
        blocklist.load()


def test_blocklist_needs_a_source() -> None:
    """A blocklist with neither a file nor the common list is a configuration error."""
    with pytest.raises(ConfigurationError):
        Blocklist(include_common=False)


# Context words.


@pytest.mark.parametrize(
    "password",
    [
        "alice-wonderland-1990",
        "ALICE-wonderland-1990",
        "@lice-wonderland-1990",
        "my-example-account-22",
        "smith-wonderland-1990",
        "mega-shop-wonderland-77",
    ],
)
def test_context_words_rejected(nist: PasswordPolicy, password: str) -> None:
    """User name, e-mail parts and service name are found case- and look-alike-insensitively."""
    result = nist.check(password, user_inputs=["alice", "alice.smith@example.co.uk", "MegaShop"])

    assert "context" in result.codes


def test_short_context_parts_ignored(nist: PasswordPolicy) -> None:
    """Parts under 4 code points, such as a top-level domain, are not searched for."""
    result = nist.check("welcome-to-the-couk-zone-7", user_inputs=["bo@ab.co.uk"])

    assert "context" not in result.codes


def test_user_inputs_single_string_rejected(nist: PasswordPolicy) -> None:
    """Passing one string instead of a list is a TypeError, not a search for each letter."""
    with pytest.raises(TypeError, match="user_inputs"):
        nist.check(STRONG, user_inputs="alice")


# Repetitive and sequential passwords.


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaaaaaa",
        " " * 16,
        "abcabcabcabcabcabc",
        "Tr0ub4dor&3Tr0ub4dor&3",
        "xyxyxyxyxyxyxyxyQ7!",
    ],
)
def test_repetitive_rejected(nist: PasswordPolicy, password: str) -> None:
    """A password that is mostly one short unit repeated is repetitive."""
    result = nist.check(password)

    assert "repetitive" in result.codes


def test_repeat_of_long_unit_allowed(nist: PasswordPolicy) -> None:
    """Repeating a unit as long as the minimum length is not repetitive."""
    result = nist.check("Kq7#mVz2$pLx9!rw" * 2)

    assert "repetitive" not in result.codes


def test_minor_repetition_allowed(nist: PasswordPolicy) -> None:
    """A repeated part covering less than half of the password is fine."""
    result = nist.check("aaaaaa" + STRONG)

    assert "repetitive" not in result.codes


@pytest.mark.parametrize(
    "password",
    [
        "1234567890123456",
        "abcdefghijklmnop",
        "zyxwvutsrqponmlk",
        "qwertyuiopasdfgh",
        "poiuytrewqlkjhgf",
        "13579bdfhjlnprtv",
        "!@#$%^&*()xyzab7",
    ],
)
def test_sequential_rejected(nist: PasswordPolicy, password: str) -> None:
    """A password that is mostly a monotonic or keyboard sequence is sequential."""
    result = nist.check(password)

    assert "sequential" in result.codes


def test_short_sequence_inside_allowed(nist: PasswordPolicy) -> None:
    """A sequence covering less than half of the password is fine."""
    result = nist.check("abc" + STRONG)

    assert "sequential" not in result.codes


# Strength.


def test_weak_reported_with_score(nist: PasswordPolicy) -> None:
    """A guessable password gets weak, its score and the minimum as limit."""
    result = nist.check("baseballfootball")

    assert result.codes == ("weak",)
    assert result.score is not None
    assert result.score < 3
    assert result.violations[-1].limit == 3


def test_min_score_none_skips_scoring() -> None:
    """With min_score=None zxcvbn does not run and the score is None."""
    policy = PasswordPolicy.nist(min_score=None)

    result = policy.check("baseballfootball")

    assert result.score is None
    assert "weak" not in result.codes


@pytest.mark.parametrize("min_score", [-1, 5, 3.0, True])
def test_min_score_out_of_range_rejected(min_score: object) -> None:
    """min_score must be None or an integer from 0 to 4."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.nist(min_score=min_score)  # type: ignore[arg-type]

    assert caught.value.setting == "min_score"


def test_l33t_72_gets_verdict(nist: PasswordPolicy) -> None:
    """A 72-character string of look-alike symbols, slow in raw zxcvbn, gets a verdict."""
    result = nist.check(L33T_72)

    assert result.score is not None


def test_1024_characters_get_verdict(nist: PasswordPolicy) -> None:
    """A 1,024-character random-looking string gets a score and a verdict."""
    password = (L33T_72 + STRONG + "abcdefghij") * 12

    result = nist.check(password[:1024])

    assert result.score is not None
    assert "too_long" not in result.codes


# Every reason at once.


def test_three_rules_three_codes() -> None:
    """A password breaking three rules gets all three codes."""
    policy = PasswordPolicy.nist(min_score=0)

    result = policy.check("alicealice", user_inputs=["alice@example.com"])

    assert result.codes == ("too_short", "context", "repetitive")


def test_every_rule_reported_together() -> None:
    """Length, composition, blocklist, strength, history and breach all report together."""
    hasher = FakeHasher()
    checker = StaticBreachChecker({"password1"})
    policy = PasswordPolicy.strict(hasher=hasher, breach_checker=checker)

    result = policy.check("password1", history=["fake$password1"])

    assert result.codes == (
        "too_short",
        "missing_upper",
        "missing_symbol",
        "blocklisted",
        "weak",
        "reused",
        "breached",
    )


# History.


def test_reused_password_rejected() -> None:
    """A password matching a stored hash in the history is reused."""
    policy = PasswordPolicy.nist(hasher=FakeHasher())

    result = policy.check(STRONG, history=["fake$other", "fake$" + STRONG])

    assert result.codes == ("reused",)
    assert result.violations[0].limit == 2


def test_history_mismatch_accepted() -> None:
    """A password matching no stored hash passes, after every hash was compared."""
    hasher = FakeHasher()
    policy = PasswordPolicy.nist(hasher=hasher)

    result = policy.check(STRONG, history=iter(["fake$a", "fake$b", "fake$c"]))

    assert result.ok
    assert hasher.calls == 3


def test_history_with_real_hasher() -> None:
    """History hashes made by PasswordHasher are compared through it."""
    hasher = PasswordHasher(TESTS_ONLY)
    history = [hasher.hash(PASSPHRASE), hasher.hash(LONG_PASSPHRASE)]
    policy = PasswordPolicy.nist(hasher=hasher)

    reused = policy.check(LONG_PASSPHRASE, history=history)
    fresh = policy.check(STRONG, history=history)

    assert reused.codes == ("reused",)
    assert fresh.ok


def test_history_without_hasher_rejected(nist: PasswordPolicy) -> None:
    """History on a policy without a hasher is a configuration error, not a silent pass."""
    with pytest.raises(ConfigurationError) as caught:
        nist.check(STRONG, history=["fake$" + STRONG])

    assert caught.value.setting == "hasher"


def test_hasher_without_verify_rejected() -> None:
    """An object without verify() cannot be the hasher."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.nist(hasher=object())  # type: ignore[arg-type]

    assert caught.value.setting == "hasher"


# Breach checker.


def test_breached_password_rejected() -> None:
    """A password the breach checker reports gets breached."""
    policy = PasswordPolicy.nist(breach_checker=StaticBreachChecker({STRONG}))

    result = policy.check(STRONG)

    assert result.codes == ("breached",)


def test_breach_outage_raises_for_good_password() -> None:
    """When the only remaining check fails closed, check() raises."""
    policy = PasswordPolicy.nist(breach_checker=StaticBreachChecker(set(), unavailable=True))

    with pytest.raises(BreachCheckUnavailable):
        policy.check(STRONG)


def test_breach_outage_ignored_for_bad_password() -> None:
    """A password that fails other rules gets its verdict even during an outage."""
    policy = PasswordPolicy.nist(breach_checker=StaticBreachChecker(set(), unavailable=True))

    result = policy.check(STRONG_14)

    assert result.codes == ("too_short",)


def test_breach_checker_type_rejected() -> None:
    """An object without is_breached() cannot be the breach checker."""
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.nist(breach_checker="https://example.invalid/")  # type: ignore[arg-type]

    assert caught.value.setting == "breach_checker"


# enforce().


def test_enforce_returns_passing_result(nist: PasswordPolicy) -> None:
    """enforce() returns the result when the password passes."""
    result = nist.enforce(STRONG)

    assert result.ok


def test_enforce_raises_weak_password(nist: PasswordPolicy) -> None:
    """enforce() raises WeakPassword carrying the result."""
    with pytest.raises(WeakPassword) as caught:
        nist.enforce("password")

    assert not isinstance(caught.value, PasswordReused)
    assert isinstance(caught.value.result, PolicyResult)
    assert "blocklisted" in caught.value.result.codes


def test_enforce_raises_password_reused() -> None:
    """enforce() raises PasswordReused when reused is among the violations."""
    policy = PasswordPolicy.nist(hasher=FakeHasher())

    with pytest.raises(PasswordReused) as caught:
        policy.enforce(STRONG_14, history=iter(["fake$x", "fake$" + STRONG_14]))

    assert caught.value.history_size == 2
    assert isinstance(caught.value.result, PolicyResult)
    assert caught.value.result.codes == ("too_short", "reused")


# The result object.


def test_result_is_frozen(nist: PasswordPolicy) -> None:
    """A result cannot be changed after the check."""
    result = nist.check("password")

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = True  # type: ignore[misc]


def test_password_must_be_str(nist: PasswordPolicy) -> None:
    """bytes raise a TypeError whose message tells the caller to decode them."""
    with pytest.raises(TypeError, match="decode"):
        nist.check(b"correct horse battery staple")  # type: ignore[arg-type]


def test_lone_surrogates_invalid(nist: PasswordPolicy) -> None:
    """A lone surrogate gets invalid_characters, and hasher and breach check are skipped."""
    hasher = FakeHasher()
    checker = StaticBreachChecker(set())
    policy = PasswordPolicy.nist(hasher=hasher, breach_checker=checker)

    result = policy.check(STRONG + "\ud800", history=["fake$x"])

    assert result.codes == ("invalid_characters",)
    assert hasher.calls == 0
    assert checker.calls == 0


# Secrets in messages, reprs and logs.

SECRET_PASSWORDS = [
    "password-Secret-9",
    "alicealicealice",
    "qwertyuiopasdfgh",
    "Hunter2Hunter2Hunter2",
    "x" * 2000,
]


@pytest.fixture
def everything_policy() -> PasswordPolicy:
    """A strict policy with every optional rule on, where every password is reused and breached."""

    class AlwaysMatches:
        def verify(self, stored_hash: str, password: str) -> None:
            return None

    return PasswordPolicy.strict(
        hasher=AlwaysMatches(), breach_checker=StaticBreachChecker(set(SECRET_PASSWORDS))
    )


@pytest.mark.parametrize("password", SECRET_PASSWORDS)
def test_messages_never_contain_password(
    everything_policy: PasswordPolicy, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Messages, reprs, exceptions and log lines never contain the password."""
    caplog.set_level(logging.DEBUG, logger="jivs_security")

    with pytest.raises(WeakPassword) as caught:
        everything_policy.enforce(password, user_inputs=["alice"], history=["h1"])
    result = caught.value.result

    assert isinstance(result, PolicyResult)
    for violation in result.violations:
        assert password not in violation.message
    assert password not in repr(result)
    assert password not in str(caught.value)
    assert password not in repr(caught.value)
    assert password not in caplog.text


def test_messages_independent_of_password(nist: PasswordPolicy) -> None:
    """Two passwords breaking the same rules get identical messages."""
    first = nist.check("password")
    second = nist.check("dragon")

    assert first.codes == second.codes
    assert first.violations == second.violations


def test_policy_repr_hides_hasher(nist: PasswordPolicy) -> None:
    """The policy repr names the hasher's type, never its repr (which may hold a pepper)."""
    policy = PasswordPolicy.nist(hasher=FakeHasher())

    text = repr(policy)

    assert "FakeHasher" in text
    assert "SECRET" not in text


def test_one_info_line_per_check(nist: PasswordPolicy, caplog: pytest.LogCaptureFixture) -> None:
    """Each check logs one INFO line with the policy and the codes."""
    caplog.set_level(logging.INFO, logger="jivs_security.passwords")

    nist.check("password")

    infos = [record for record in caplog.records if record.levelno == logging.INFO]
    assert len(infos) == 1
    assert "blocklisted" in infos[0].getMessage()


# Properties.

# Repeated short units, including look-alike characters, up to 1,024 code points.
repeated_units = st.text(min_size=1, max_size=8).flatmap(
    lambda unit: st.integers(1, 1024 // len(unit)).map(lambda count: unit * count)
)
lookalike_text = st.text(alphabet="4@8(3!1|0$5+7%2{[<69aeilost", max_size=1024)
any_code_point = st.text(
    alphabet=st.characters(codec=None, categories=["L", "N", "P", "S", "Z", "M", "C"]),
    max_size=1024,
)

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_consistent(result: PolicyResult) -> None:
    assert result.ok is (not result.violations)
    for violation in result.violations:
        assert violation.code
        assert violation.message


@PROPERTY_SETTINGS
@given(password=st.text(max_size=1024))
def test_check_never_raises_for_text(password: str) -> None:
    """Any text up to the maximum gets a verdict, and a failure carries a code."""
    result = PasswordPolicy.nist().check(password, user_inputs=["alice@example.com"])

    assert_consistent(result)


@PROPERTY_SETTINGS
@given(password=st.one_of(repeated_units, lookalike_text, any_code_point))
def test_check_never_raises_for_hard_shapes(password: str) -> None:
    """Repeated units, look-alike-heavy text and any code point, surrogates too, get verdicts."""
    result = PasswordPolicy.strict().check(password, user_inputs=["MegaShop"])

    assert_consistent(result)


def test_result_truthiness_raises() -> None:
    """Using a PolicyResult as a boolean raises, so `if result:` cannot pass a weak password."""
    result = PasswordPolicy.nist().check("password")

    with pytest.raises(TypeError):
        bool(result)
