"""Detectors for payment card numbers and IBANs, each confirmed by its check digits.

A digit run is masked as a card only when its issuer prefix, its length and
its Luhn check digit all fit one card network, so timestamps, epoch times
and order numbers stay readable. Epoch times start with 1 (until 2033), and
the only card numbers that do are 15-digit legacy JCB numbers starting with
1800; a random number passes the Luhn check one time in ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from jivs_security.masking._detectors import Detector

__all__ = ["CARD_NUMBER", "IBAN", "IBAN_LENGTHS", "iban_valid", "luhn_valid"]


@dataclass(frozen=True, slots=True)
class IssuerRange:
    """Card numbers from ``low`` to ``high`` (prefixes of equal width) with these lengths."""

    network: str
    low: int
    high: int
    lengths: frozenset[int]

    def covers(self, digits: str) -> bool:
        width = len(str(self.low))
        return (
            len(digits) in self.lengths
            and len(digits) >= width
            and self.low <= int(digits[:width]) <= self.high
        )


def _lengths(*values: int) -> frozenset[int]:
    return frozenset(values)


# Issuer identification number ranges and card lengths as the networks
# publish them. Maestro also issues 12-digit numbers and Visa once issued
# 13-digit ones; both are left out, because 12- and 13-digit ids are common
# in logs, and one in ten of them would pass a prefix and Luhn check.
ISSUER_RANGES: Final = (
    IssuerRange("visa", 4, 4, _lengths(16, 19)),
    IssuerRange("mastercard", 51, 55, _lengths(16)),
    IssuerRange("mastercard", 2221, 2720, _lengths(16)),
    IssuerRange("amex", 34, 34, _lengths(15)),
    IssuerRange("amex", 37, 37, _lengths(15)),
    IssuerRange("discover", 6011, 6011, _lengths(16, 17, 18, 19)),
    IssuerRange("discover", 644, 649, _lengths(16, 17, 18, 19)),
    IssuerRange("discover", 65, 65, _lengths(16, 17, 18, 19)),
    IssuerRange("diners", 300, 305, _lengths(14, 15, 16, 17, 18, 19)),
    IssuerRange("diners", 36, 36, _lengths(14, 15, 16, 17, 18, 19)),
    IssuerRange("diners", 38, 39, _lengths(14, 15, 16, 17, 18, 19)),
    IssuerRange("jcb", 3528, 3589, _lengths(16, 17, 18, 19)),
    IssuerRange("jcb", 2131, 2131, _lengths(15)),
    IssuerRange("jcb", 1800, 1800, _lengths(15)),
    IssuerRange("unionpay", 62, 62, _lengths(16, 17, 18, 19)),
    IssuerRange("maestro", 5018, 5018, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("maestro", 5020, 5020, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("maestro", 5038, 5038, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("maestro", 5893, 5893, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("maestro", 6304, 6304, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("maestro", 6759, 6759, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("maestro", 6761, 6763, _lengths(13, 14, 15, 16, 17, 18, 19)),
    IssuerRange("mir", 2200, 2204, _lengths(16, 17, 18, 19)),
)


def luhn_valid(digits: str) -> bool:
    """Return whether ASCII ``digits`` end in a correct Luhn check digit (ISO/IEC 7812-1)."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        digit = ord(character) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_digits(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


def card_number_valid(value: str) -> bool:
    """Return whether ``value`` is a card number: one separator style, a known issuer, Luhn."""
    separators = {character for character in value if not character.isdigit()}
    if len(separators) > 1:
        return False
    digits = card_digits(value)
    if not any(issuer.covers(digits) for issuer in ISSUER_RANGES):
        return False
    return luhn_valid(digits)


# Contiguous digits, groups of four (13 to 19 digits) or the 4-6-5 and 4-6-4
# groups of American Express and Diners Club, separated by spaces or hyphens.
# The character after the number is part of the match, so a number followed
# by more digits is not taken for a shorter card. The leading \b skips runs
# preceded by a letter or digit, such as order ids like ORD4111111111111111.
# NOTE: it also skips a card number glued to a word, as in cc_4111111111111111.
CARD_NUMBER: Final = Detector(
    "card",
    r"\b(?P<value>\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5})"
    r"(?:[^0-9]|\z)",
    validate=card_number_valid,
    canonical=card_digits,
)

# IBAN length per country, from the ISO 13616 registry that SWIFT maintains.
IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip


def iban_canonical(value: str) -> str:
    return value.replace(" ", "").upper()


def iban_valid(value: str) -> bool:
    """Return whether ``value`` has its country's IBAN length and passes the mod-97 check."""
    compact = iban_canonical(value)
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isascii():
        return False
    if not compact[2:4].isdigit() or not compact[4:].isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters count as 10 to 35 (A to Z); int(character, 36) maps both.
    numeric = "".join(str(int(character, 36)) for character in rearranged)
    return int(numeric) % 97 == 1


def _iban_pattern() -> str:
    """Build one alternative per IBAN length, electronic or printed in groups of four."""
    by_length: dict[int, list[str]] = {}
    for country, length in sorted(IBAN_LENGTHS.items()):
        by_length.setdefault(length, []).append(country)
    alternatives = []
    for length, countries in sorted(by_length.items()):
        bban = length - 4
        groups, rest = divmod(bban, 4)
        printed = f"(?: [A-Z0-9]{{4}}){{{groups}}}"
        if rest:
            printed += f" [A-Z0-9]{{{rest}}}"
        alternatives.append(f"(?:{'|'.join(countries)})[0-9]{{2}}(?:[A-Z0-9]{{{bban}}}|{printed})")
    return r"(?i)\b(?P<value>" + "|".join(alternatives) + r")"


IBAN: Final = Detector("iban", _iban_pattern(), validate=iban_valid, canonical=iban_canonical)
