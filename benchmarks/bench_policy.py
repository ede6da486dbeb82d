"""Time PasswordPolicy.check() on hard inputs, next to raw zxcvbn on the same inputs cut to 72.

Run from the repository root::

    python benchmarks/bench_policy.py [--quick] [--json PATH]

zxcvbn 4.5.0 raises for inputs over 72 characters, and its run time grows
fast with length and with distinct look-alike characters. The policy scores
only a bounded prefix (see jivs_security/passwords/_strength.py), so its
time per check should stay bounded for every input up to the 1,024-character
maximum. The script measures:

1. A fixed corpus: ordinary passwords, 72-character shapes that are slow in
   raw zxcvbn, and 1,024-character strings. Each input is checked several
   times; the raw zxcvbn column times ``zxcvbn(input[:72])`` on the same
   input.
2. A seeded adversarial search: random inputs from the same families, then
   small mutations of the slowest ones, to find a worse case than the
   corpus holds. The slowest candidates are measured again several times.

Times are per call in milliseconds: the median and the maximum over the
repetitions. The garbage collector is paused during each call. Load from
other processes on a shared machine shows up as a maximum far above the
median, so the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import string
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import machine_facts
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from jivs_security.passwords._policy import PasswordPolicy
from jivs_security.passwords._strength import MAX_SCORED_LENGTH, MAX_SCORING_WORK, scoring_prefix

# The distributions whose versions the report lists.
DISTRIBUTIONS = ("jivs", "zxcvbn")

# The target for the slowest input, by the median of its repeated checks.
TARGET_MS = 50.0

LOOKALIKES = "4@8(3!1|0$5+7%2{[<69"
SEED = 20261204


@dataclass(frozen=True)
class Settings:
    """Repetitions per input and the size of the adversarial search."""

    check_repeats: int
    zxcvbn_repeats: int
    search_candidates: int
    search_mutations: int
    remeasured: int


# On a shared 2-core machine the full run took 31 s and the quick run 12 s.
# Raw zxcvbn on the two slowest 72-character inputs takes over 2 s per
# call, which is most of that time.
FULL = Settings(
    check_repeats=9, zxcvbn_repeats=3, search_candidates=400, search_mutations=200, remeasured=10
)
QUICK = Settings(
    check_repeats=3, zxcvbn_repeats=1, search_candidates=60, search_mutations=30, remeasured=4
)


@dataclass(frozen=True)
class Measurement:
    """The times of one input, in milliseconds."""

    name: str
    length: int
    scored_length: int
    check_median_ms: float
    check_max_ms: float
    zxcvbn_median_ms: float | None
    preview: str


def time_calls(run: Callable[[], object], repeats: int) -> list[float]:
    """Call ``run`` ``repeats`` times with the garbage collector paused; return milliseconds."""
    times = []
    for _ in range(repeats):
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000)
        finally:
            gc.enable()
    return times


def preview(text: str) -> str:
    """Return the first 40 code points of ``text`` as a repr, marked when cut."""
    shown = repr(text[:40])
    return shown + "..." if len(text) > 40 else shown


def measure(
    policy: PasswordPolicy, name: str, password: str, settings: Settings, *, with_zxcvbn: bool
) -> Measurement:
    check_times = time_calls(lambda: policy.check(password), settings.check_repeats)
    zxcvbn_median = None
    if with_zxcvbn and password:
        zxcvbn_times = time_calls(lambda: zxcvbn(password[:72]), settings.zxcvbn_repeats)
        zxcvbn_median = statistics.median(zxcvbn_times)
    return Measurement(
        name=name,
        length=len(password),
        scored_length=len(scoring_prefix(password)),
        check_median_ms=statistics.median(check_times),
        check_max_ms=max(check_times),
        zxcvbn_median_ms=zxcvbn_median,
        preview=preview(password),
    )


# Inputs.


def pick_words(rng: random.Random, source: str, count: int) -> list[str]:
    """Pick ``count`` words from the 5,000 most frequent of a zxcvbn frequency list."""
    return [rng.choice(FREQUENCY_LISTS[source][:5000]) for _ in range(count)]


def words(rng: random.Random, source: str, count: int) -> str:
    return "".join(pick_words(rng, source, count))


def lookalike_word(rng: random.Random, word: str) -> str:
    table = {"a": "@4", "e": "3", "i": "1!|", "o": "0", "s": "$5", "t": "+7", "l": "1|", "g": "69"}
    return "".join(rng.choice(table[c]) if c in table and rng.random() < 0.7 else c for c in word)


def corpus(rng: random.Random) -> list[tuple[str, str]]:
    """Return the fixed corpus as (name, password) pairs."""
    printable = string.ascii_letters + string.digits + string.punctuation
    dates = "".join(
        f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2030)}"
        for _ in range(10)
    )
    return [
        ("passphrase, 4 words", "correct horse battery staple"),
        ("random, 15", "vq7-Rm2!kZp9wLx"),
        ("common password", "password"),
        ("passphrase, 100", " ".join(["orbit", "lantern", "pepper", "violin", "meadow"] * 5)[:100]),
        ("look-alikes, all 20 distinct, 72", (LOOKALIKES * 4)[:72]),
        ("look-alikes with vowels, 72", ("a4@b8c(e3g6i1!l|o0s$5t+7x%z2" * 3)[:72]),
        ("'p@$$w0rd' repeated, 72", ("p@$$w0rd" * 9)[:72]),
        ("'TA' repeated, 72", "TA" * 36),
        ("'oiT' repeated, 72", "oiT" * 24),
        ("random digits, 72", "".join(rng.choice(string.digits) for _ in range(72))),
        ("dates dd/mm/yyyy, 72", dates[:72]),
        (
            "letter-digit alternation, 72",
            "".join(rng.choice("abcxyz") + rng.choice("0123456789") for _ in range(36)),
        ),
        ("English words, 72", words(rng, "english_wikipedia", 30)[:72]),
        ("common passwords joined, 72", words(rng, "passwords", 30)[:72]),
        (
            "look-alike words, 72",
            "".join(lookalike_word(rng, w) for w in pick_words(rng, "passwords", 20))[:72],
        ),
        ("keyboard walks, 72", ("qwertyuiop1qaz2wsxzxcvbnm" * 3)[:72]),
        ("random printable, 1024", "".join(rng.choice(printable) for _ in range(1024))),
        ("look-alikes, 1024", (LOOKALIKES * 52)[:1024]),
        ("English words, 1024", words(rng, "english_wikipedia", 400)[:1024]),
        ("one letter, 1024", "a" * 1024),
        ("random digits, 1024", "".join(rng.choice(string.digits) for _ in range(1024))),
    ]


def candidates(rng: random.Random, count: int) -> Iterator[str]:
    """Yield ``count`` random inputs from the adversarial families."""
    printable = string.ascii_letters + string.digits + string.punctuation
    families: list[Callable[[], str]] = [
        lambda: "".join(
            rng.choice(rng.sample(LOOKALIKES, rng.randint(1, 20)) + list("aeiost"))
            for _ in range(rng.choice([48, 72, 1024]))
        ),
        lambda: (
            "".join(rng.choice(LOOKALIKES + string.ascii_letters) for _ in range(rng.randint(1, 6)))
            * 400
        )[: rng.choice([72, 1024])],
        lambda: words(rng, rng.choice(["english_wikipedia", "passwords"]), 60)[
            : rng.choice([72, 1024])
        ],
        lambda: "".join(lookalike_word(rng, w) for w in pick_words(rng, "passwords", 30))[:72],
        lambda: "".join(rng.choice(string.digits) for _ in range(rng.choice([72, 1024]))),
        lambda: "".join(rng.choice(printable) for _ in range(rng.choice([72, 1024]))),
    ]
    for _ in range(count):
        yield rng.choice(families)()


def mutate(rng: random.Random, text: str) -> str:
    characters = list(text)
    for _ in range(rng.randint(1, 4)):
        characters[rng.randrange(len(characters))] = rng.choice(
            LOOKALIKES + string.ascii_letters + string.digits
        )
    return "".join(characters)


def search(policy: PasswordPolicy, settings: Settings, rng: random.Random) -> list[Measurement]:
    """Run the adversarial search and return the slowest candidates, measured again."""
    once = Settings(1, 0, 0, 0, 0)
    scored: list[tuple[float, str]] = []
    for password in candidates(rng, settings.search_candidates):
        scored.append(
            (measure(policy, "", password, once, with_zxcvbn=False).check_median_ms, password)
        )
    scored.sort(reverse=True)
    for _ in range(settings.search_mutations):
        parent = rng.choice(scored[:5])[1]
        child = mutate(rng, parent)
        scored.append((measure(policy, "", child, once, with_zxcvbn=False).check_median_ms, child))
        scored.sort(reverse=True)
    slowest = []
    for rank, (_, password) in enumerate(scored[: settings.remeasured], start=1):
        slowest.append(measure(policy, f"search #{rank}", password, settings, with_zxcvbn=False))
    slowest.sort(key=lambda m: m.check_median_ms, reverse=True)
    return slowest


# Reporting.


def load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def format_table(rows: Sequence[Measurement]) -> str:
    headings = ("input", "length", "scored", "check median ms", "check max ms", "zxcvbn[:72] ms")
    lines = [
        (
            row.name,
            str(row.length),
            str(row.scored_length),
            f"{row.check_median_ms:.2f}",
            f"{row.check_max_ms:.2f}",
            "-" if row.zxcvbn_median_ms is None else f"{row.zxcvbn_median_ms:.2f}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [headings, *lines]) for i in range(len(headings))]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(
            [
                cells[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)),
            ]
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(headings), rule, *(render(line) for line in lines)])


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time PasswordPolicy.nist().check() on adversarial passwords up to 1,024 characters, "
            "next to raw zxcvbn on the same inputs cut to 72 characters."
        )
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"check each input {QUICK.check_repeats} times and search {QUICK.search_candidates} "
            f"candidates, instead of {FULL.check_repeats} times and {FULL.search_candidates}"
        ),
    )
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL
    rng = random.Random(SEED)
    policy = PasswordPolicy.nist()
    policy.check("warm up the blocklist and zxcvbn")
    load_before = load_average()
    started = time.perf_counter()

    rows = [
        measure(policy, name, password, settings, with_zxcvbn=True)
        for name, password in corpus(rng)
    ]
    slowest = search(policy, settings, rng)

    elapsed = time.perf_counter() - started
    load_after = load_average()
    worst = max([*rows, *slowest], key=lambda m: m.check_median_ms)

    print(
        f"PasswordPolicy.nist().check(): prefix bound {MAX_SCORED_LENGTH} code points, "
        f"work bound {MAX_SCORING_WORK} lookups; {settings.check_repeats} checks per input"
    )
    print()
    print(format_table(rows))
    print()
    print(
        f"Adversarial search: {settings.search_candidates} candidates and "
        f"{settings.search_mutations} mutations; the {settings.remeasured} slowest, measured again:"
    )
    print(format_table(slowest))
    print()
    for row in slowest[:3]:
        print(f"  {row.name}: length {row.length}, {row.preview}")
    print()
    corpus_medians = [row.check_median_ms for row in rows]
    print(f"corpus: median of medians {statistics.median(corpus_medians):.2f} ms")
    print(
        f"worst case by median: {worst.check_median_ms:.2f} ms "
        f"({worst.name}, length {worst.length})"
    )
    print(f"slowest single call: {max(m.check_max_ms for m in [*rows, *slowest]):.2f} ms")
    verdict = "met" if worst.check_median_ms < TARGET_MS else "missed"
    print(f"target worst case under {TARGET_MS:.0f} ms: {verdict}")
    print(f"load average before {load_before}, after {load_after}; {elapsed:.0f} s")

    if arguments.json is not None:
        report = {
            "machine": machine_facts(DISTRIBUTIONS),
            "settings": asdict(settings),
            "bounds": {
                "max_scored_length": MAX_SCORED_LENGTH,
                "max_scoring_work": MAX_SCORING_WORK,
            },
            "load_average": {"before": load_before, "after": load_after},
            "elapsed_s": elapsed,
            "corpus": [asdict(row) for row in rows],
            "search": [asdict(row) for row in slowest],
            "worst_median_ms": worst.check_median_ms,
            "target_ms": TARGET_MS,
        }
        arguments.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
