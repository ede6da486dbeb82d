"""Hostile log lines: shapes that make backtracking engines explode, and 1 MB lines.

No test here measures time. Each asserts the outcome (what is masked and
what is kept) and that the work is bounded: over-long input is cut with a
truncation marker, and a detector's check runs at most once per byte.
benchmarks/bench_masking.py measures the time these lines take.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from jivs_security.masking import CARD_NUMBER, DEFAULT_DETECTORS, Detector, Masker

MEGABYTE = 1024 * 1024


@pytest.fixture(scope="module")
def full_masker() -> Masker:
    """A masker whose limit lets a whole 1 MB line be scanned."""
    return Masker(max_length=2 * MEGABYTE)


# Shapes that need exponential or polynomial time in a backtracking engine
# for the detector named, with nothing in them to mask.
UNMATCHED_SHAPES: dict[str, Callable[[int], str]] = {
    "email local part without domain": lambda n: "a" * n + "@",
    "email domain without top-level label": lambda n: "a@" + "a-" * (n // 2) + "!",
    "email dotted labels": lambda n: "a@" + "a." * (n // 2) + "1",
    "key names without separator": lambda n: "password" * (n // 8),
    "jwt header without dots": lambda n: "eyJ" + "a" * n,
    "jwt with one dot": lambda n: "eyJ" + "a" * (n // 2) + "." + "a" * (n // 2),
    "digit run": lambda n: "1" * n,
    "spaced digits": lambda n: "1 " * (n // 2),
    "card groups failing Luhn": lambda n: "4111 " * (n // 5),
    "iban groups failing mod-97": lambda n: "DE89 " * (n // 5),
    "url scheme without userinfo": lambda n: "a://" + ":" * n,
    "bearer words": lambda n: "bearer " * (n // 7),
    "ssn shapes in invalid range": lambda n: "000-12-3456 " * (n // 12),
}


@pytest.mark.parametrize("shape", sorted(UNMATCHED_SHAPES))
def test_small_hostile_line_unchanged(shape: str) -> None:
    """A short hostile line with nothing to mask comes back unchanged."""
    text = UNMATCHED_SHAPES[shape](200)

    assert Masker().mask_text(text) == text


@pytest.mark.parametrize("shape", sorted(UNMATCHED_SHAPES))
def test_megabyte_hostile_line_unchanged(full_masker: Masker, shape: str) -> None:
    """A 1 MB hostile line, scanned whole, comes back unchanged."""
    text = UNMATCHED_SHAPES[shape](MEGABYTE)

    assert full_masker.mask_text(text) == text


def test_megabyte_line_truncated_by_default() -> None:
    """With the default limit, a 1 MB line is cut and ends with the truncation marker."""
    text = "lorem ipsum " * (MEGABYTE // 12)

    masked = Masker().mask_text(text)

    assert masked.endswith(f"[TRUNCATED:{len(text) - 65532} characters]")


def test_megabyte_line_kept_part_masked() -> None:
    """The kept part of a truncated 1 MB line is masked, not skipped."""
    text = "card 4111 1111 1111 1111 " + "x " * MEGABYTE

    masked = Masker().mask_text(text)

    assert masked.startswith("card [REDACTED:card] x x")


def test_megabyte_secret_at_end_found(full_masker: Masker) -> None:
    """A secret after a megabyte of filler is found when the limit allows scanning it."""
    text = "x " * (MEGABYTE // 2) + "token ghp_" + "a" * 36

    masked = full_masker.mask_text(text)

    assert masked.endswith("token [REDACTED:github_token]")


def test_megabyte_token_without_spaces_dropped() -> None:
    """A 1 MB run with no whitespace is dropped whole rather than cut mid-token."""
    masked = Masker().mask_text("A" * MEGABYTE)

    assert masked == f"[TRUNCATED:{MEGABYTE} characters]"


def test_unterminated_key_block_masked_to_end(full_masker: Masker) -> None:
    """A private key block without its END line is masked to the end of the text."""
    text = "-----BEGIN PRIVATE KEY-----\n" + "QUJD\n" * (MEGABYTE // 5)

    assert full_masker.mask_text(text) == "[REDACTED:private_key]"


def test_repeated_key_values_masked(full_masker: Masker) -> None:
    """A megabyte of password=value pairs is masked pair by pair."""
    text = "password=x " * (MEGABYTE // 11)

    masked = full_masker.mask_text(text)

    assert masked == "password=[REDACTED:key] " * (MEGABYTE // 11)


def test_unclosed_quote_with_backslashes(full_masker: Masker) -> None:
    """A quoted value of a megabyte of backslashes, never closed, is masked to the end."""
    text = 'password="' + "\\" * MEGABYTE

    assert full_masker.mask_text(text) == 'password="[REDACTED:key]'


def test_many_cards_all_masked(full_masker: Masker) -> None:
    """A megabyte of valid card numbers is masked number by number."""
    text = "4111111111111111 " * (MEGABYTE // 17)

    masked = full_masker.mask_text(text)

    assert masked == "[REDACTED:card] " * (MEGABYTE // 17)


def test_card_checks_bounded_per_byte() -> None:
    """On overlapping candidates that all fail, the card check runs at most once per byte."""
    calls = 0
    check = CARD_NUMBER.validate
    assert check is not None

    def counting_check(value: str) -> bool:
        nonlocal calls
        calls += 1
        return check(value)

    counted = dataclasses.replace(CARD_NUMBER, validate=counting_check)
    detectors = [counted if d is CARD_NUMBER else d for d in DEFAULT_DETECTORS]
    text = "4111 " * (MEGABYTE // 20)

    Masker(detectors=detectors, max_length=MEGABYTE).mask_text(text)

    assert 0 < calls <= len(text)


def test_pathological_custom_pattern_accepted() -> None:
    """A nested-quantifier pattern, fatal to backtracking engines, runs in linear time on RE2."""
    detector = Detector("nested", r"(?P<value>(a+)+b)")
    text = "a" * MEGABYTE + "!"

    masked = Masker(detectors=[detector], keys=["secret"], max_length=2 * MEGABYTE).mask_text(text)

    assert masked == text
