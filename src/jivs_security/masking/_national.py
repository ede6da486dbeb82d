"""Detectors for national identifiers: US Social Security numbers and UK National Insurance numbers.

Each is an ordinary :class:`~jivs_security.masking.Detector`, so a country
is added the same way: a pattern for the printed form and a check that
rejects numbers the issuer never assigns (see the ``Detector`` docstring for
an example). ``NATIONAL_ID_DETECTORS`` lists the ones shipped here; both are
in the default set.
"""

from __future__ import annotations

from typing import Final

from jivs_security.masking._detectors import Detector

__all__ = ["NATIONAL_ID_DETECTORS", "UK_NINO", "US_SSN", "uk_nino_valid", "us_ssn_valid"]


def us_ssn_valid(value: str) -> bool:
    """Return whether ``value`` is an SSN the Social Security Administration could have assigned.

    The SSA never assigns area 000, 666 or 900 to 999, group 00 or serial
    0000 (SSA POMS RM 10201.035). Both separators must be the same.
    """
    if value[3] != value[6]:
        return False
    area, group, serial = value[:3], value[4:6], value[7:]
    area_number = int(area)
    if area_number in {0, 666} or area_number >= 900:
        return False
    return group != "00" and serial != "0000"


# Three, two and four digits separated by hyphens or spaces. A run of nine
# digits without separators is not matched: too many other numbers (ids,
# amounts, phone numbers without a country code) have that shape. The
# character after the number is part of the match, so 123-45-6789-0 is not
# taken for an SSN.
US_SSN: Final = Detector(
    "us_ssn",
    r"\b(?P<value>\d{3}[- ]\d{2}[- ]\d{4})(?:[^0-9-]|\z)",
    validate=us_ssn_valid,
    canonical=lambda value: value.replace("-", "").replace(" ", ""),
)

# HMRC National Insurance Manual NIM39110: these prefixes are not allocated.
_NINO_UNUSED_PREFIXES: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino_valid(value: str) -> bool:
    """Return whether ``value`` is a National Insurance number with an allocatable prefix."""
    return value[:2].upper() not in _NINO_UNUSED_PREFIXES


# Two prefix letters, six digits and a suffix A to D, printed with or
# without spaces (NIM39110). D, F, I, Q, U and V never appear in the prefix,
# and O never appears as its second letter.
UK_NINO: Final = Detector(
    "uk_nino",
    r"\b(?P<value>[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D])\b",
    validate=uk_nino_valid,
    canonical=lambda value: value.replace(" ", "").upper(),
)

NATIONAL_ID_DETECTORS: Final = (US_SSN, UK_NINO)
