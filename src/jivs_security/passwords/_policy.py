"""Password policies and their verdicts: NIST SP 800-63B-4 and legacy composition rules.

A policy checks a new password and returns a :class:`PolicyResult` that
lists every rule the password breaks, each as a :class:`Violation` with a
stable code and a message for the user. Messages never contain the password
or any part of it. Codes:

``too_short``, ``too_long``
    Length in Unicode code points after NFKC normalisation.
``invalid_characters``
    The password contains lone surrogate code points, which are not valid
    Unicode text and cannot be encoded or hashed.
``missing_upper``, ``missing_lower``, ``missing_digit``, ``missing_symbol``
    Composition rules, only in :meth:`PasswordPolicy.strict`.
``blocklisted``
    A common password or a variant of one (see :class:`Blocklist`).
``context``
    Contains the user name, part of the e-mail address or the service name.
``repetitive``, ``sequential``
    Mostly one short unit repeated, or mostly a monotonic sequence.
``weak``
    The zxcvbn score is below the policy's ``min_score``.
``reused``
    Matches one of the stored hashes passed as ``history``.
``breached``
    The breach checker found the password in a breach corpus.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from jivs_security.errors import (
    BreachCheckUnavailable,
    ConfigurationError,
    InvalidPassword,
    PasswordMismatch,
    PasswordReused,
    WeakPassword,
)
from jivs_security.passwords._blocklist import (
    Blocklist,
    casefold_nfkc,
    fold_lookalikes,
    normalize_for_comparison,
)
from jivs_security.passwords._breach import BreachChecker
from jivs_security.passwords._strength import (
    estimate_strength,
    longest_repetition,
    longest_sequence,
)

__all__ = ["PasswordPolicy", "PasswordVerifier", "PolicyResult", "Violation"]

logger = logging.getLogger("jivs_security.passwords")

# NIST SP 800-63B-4, section 3.1.1.2: passwords SHALL be at least 15
# characters when they are the only authentication factor and at least 8
# when used in multi-factor authentication, and verifiers SHOULD allow at
# least 64. Each Unicode code point counts as one character.
NIST_SINGLE_FACTOR_MIN_LENGTH: Final = 15
NIST_MULTI_FACTOR_MIN_LENGTH: Final = 8
NIST_MIN_MAX_LENGTH: Final = 64

# Characters. Long enough for passphrases and password managers, short
# enough to bound the work of one check (the same default as PasswordHasher).
DEFAULT_MAX_LENGTH: Final = 1024

# Each check does work proportional to the length times the minimum length
# (the repetition rule), so configured maximums stop here.
MAX_MAX_LENGTH: Final = 4096

# The legacy composition rules of strict(): at least 12 characters with
# upper case, lower case, a digit and a symbol.
LEGACY_MIN_LENGTH: Final = 12

# zxcvbn 0-4 scale. Score 3 means zxcvbn estimates at least 10^8 guesses,
# which zxcvbn 4.5.0 (time_estimates.guesses_to_score) describes as modest
# protection from offline attacks on a salted, slow hash such as Argon2.
# Online guessing is throttled separately, so a stronger password matters
# most after a leak of the stored hashes.
DEFAULT_MIN_SCORE: Final = 3

# Code points. Shorter context words, such as the "com" of an e-mail domain,
# appear inside too many ordinary words ("welcome") to reject. zxcvbn still
# receives them and lowers the score of passwords built on them.
CONTEXT_WORD_MIN_LENGTH: Final = 4

# NFKC composes at most 4 code points into one (the longest canonical
# decomposition of a composed character in Unicode 15 has 4), so an input
# longer than 4 x max_length is too long after normalisation as well.
_MAX_NFKC_SHRINK: Final = 4

_CONTEXT_SEPARATORS: Final = re.compile(r"[\W_]+")


class PasswordVerifier(Protocol):
    """Anything that checks a password against a stored hash, such as ``PasswordHasher``.

    ``verify`` returns when the password matches and raises
    :class:`~jivs_security.errors.PasswordMismatch` when it does not.
    """

    def verify(self, stored_hash: str, password: str, /) -> object:
        """Return when ``password`` matches ``stored_hash``; raise ``PasswordMismatch`` if not."""
        ...


@dataclass(frozen=True)
class Violation:
    """One broken rule: a stable ``code``, a ``message`` for the user and the ``limit`` involved.

    ``limit`` is the minimum or maximum length, the minimum score or the
    history size, where the rule has one.
    """

    code: str
    message: str
    limit: int | None = None


@dataclass(frozen=True)
class PolicyResult:
    """The verdict on one password.

    ``ok`` is true when ``violations`` is empty. ``score`` is the zxcvbn
    score (0 to 4) of the scored prefix, or ``None`` when the policy has no
    minimum score or the password was too long to score. The result never
    contains the password. Test ``result.ok``: ``if result:`` raises
    ``TypeError``, because a result object that is always true would let a
    weak password through.
    """

    ok: bool
    violations: tuple[Violation, ...]
    score: int | None

    def __bool__(self) -> bool:
        raise TypeError("test PolicyResult.ok, not the result itself")

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the violations, in the order the rules ran."""
        return tuple(violation.code for violation in self.violations)


