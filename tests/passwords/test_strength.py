"""Strength scoring on a bounded prefix, and the repetition and sequence measures."""

from __future__ import annotations

import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zxcvbn import zxcvbn

from jivs_security.passwords import _strength
from jivs_security.passwords._strength import (
    MAX_SCORED_LENGTH,
    MAX_SCORING_WORK,
    estimate_strength,
    longest_repetition,
    longest_sequence,
    scoring_prefix,
)

LOOKALIKES = "4@8(3!1|0$5+7%2{[<69"


def scoring_work(prefix: str) -> int:
    """Return the work estimate of scoring_prefix for ``prefix``."""
    present = "".join(sorted({c for c in prefix if c in LOOKALIKES}))
    tables = _strength._substitution_tables(present) if present else 0
    n = len(prefix)
    return n * (n + 1) // 2 * (2 + tables)


# The prefix bound.


def test_zxcvbn_rejects_73_characters() -> None:
    """zxcvbn 4.5 raises above 72 characters, which is why only a prefix is scored."""
    with pytest.raises(ValueError, match="72"):
        zxcvbn("a" * 73)


def test_prefix_capped_at_max_length() -> None:
    """Plain text is scored up to MAX_SCORED_LENGTH code points."""
    prefix = scoring_prefix("correct horse battery staple " * 40)

    assert len(prefix) == MAX_SCORED_LENGTH


def test_short_password_scored_whole() -> None:
    """A password within both bounds is scored whole."""
    estimate = estimate_strength("correct horse battery")

    assert estimate.scored_length == len("correct horse battery")
    assert not estimate.truncated


def test_lookalike_prefix_shortened() -> None:
    """Many distinct look-alike characters shorten the prefix below the length cap."""
    prefix = scoring_prefix((LOOKALIKES * 4)[:72])

    assert 0 < len(prefix) < MAX_SCORED_LENGTH
    assert scoring_work(prefix) <= MAX_SCORING_WORK


@settings(max_examples=200, deadline=None)
@given(password=st.text(alphabet=LOOKALIKES + "abeilost", max_size=200))
def test_prefix_longest_within_work_bound(password: str) -> None:
    """The prefix stays within the work bound, and one more code point would not."""
    prefix = scoring_prefix(password)

    assert password.startswith(prefix)
    assert scoring_work(prefix) <= MAX_SCORING_WORK
    if len(prefix) < min(len(password), MAX_SCORED_LENGTH):
        assert scoring_work(password[: len(prefix) + 1]) > MAX_SCORING_WORK


@pytest.mark.parametrize(
    "password",
    [
        (LOOKALIKES * 4)[:72],
        ("p@$$w0rd" * 9)[:72],
        "19/12/1987" * 7 + "01",
        "a1" * 36,
        "TA" * 36,
        "x" * 1024,
        ("correct horse battery staple " * 40)[:1024],
    ],
)
def test_adversarial_shapes_scored(password: str) -> None:
    """Shapes that are slow or rejected in raw zxcvbn get a score from 0 to 4."""
    estimate = estimate_strength(password)

    assert 0 <= estimate.score <= 4
    assert estimate.truncated


def test_empty_password_scores_zero() -> None:
    """The empty string, on which zxcvbn 4.5 raises IndexError, scores 0."""
    estimate = estimate_strength("")

    assert estimate.score == 0
    assert estimate.scored_length == 0


def test_user_inputs_lower_estimate() -> None:
    """Context words passed as user inputs make a password built on them guessable."""
    password = "quixotrelvanmarbek"

    without = estimate_strength(password)
    with_context = estimate_strength(password, ["quixotrelvan", "marbek"])

    assert with_context.guesses_log10 < without.guesses_log10


def test_concurrent_user_inputs_isolated() -> None:
    """Concurrent estimates with different user inputs each use their own inputs."""
    cases = [("zorblatquimfen7", [f"zorblatquimfen{i}"] if i % 2 else []) for i in range(8)]
    expected = [estimate_strength(password, inputs) for password, inputs in cases]
    mismatches: list[int] = []

    def run(index: int) -> None:
        password, inputs = cases[index]
        for _ in range(20):
            if estimate_strength(password, inputs) != expected[index]:
                mismatches.append(index)

    # zxcvbn keeps the user inputs of a call in a module-level dictionary.
    # Switching threads every 10 microseconds makes a missing lock show up
    # as mismatches in almost every run.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    assert not mismatches


# Repetition.


@pytest.mark.parametrize(
    ("text", "max_unit", "expected"),
    [
        ("aaaaaaaa", 14, 8),
        ("abababab", 14, 8),
        ("ababa", 14, 5),
        ("aba", 14, 0),
        ("xyzabcabcabc!", 14, 9),
        ("abcdefgh", 14, 0),
        ("passwordpassword", 14, 16),
        ("passwordpassword", 7, 2),
        ("", 14, 0),
    ],
)
def test_longest_repetition_cases(text: str, max_unit: int, expected: int) -> None:
    """The longest run of one unit repeated in full at least twice."""
    assert longest_repetition(text, max_unit) == expected


# Sequences.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abcdef", 6),
        ("fedcba", 6),
        ("13579", 5),
        ("afkpu", 5),
        ("7890123", 7),
        ("xyzabc", 6),
        ("qwertyuiopasdf", 14),
        ("azertyuiop", 10),
        ("qwertzuiop", 10),
        ("poiuytrewq", 10),
        ("!@#$%^&*()", 10),
        ("ab", 0),
        ("aaaa", 0),
        ("afz", 0),
        ("horse", 0),
        ("αβγδε", 5),
    ],
)
def test_longest_sequence_cases(text: str, expected: int) -> None:
    """Code-point, cyclic and keyboard runs are measured; runs under 3 count as none."""
    assert longest_sequence(text) == expected


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=1024))
def test_measures_bounded_by_length(text: str) -> None:
    """Neither measure exceeds the text's length."""
    assert 0 <= longest_repetition(text, 14) <= len(text)
    assert 0 <= longest_sequence(text) <= len(text)
