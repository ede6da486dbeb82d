"""The detector type, and detectors for credentials: tokens, API keys and private keys.

Every pattern is RE2 syntax and runs over the UTF-8 bytes of the text with
RE2's Latin-1 option, so each byte is one character to the pattern. RE2 has
no backtracking, so a match costs time linear in the length of the text
whatever the input. In exchange, it has no look-around and no
backreferences.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from jivs_security.errors import ConfigurationError
from jivs_security.masking._regex import Regex, RegexError, compile_bytes

__all__ = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "BEARER_TOKEN",
    "CREDENTIAL_DETECTORS",
    "EMAIL_ADDRESS",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "GOOGLE_API_KEY",
    "JWT",
    "PRIVATE_KEY",
    "SLACK_TOKEN",
    "STRIPE_KEY",
    "URL_PASSWORD",
    "Detector",
]

# Detector names appear inside placeholders such as ``[REDACTED:card]`` and
# as keys of ``Masker(styles=...)``, so they are short identifiers.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

# Groups whose match is replaced: ``value``, or ``value_2``, ``value_3`` ...
# for patterns with alternatives, because RE2 rejects a group name used twice.
VALUE_GROUP = "value"


@dataclass(frozen=True, slots=True)
class Detector:
    """A named RE2 pattern, with an optional check, that finds one kind of sensitive value.

    ``pattern`` is RE2 syntax applied to the UTF-8 bytes of the text, one
    byte per character, so ``\\w``, ``\\d``, ``\\s`` and ``\\b`` are ASCII and a
    non-ASCII character can appear only as a literal. When the pattern has a
    group named ``value`` (or ``value_2``, ``value_3`` ... across
    alternatives), only the first of those that took part in the match is
    masked, and nothing is masked when none did, so an alternative without a
    ``value`` group can consume text that must stay readable. A pattern
    without such groups masks its whole match.

    ``validate`` receives the matched value and returns whether it is really
    of this kind, with a Luhn or mod-97 check for example. A rejected
    candidate is not masked. ``canonical`` turns a value into the form that keyed hashes and
    partial masks use, so ``4111 1111 1111 1111`` and ``4111111111111111``
    hash alike.

    To add a national identifier, give it a name, a pattern and a check, and
    pass it with the defaults::

        CPF = Detector(
            "br_cpf",
            r"\\b(?P<value>\\d{3}\\.\\d{3}\\.\\d{3}-\\d{2})\\b",
            validate=cpf_check_digits_valid,
        )
        masker = Masker(detectors=[*DEFAULT_DETECTORS, CPF])
    """

    name: str
    pattern: str
    validate: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)
    canonical: Callable[[str], str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigurationError(
                f"Invalid detector name {self.name!r}: use 1 to 32 lowercase letters, digits "
                "or underscores, starting with a letter, because the name appears in "
                "placeholders such as [REDACTED:card].",
                setting="name",
                expected="an identifier matching [a-z][a-z0-9_]{0,31}",
                value=self.name,
            )
        compile_pattern(self.name, self.pattern)


def compile_pattern(name: str, pattern: str, *, never_capture: bool = False) -> Regex:
    """Compile ``pattern`` for bytes input, raising ConfigurationError if RE2 rejects it."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigurationError(
            f"Invalid pattern for detector {name!r}: expected a non-empty RE2 pattern string.",
            setting="pattern",
            expected="a non-empty str in RE2 syntax",
            value=pattern,
        )
    try:
        return compile_bytes(pattern.encode("utf-8"), never_capture=never_capture)
    except RegexError as error:
        raise ConfigurationError(
            f"Invalid pattern for detector {name!r}: RE2 rejected it ({error}). RE2 has no "
            "look-around and no backreferences; rewrite the pattern without them, and move "
            "checks RE2 cannot express into the detector's validate function.",
            setting="pattern",
            expected="a pattern in RE2 syntax",
            value=pattern,
        ) from None


def _looks_random(value: str) -> bool:
    """Return whether a bearer credential looks like a token rather than an English word."""
    return len(value) >= 20 or any(not character.isalpha() for character in value)


# A PEM or PGP private key block. The end line is optional: a block cut
# short by a truncated log line is masked up to the end of the text, so
# no part of the key stays readable.
PRIVATE_KEY: Final = Detector(
    "private_key",
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----|\z)",
)

# A JWS or JWE in compact serialisation (RFC 7515, RFC 7516). The header
# segment is base64url JSON and starts with ``{"``, which encodes as "eyJ".
# The signature may be empty, as in unsecured ``alg: none`` tokens.
JWT: Final = Detector(
    "jwt",
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"
    r"(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?",
)

# The b64token of an Authorization header (RFC 6750, section 2.1). A word
# that follows "bearer" in prose ("bearer authentication") is not masked.
BEARER_TOKEN: Final = Detector(
    "bearer_token",
    r"(?i)\bbearer[ \t]+(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)",
    validate=_looks_random,
)

# Access key ids: AKIA for long-term user keys, ASIA for temporary STS
# credentials, ABIA and ACCA for service-specific credentials.
AWS_ACCESS_KEY_ID: Final = Detector(
    "aws_access_key_id",
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
)

# A secret access key is 40 base64 characters with no prefix of its own, so
# it is recognised only next to a key name such as aws_secret_access_key or
# SecretAccessKey.
AWS_SECRET_ACCESS_KEY: Final = Detector(
    "aws_secret_access_key",
    r"(?i)(?:aws[_.-]?secret[_.-]?(?:access[_.-]?)?key|secret[_.-]?access[_.-]?key)"
    r"\\{0,3}[\"']?[ \t]*(?:[:=]|=>)[ \t]*\\{0,3}[\"']?(?P<value>[A-Za-z0-9/+]{40})",
)

# Classic tokens are a prefix, an underscore and 36 base62 characters;
# fine-grained personal access tokens start with github_pat_.
GITHUB_TOKEN: Final = Detector(
    "github_token",
    r"(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,255})",
)

GITLAB_TOKEN: Final = Detector(
    "gitlab_token",
    r"glpat-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*",
)

# Bot, user, app-level, refresh and configuration tokens.
SLACK_TOKEN: Final = Detector(
    "slack_token",
    r"(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}",
)

GOOGLE_API_KEY: Final = Detector(
    "google_api_key",
    r"AIza[0-9A-Za-z_-]{35}",
)

# Secret and restricted keys; test-mode keys are secrets too.
STRIPE_KEY: Final = Detector(
    "stripe_key",
    r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}",
)

# The password in the userinfo of a URL (RFC 3986, section 3.2.1), as in
# database URLs: postgres://app:password@db:5432/orders.
URL_PASSWORD: Final = Detector(
    "url_password",
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:(?P<value>[^\s/@]+)@",
)

# An e-mail address with a dotted domain name. The local part is limited to
# the characters that addresses use in practice (RFC 5322 allows more, such
# as quoted strings), and a host without a dot, like user@localhost, is not
# matched. The first alternative consumes the userinfo of a URL, so that
# in postgres://app:password@db.example.com the password and host are not
# taken for an address; URL_PASSWORD masks the password.
EMAIL_ADDRESS: Final = Detector(
    "email",
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@]*@"
    r"|(?P<value>[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63})\b",
    canonical=str.lower,
)

CREDENTIAL_DETECTORS: Final = (
    PRIVATE_KEY,
    JWT,
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    SLACK_TOKEN,
    GOOGLE_API_KEY,
    STRIPE_KEY,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    BEARER_TOKEN,
    URL_PASSWORD,
)