class PasswordPolicy:
    """Rules for new passwords. Build one with :meth:`nist` or :meth:`strict`.

    Nothing in a policy expires passwords. NIST SP 800-63B-4 states that
    verifiers SHALL NOT require periodic changes and SHALL force a change on
    evidence of compromise, which is for the application to detect.

    ``min_length`` and ``max_length`` count Unicode code points after NFKC
    normalisation. ``min_score`` is the lowest zxcvbn score accepted, or
    ``None`` to skip scoring. ``composition`` adds the legacy rules (an
    upper-case and a lower-case letter, a digit and a symbol).
    ``blocklist`` defaults to :meth:`Blocklist.common`. ``hasher`` compares
    the password with the stored hashes passed as ``history``, and
    ``breach_checker`` looks it up in a breach corpus.
    """

    def __init__(
        self,
        *,
        name: str,
        min_length: int,
        max_length: int = DEFAULT_MAX_LENGTH,
        min_score: int | None = DEFAULT_MIN_SCORE,
        composition: bool = False,
        blocklist: Blocklist | None = None,
        hasher: PasswordVerifier | None = None,
        breach_checker: BreachChecker | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise _setting_error("name", name, "a non-empty str naming the policy in logs")

        if _not_int(max_length) or not NIST_MIN_MAX_LENGTH <= max_length <= MAX_MAX_LENGTH:
            raise _setting_error(
                "max_length",
                max_length,
                f"an integer from {NIST_MIN_MAX_LENGTH} (the NIST SP 800-63B-4 floor) "
                f"to {MAX_MAX_LENGTH} characters",
            )

        if _not_int(min_length) or not NIST_MULTI_FACTOR_MIN_LENGTH <= min_length <= max_length:
            raise _setting_error(
                "min_length",
                min_length,
                f"an integer from {NIST_MULTI_FACTOR_MIN_LENGTH} (the NIST SP 800-63B-4 floor) "
                f"to max_length ({max_length}) characters",
            )

        if min_score is not None and (_not_int(min_score) or not 0 <= min_score <= 4):
            raise _setting_error("min_score", min_score, "None or a zxcvbn score from 0 to 4")

        if blocklist is not None and not isinstance(blocklist, Blocklist):
            raise _setting_error("blocklist", type(blocklist).__name__, "a Blocklist or None")
        if hasher is not None and not callable(getattr(hasher, "verify", None)):
            raise _setting_error(
                "hasher", type(hasher).__name__, "an object with verify(stored_hash, password)"
            )
        if breach_checker is not None and not isinstance(breach_checker, BreachChecker):
            raise _setting_error(
                "breach_checker",
                type(breach_checker).__name__,
                "an object with is_breached(password)",
            )

        self._name = name
        self._min_length = min_length
        self._max_length = max_length
        self._min_score = min_score
        self._composition = composition
        self._blocklist = Blocklist.common() if blocklist is None else blocklist
        self._hasher = hasher
        self._breach_checker = breach_checker

    @classmethod
    def nist(
        cls,
        *,
        single_factor: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
        min_score: int | None = DEFAULT_MIN_SCORE,
        blocklist: Blocklist | None = None,
        hasher: PasswordVerifier | None = None,
        breach_checker: BreachChecker | None = None,
    ) -> PasswordPolicy:
        """Return the policy of NIST SP 800-63B-4 (2025), section 3.1.1.2, for passwords.

        - At least 15 characters when the password is the only factor
          (``single_factor=True``), at least 8 when it is used with another
          factor.
        - Up to ``max_length`` characters (1,024 by default, never fewer
          than the 64 that NIST recommends verifiers allow).
        - No composition rules, which NIST says verifiers SHALL NOT impose.
        - No expiry.
        - Rejects blocklisted passwords, context words from ``user_inputs``,
          and passwords that are mostly repetitive or sequential.

        ``min_score`` (zxcvbn, default 3) is this library's addition, because
        NIST sets no strength score. ``breach_checker`` adds the breach-corpus comparison that
        NIST requires, and ``hasher`` enables the history rule.
        """
        return cls(
            name="nist",
            min_length=_nist_min_length(single_factor),
            max_length=max_length,
            min_score=min_score,
            blocklist=blocklist,
            hasher=hasher,
            breach_checker=breach_checker,
        )

    @classmethod
    def strict(
        cls,
        *,
        single_factor: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
        min_score: int | None = DEFAULT_MIN_SCORE,
        blocklist: Blocklist | None = None,
        hasher: PasswordVerifier | None = None,
        breach_checker: BreachChecker | None = None,
    ) -> PasswordPolicy:
        """Return :meth:`nist` plus the legacy composition rules, for audits that require them.

        The legacy rules are at least 12 characters, an upper-case letter, a
        lower-case letter, a digit and a symbol (Unicode punctuation,
        symbol or space). The minimum length is the larger of 12 and the
        NIST minimum, so 15 for a single factor and 12 with another factor.

        NIST SP 800-63B-4, section 3.1.1.2, states that verifiers SHALL NOT
        impose composition rules, so a system using this policy does not
        conform to it.
        """
        return cls(
            name="strict",
            min_length=max(LEGACY_MIN_LENGTH, _nist_min_length(single_factor)),
            max_length=max_length,
            min_score=min_score,
            composition=True,
            blocklist=blocklist,
            hasher=hasher,
            breach_checker=breach_checker,
        )

    def __repr__(self) -> str:
        hasher = None if self._hasher is None else type(self._hasher).__name__
        checker = None if self._breach_checker is None else type(self._breach_checker).__name__
        return (
            f"PasswordPolicy(name={self._name!r}, min_length={self._min_length}, "
            f"max_length={self._max_length}, min_score={self._min_score}, "
            f"composition={self._composition}, blocklist={self._blocklist!r}, "
            f"hasher={hasher}, breach_checker={checker})"
        )

    @property
    def name(self) -> str:
        """``"nist"``, ``"strict"`` or the name given to the constructor."""
        return self._name

    @property
    def min_length(self) -> int:
        """The minimum length in code points after NFKC normalisation."""
        return self._min_length

    @property
    def max_length(self) -> int:
        """The maximum length in code points after NFKC normalisation."""
        return self._max_length

    @property
    def min_score(self) -> int | None:
        """The lowest zxcvbn score accepted, or ``None`` when scoring is off."""
        return self._min_score

    def check(
        self,
        password: str,
        *,
        user_inputs: Iterable[str] = (),
        history: Iterable[str] = (),
    ) -> PolicyResult:
        """Check ``password`` against every rule and return all the violations found.

        ``user_inputs`` are the user's context words: user name, e-mail
        address, service name and the like. Each is compared whole and split
        at ``@``, dots and other separators, case-insensitively, and any
        part of at least 4 code points found inside the password is a
        ``context`` violation. ``history`` are stored hashes of the account's
        earlier passwords, compared through the policy's hasher.

        Returns a result for every ``str``. A password over the maximum
        length gets only ``too_long``, because the other rules would spend
        time on an input that must be shortened anyway. Raises ``TypeError``
        when ``password`` or ``user_inputs`` have the wrong type,
        :class:`~jivs_security.errors.ConfigurationError` when ``history`` is
        given to a policy without a hasher, and
        :class:`~jivs_security.errors.BreachCheckUnavailable` when the breach
        checker fails closed and no other rule failed. Errors of the hasher
        other than a mismatch, such as a malformed stored hash, propagate.
        """
        if not isinstance(password, str):
            raise TypeError(
                f"password must be a str, got {type(password).__name__}; "
                "decode bytes to text before checking"
            )
        context = _context_words(user_inputs)
        hashes = tuple(history)
        if hashes and self._hasher is None:
            raise ConfigurationError(
                "history was given, but the policy has no hasher to compare it with; "
                "build it with PasswordPolicy.nist(hasher=...)",
                setting="hasher",
                expected="a hasher with verify(stored_hash, password)",
            )

        result = self._evaluate(password, context, hashes)
        logger.info(
            "password policy check (policy=%s, ok=%s, codes=%s, score=%s)",
            self._name,
            result.ok,
            ",".join(result.codes) or "-",
            result.score,
        )
        return result

    def enforce(
        self,
        password: str,
        *,
        user_inputs: Iterable[str] = (),
        history: Iterable[str] = (),
    ) -> PolicyResult:
        """Check ``password`` and return the result when it passes; raise otherwise.

        Raises :class:`~jivs_security.errors.PasswordReused` when ``reused``
        is among the violations, else
        :class:`~jivs_security.errors.WeakPassword`; both carry the result.
        """
        hashes = tuple(history)
        result = self.check(password, user_inputs=user_inputs, history=hashes)
        if result.ok:
            return result
        message = (
            f"the password breaks the {self._name!r} password policy "
            f"({', '.join(result.codes)}); show the messages in result.violations to the user"
        )
        if "reused" in result.codes:
            raise PasswordReused(message, result=result, history_size=len(hashes))
        raise WeakPassword(message, result=result)

    def _evaluate(
        self, password: str, context: _ContextWords, history: tuple[str, ...]
    ) -> PolicyResult:
        if len(password) > _MAX_NFKC_SHRINK * self._max_length:
            return _result([self._too_long()], None)
        normalized = unicodedata.normalize("NFKC", password)
        if len(normalized) > self._max_length:
            return _result([self._too_long()], None)

        violations: list[Violation] = []
        encodable = not _has_surrogates(normalized)
        if not encodable:
            violations.append(_INVALID_CHARACTERS)
        if len(normalized) < self._min_length:
            violations.append(
                Violation(
                    "too_short",
                    f"The password is shorter than the minimum of {self._min_length} characters. "
                    "A passphrase of several words is long and easy to remember.",
                    self._min_length,
                )
            )
        if self._composition:
            violations.extend(_composition_violations(normalized))
        violations.extend(self._pattern_violations(casefold_nfkc(password), context))

        score = None
        if self._min_score is not None:
            score = estimate_strength(normalized, context.all_words).score
            if score < self._min_score:
                violations.append(
                    Violation(
                        "weak",
                        f"The password is too easy to guess: its strength is {score} of 4 and "
                        f"at least {self._min_score} is required. Add more words or characters "
                        "that are not common words, names or dates.",
                        self._min_score,
                    )
                )

        if encodable and history and self._is_reused(password, history):
            violations.append(
                Violation(
                    "reused",
                    f"The password is one of your last {len(history)} passwords. "
                    "Choose one you have not used before.",
                    len(history),
                )
            )
        if (
            encodable
            and self._breach_checker is not None
            and self._is_breached(password, violations)
        ):
            violations.append(_BREACHED)
        return _result(violations, score)

    def _pattern_violations(self, folded: str, context: _ContextWords) -> list[Violation]:
        violations = []
        comparison = folded.strip()
        if self._blocklist.contains_normalized(comparison):
            violations.append(_BLOCKLISTED)
        if context.found_in(comparison):
            violations.append(_CONTEXT)
        # "Mostly" means more than half of the code points, surrounding
        # whitespace included. Units as long as the minimum length are not
        # counted, because one copy of such a unit already meets the length
        # rule.
        if 2 * longest_repetition(folded, self._min_length - 1) > len(folded):
            violations.append(_REPETITIVE)
        if 2 * longest_sequence(folded) > len(folded):
            violations.append(_SEQUENTIAL)
        return violations

    def _is_reused(self, password: str, history: tuple[str, ...]) -> bool:
        assert self._hasher is not None  # check() rejects history without a hasher.
        for stored_hash in history:
            try:
                self._hasher.verify(stored_hash, password)
            except PasswordMismatch:
                continue
            except InvalidPassword:
                # The hasher rejects this password (too long for its limit,
                # for example), so it cannot have stored a hash of it.
                return False
            return True
        return False

    def _is_breached(self, password: str, violations: list[Violation]) -> bool:
        assert self._breach_checker is not None
        try:
            return self._breach_checker.is_breached(password)
        except BreachCheckUnavailable as exc:
            if not violations:
                raise
            # The password is rejected anyway, so the user sees the other
            # reasons instead of an outage error.
            logger.warning(
                "breach check skipped for a password that already breaks the policy "
                "(service=%s, retryable=%s)",
                exc.service,
                exc.retryable,
            )
            return False

    def _too_long(self) -> Violation:
        return Violation(
            "too_long",
            f"The password is longer than the maximum of {self._max_length} characters.",
            self._max_length,
        )


@dataclass(frozen=True)
class _ContextWords:
    """The user's context words: all parts for zxcvbn, and the folded long ones to search for."""

    all_words: tuple[str, ...]
    searched: tuple[str, ...]

    def found_in(self, comparison: str) -> bool:
        if not self.searched:
            return False
        # The compact form drops separators, so "mega-shop" contains "megashop".
        folded = fold_lookalikes(comparison)
        compact = _CONTEXT_SEPARATORS.sub("", folded)
        return any(word in folded or word in compact for word in self.searched)


def _context_words(user_inputs: Iterable[str]) -> _ContextWords:
    if isinstance(user_inputs, str):
        raise TypeError(
            "user_inputs must be a collection of strings, such as [user_name, email], "
            "not a single str"
        )
    words: dict[str, None] = {}
    for position, value in enumerate(user_inputs):
        if not isinstance(value, str):
            raise TypeError(f"user_inputs[{position}] must be a str, got {type(value).__name__}")
        normalized = normalize_for_comparison(value)
        parts = [normalized, *normalized.split("@"), *_CONTEXT_SEPARATORS.split(normalized)]
        words.update((part, None) for part in parts if part)
    searched = {fold_lookalikes(word) for word in words if len(word) >= CONTEXT_WORD_MIN_LENGTH}
    return _ContextWords(all_words=tuple(words), searched=tuple(sorted(searched)))


def _composition_violations(normalized: str) -> list[Violation]:
    violations = []
    if not any(character.isupper() for character in normalized):
        violations.append(_MISSING_UPPER)
    if not any(character.islower() for character in normalized):
        violations.append(_MISSING_LOWER)
    if not any(unicodedata.category(character) == "Nd" for character in normalized):
        violations.append(_MISSING_DIGIT)
    if not any(
        unicodedata.category(character)[0] in "PS" or unicodedata.category(character) == "Zs"
        for character in normalized
    ):
        violations.append(_MISSING_SYMBOL)
    return violations


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _result(violations: Sequence[Violation], score: int | None) -> PolicyResult:
    return PolicyResult(ok=not violations, violations=tuple(violations), score=score)


def _nist_min_length(single_factor: bool) -> int:
    if not isinstance(single_factor, bool):
        raise _setting_error("single_factor", single_factor, "True or False")
    return NIST_SINGLE_FACTOR_MIN_LENGTH if single_factor else NIST_MULTI_FACTOR_MIN_LENGTH


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _setting_error(setting: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}",
        setting=setting,
        expected=expected,
        value=value,
    )


