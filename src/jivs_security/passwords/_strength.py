"""Strength estimation with zxcvbn on a bounded prefix, and the repetition and sequence rules.

zxcvbn 4.5.0 raises ``ValueError`` for inputs over 72 characters. Its run
time grows quickly with length and with the number of distinct look-alike
characters (``@``, ``$``, ``0``, ``1``, ``|`` and so on), because for each
combination of substitutions it scans every substring of the password
against every dictionary. A 72-character string of such characters took
2.2 to 4.6 s per call on a shared 2-core AMD EPYC machine (CPython 3.11.7).
So zxcvbn only sees a prefix, chosen by :func:`scoring_prefix`, while the
blocklist, context, repetition and sequence rules see the whole password.

All timings in this module come from that machine, under the load of other
processes, with benchmarks/bench_policy.py and an adversarial search of the
same kind. They are the fastest of 5 to 7 runs, so they leave out most of
that load.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from zxcvbn import matching, zxcvbn

__all__ = [
    "MAX_SCORED_LENGTH",
    "MAX_SCORING_WORK",
    "StrengthEstimate",
    "estimate_strength",
    "longest_repetition",
    "longest_sequence",
    "scoring_prefix",
]

# Code points. No prefix longer than this is scored. zxcvbn's scoring step
# keeps candidate match sequences of every length at every position, so its
# time grows faster than the square of the length on inputs with many short
# matches. "i" repeated took 12 ms at 32 code points, 23 ms at 40 and 41 ms
# at 48.
MAX_SCORED_LENGTH: Final = 40

# Substring lookups per dictionary, the unit of work that grows fastest in
# zxcvbn 4.5.0. A prefix of n code points costs n * (n + 1) / 2 lookups for
# the plain scan, as many again for the reversed scan, and as many for each
# look-alike substitution table zxcvbn tries. With both bounds, the slowest
# prefix that an adversarial search of about 1,500 inputs found took 24 ms.
MAX_SCORING_WORK: Final = 12_000

# zxcvbn's own limit, which the bounds above keep far below.
_ZXCVBN_MAX_LENGTH: Final = 72

_LOOKALIKE_CHARACTERS: Final = frozenset(
    character for substitutes in matching.L33T_TABLE.values() for character in substitutes
)

# zxcvbn() stores the user inputs of each call in a module-level dictionary
# (matching.RANKED_DICTIONARIES["user_inputs"]) that the matchers read, so
# two concurrent calls with different inputs could score against each
# other's words. The lock serialises the calls made from this module; the
# GIL already serialises the pure-Python work, so no throughput is lost.
# NOTE: other code in the process that calls zxcvbn directly is not covered.
_ZXCVBN_LOCK: Final = threading.Lock()


@dataclass(frozen=True)
class StrengthEstimate:
    """A zxcvbn estimate of one password.

    ``score`` is zxcvbn's 0 to 4 scale, ``guesses_log10`` the base-10
    logarithm of its guess estimate, ``scored_length`` how many code points
    of the password it saw and ``truncated`` whether that was fewer than the
    whole password.
    """

    score: int
    guesses_log10: float
    scored_length: int
    truncated: bool


@functools.lru_cache(maxsize=1024)
def _substitution_tables(lookalikes: str) -> int:
    """Return how many substitution tables zxcvbn 4.5.0 tries for these look-alike characters."""
    subtable = matching.relevant_l33t_subtable(lookalikes, matching.L33T_TABLE)
    return len(matching.enumerate_l33t_subs(subtable))


def scoring_prefix(password: str) -> str:
    """Return the longest prefix of ``password`` that zxcvbn can score within the work bound.

    The prefix has at most :data:`MAX_SCORED_LENGTH` code points, and its
    estimated work, ``n * (n + 1) / 2 * (2 + tables)`` substring lookups
    where ``tables`` is the number of look-alike substitution tables for
    the look-alike characters in it, is at most :data:`MAX_SCORING_WORK`.

    NOTE: this is a work bound, not a time limit. Python cannot interrupt
    zxcvbn, and a limit on wall-clock time would make the verdict on the
    same password depend on the machine's load. The bound was measured on
    one machine, and a machine half as fast takes twice as long.
    """
    limit = min(len(password), MAX_SCORED_LENGTH)
    seen = ""
    tables = 0
    for length in range(1, limit + 1):
        character = password[length - 1]
        if character in _LOOKALIKE_CHARACTERS and character not in seen:
            seen = "".join(sorted(seen + character))
            tables = _substitution_tables(seen)
        if length * (length + 1) // 2 * (2 + tables) > MAX_SCORING_WORK:
            return password[: length - 1]
    return password[:limit]


def estimate_strength(password: str, user_inputs: Sequence[str] = ()) -> StrengthEstimate:
    """Score the :func:`scoring_prefix` of ``password`` with zxcvbn.

    ``user_inputs`` are words the user is likely to pick from (user name,
    e-mail address, service name), which zxcvbn treats as a dictionary.

    NOTE: characters past the prefix are not scored, so a password whose
    first 40 code points are weak scores as weak even when the rest is
    strong. The other rules still see all of it.
    """
    prefix = scoring_prefix(password)
    if not prefix:
        # zxcvbn 4.5.0 raises IndexError for the empty string.
        return StrengthEstimate(score=0, guesses_log10=0.0, scored_length=0, truncated=False)
    with _ZXCVBN_LOCK:
        result = zxcvbn(prefix, user_inputs=list(user_inputs), max_length=_ZXCVBN_MAX_LENGTH)
    guesses = float(result["guesses"])
    return StrengthEstimate(
        score=int(result["score"]),
        guesses_log10=math.log10(guesses) if guesses > 0 else 0.0,
        scored_length=len(prefix),
        truncated=len(prefix) < len(password),
    )


def longest_repetition(text: str, max_unit: int) -> int:
    """Return the length of the longest substring that is one unit repeated back to back.

    Only units of 1 to ``max_unit`` code points count, and the unit must
    appear at least twice in full (``"abab"`` has length 4, ``"aba"`` none).
    A trailing partial copy counts (``"ababa"`` has length 5).
    """
    best = 0
    for unit in range(1, min(max_unit, len(text) // 2) + 1):
        # Position i matches when text[i] == text[i + unit]. A run of r
        # matching positions is a substring of r + unit code points with
        # period `unit`, which holds two full copies once r >= unit.
        matches = bytes(map(operator.eq, text, text[unit:]))
        run = max(map(len, matches.split(b"\x00")))
        if run >= unit:
            best = max(best, run + unit)
    return best


# Orderings in which a run of neighbours is a sequence, each with the
# modulus of its cycle (0 for none). Digits and Latin letters wrap around
# ("7890123", "xyzabc"). Keyboard rows are read left to right and top to
# bottom for the QWERTY, QWERTZ and AZERTY layouts, so "qwertyuiopasdfgh" is
# one run.
_ORDERINGS: Final = tuple(
    ({character: i for i, character in enumerate(ordering)}, len(ordering) if cyclic else 0)
    for ordering, cyclic in (
        ("0123456789", True),
        ("abcdefghijklmnopqrstuvwxyz", True),
        ("qwertyuiopasdfghjklzxcvbnm", False),
        ("qwertzuiopasdfghjklyxcvbnm", False),
        ("azertyuiopqsdfghjklmwxcvbn", False),
        ("1234567890", False),
        ("!@#$%^&*()", False),
    )
)

# Code point steps of a sequence such as "abcd", "aceg" or "9753", as in
# zxcvbn's sequence matcher, which accepts steps of up to 5.
_MAX_CODE_POINT_STEP: Final = 5

# Shorter runs are too common in ordinary words ("de", "st") to mean a pattern.
_MIN_SEQUENCE_RUN: Final = 3


def _longest_step_run(deltas: Sequence[int], steps: Sequence[int]) -> int:
    """Return the longest run of consecutive deltas that all equal one step in ``steps``.

    Each comparison runs in C (``map`` over ``int.__eq__``), which keeps a
    1,024-code-point password in the microseconds.
    """
    best = 0
    for step in steps:
        matches = bytes(map(step.__eq__, deltas))
        best = max(best, *map(len, matches.split(b"\x00")))
    return best


def _longest_constant_step(positions: Sequence[int], max_step: int, modulus: int) -> int:
    """Return the longest run of positions with the same step of 1 to ``max_step``, either sign.

    Positions below 0 mark characters outside the ordering, and no step
    leads into or out of them. With a ``modulus``, steps wrap around (9 to 0
    is a step of 1 in a cycle of 10).
    """
    if len(positions) < 2:
        return 0
    deltas = list(map(operator.sub, positions[1:], positions[:-1]))
    # A delta that touches an outside character can never equal a step:
    # replace it with 0, which is not a step either.
    inside = [position >= 0 for position in positions]
    deltas = [
        delta if a and b else 0 for delta, a, b in zip(deltas, inside, inside[1:], strict=False)
    ]
    if modulus:
        # Map each delta to the range -modulus/2 .. modulus/2, so that 9 to 0
        # in a cycle of 10 is +1 and 0 to 9 is -1.
        half = modulus // 2
        deltas = [(delta + half) % modulus - half if delta else 0 for delta in deltas]
    steps = [step for size in range(1, max_step + 1) for step in (size, -size)]
    run = _longest_step_run(deltas, steps)
    return run + 1 if run else 0


def longest_sequence(text: str) -> int:
    """Return the length of the longest monotonic sequence in ``text``, or 0 below 3 code points.

    A sequence is a run in which each code point follows the previous one
    by the same step in one of these orderings:

    - Unicode code points, with a step of 1 to 5 either way (``"abcd"``,
      ``"13579"``, ``"zyx"``);
    - digits or Latin letters as a cycle, with a step of 1 either way
      (``"8901234"``, ``"yzab"``);
    - a row-by-row reading of a QWERTY, QWERTZ or AZERTY keyboard, with a
      step of 1 either way (``"qwertyuiop"``, ``"poiuy"``, ``"!@#$%"``).

    ``text`` should be case folded, since the orderings are lower case.
    """
    best = _longest_constant_step([ord(c) for c in text], _MAX_CODE_POINT_STEP, 0)
    for index, modulus in _ORDERINGS:
        positions = [index.get(c, -1) for c in text]
        best = max(best, _longest_constant_step(positions, 1, modulus))
    return best if best >= _MIN_SEQUENCE_RUN else 0
