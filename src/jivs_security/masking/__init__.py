"""Masking of secrets and personal data in logs, in linear time.

::

    masker = Masker(styles={"card": KeepLast(4), "email": KeyedHash(hash_key)})
    handler.addFilter(MaskingFilter(masker))          # standard logging
    structlog.configure(processors=[..., structlog.processors.format_exc_info,
                                    structlog_processor(masker), JSONRenderer()])
    masker.mask_text("card 4111 1111 1111 1111")      # 'card [REDACTED:card:****1111]'

Patterns run on RE2 (the ``google-re2`` package), which matches in time
linear in the input, so a hostile log line cannot stall the process.
"""

from jivs_security.masking._detectors import (
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    BEARER_TOKEN,
    CREDENTIAL_DETECTORS,
    EMAIL_ADDRESS,
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    GOOGLE_API_KEY,
    JWT,
    PRIVATE_KEY,
    SLACK_TOKEN,
    STRIPE_KEY,
    URL_PASSWORD,
    Detector,
)
from jivs_security.masking._financial import CARD_NUMBER, IBAN, iban_valid, luhn_valid
from jivs_security.masking._keys import DEFAULT_KEYS, normalise_key
from jivs_security.masking._logging import MaskingFilter
from jivs_security.masking._masker import DEFAULT_DETECTORS, Finding, Masker
from jivs_security.masking._national import (
    NATIONAL_ID_DETECTORS,
    UK_NINO,
    US_SSN,
    uk_nino_valid,
    us_ssn_valid,
)
from jivs_security.masking._structlog import structlog_processor
from jivs_security.masking._styles import KeepLast, KeyedHash, MaskStyle, Redact

__all__ = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "BEARER_TOKEN",
    "CARD_NUMBER",
    "CREDENTIAL_DETECTORS",
    "DEFAULT_DETECTORS",
    "DEFAULT_KEYS",
    "EMAIL_ADDRESS",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "GOOGLE_API_KEY",
    "IBAN",
    "JWT",
    "NATIONAL_ID_DETECTORS",
    "PRIVATE_KEY",
    "SLACK_TOKEN",
    "STRIPE_KEY",
    "UK_NINO",
    "URL_PASSWORD",
    "US_SSN",
    "Detector",
    "Finding",
    "KeepLast",
    "KeyedHash",
    "MaskStyle",
    "Masker",
    "MaskingFilter",
    "Redact",
    "iban_valid",
    "luhn_valid",
    "normalise_key",
    "structlog_processor",
    "uk_nino_valid",
    "us_ssn_valid",
]