_INVALID_CHARACTERS: Final = Violation(
    "invalid_characters",
    "The password contains characters that are not valid Unicode text (lone surrogates). "
    "Type it again; if the problem stays, the application decodes its input wrongly.",
)
_MISSING_UPPER: Final = Violation(
    "missing_upper", "The password has no upper-case letter, and this policy requires one."
)
_MISSING_LOWER: Final = Violation(
    "missing_lower", "The password has no lower-case letter, and this policy requires one."
)
_MISSING_DIGIT: Final = Violation(
    "missing_digit", "The password has no digit, and this policy requires one."
)
_MISSING_SYMBOL: Final = Violation(
    "missing_symbol",
    "The password has no symbol (punctuation, another symbol or a space), "
    "and this policy requires one.",
)
_BLOCKLISTED: Final = Violation(
    "blocklisted",
    "The password is a commonly used password, or one with look-alike characters "
    "(such as a zero for the letter o) or with digits or symbols added at either end.",
)
_CONTEXT: Final = Violation(
    "context",
    "The password contains your user name, part of your e-mail address or the name "
    "of this service.",
)
_REPETITIVE: Final = Violation(
    "repetitive", "The password is mostly one short part repeated over and over."
)
_SEQUENTIAL: Final = Violation(
    "sequential",
    "The password is mostly a run of neighbouring letters, digits or keyboard keys.",
)
_BREACHED: Final = Violation(
    "breached",
    "The password appears in a known data breach, so attackers try it early. "
    "Choose a different password.",
)
