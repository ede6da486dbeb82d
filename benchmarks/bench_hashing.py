"""Time PasswordHasher hash, verify and dummy_verify for each Argon2id profile.

Run from the repository root::

    python benchmarks/bench_hashing.py [--quick] [--full-memory] [--json PATH]

Each round times every operation of every profile once, in an order that
rotates from round to round, so load from other processes on a shared
machine falls on all operations alike. A row's times are medians over the
rounds. The dummy/verify ratio is the median over rounds of dummy_verify
time divided by the time of a matching verify in the same round. It should
be close to 1.0, so that a sign-in for an unknown account takes as long as
one for a known account.

The 2 GiB profile of RFC 9106 runs only with ``--full-memory``, because each
hash allocates 2 GiB.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import machine_facts

from jivs_security.errors import PasswordMismatch
from jivs_security.passwords._hashing import (
    OWASP_MINIMUM,
    RFC_9106_HIGH_MEMORY,
    RFC_9106_LOW_MEMORY,
    TESTS_ONLY,
    HashProfile,
    PasswordHasher,
)

# The distributions whose versions the report lists.
DISTRIBUTIONS = ("jivs", "argon2-cffi", "argon2-cffi-bindings")

PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "correct horse battery stapler"

# The 2 GiB profile takes seconds per call, so it gets at most this many rounds.
HIGH_MEMORY_MAX_ROUNDS = 3

# Kibibytes of available memory that --full-memory requires: the 2 GiB of
# one hash plus room for the interpreter.
HIGH_MEMORY_NEEDED_KIB = RFC_9106_HIGH_MEMORY.memory_kib + 256 * 1024

OPERATIONS = ("hash", "verify", "verify_mismatch", "dummy_verify")


@dataclass(frozen=True)
class Settings:
    """Rounds to run, and the minimum seconds of one timed batch of calls.

    Operations faster than a batch are called several times per batch, so
    that the timer's resolution and a single slow call matter less.
    """

    rounds: int
    batch_seconds: float


# About 40 s full and 5 s quick on a 2-core machine, without --full-memory.
FULL = Settings(rounds=15, batch_seconds=0.2)
QUICK = Settings(rounds=5, batch_seconds=0.05)


@dataclass
class ProfileRun:
    """One profile's hasher, its stored hash and the milliseconds per call of each operation."""

    profile: HashProfile
    hasher: PasswordHasher
    stored: str
    calls_per_batch: int = 1
    samples: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})

    def operation(self, name: str) -> Callable[[], object]:
        if name == "hash":
            return lambda: self.hasher.hash(PASSWORD)
        if name == "verify":
            return lambda: self.hasher.verify(self.stored, PASSWORD)
        if name == "verify_mismatch":
            return lambda: _expect_mismatch(lambda: self.hasher.verify(self.stored, WRONG_PASSWORD))
        if name == "dummy_verify":
            return lambda: _expect_mismatch(lambda: self.hasher.dummy_verify(PASSWORD))
        raise ValueError(f"unknown operation {name!r}; expected one of {OPERATIONS}")

    def ratios(self) -> list[float]:
        """Return dummy_verify time over matching verify time, one value per round."""
        pairs = zip(self.samples["dummy_verify"], self.samples["verify"], strict=True)
        return [dummy / real for dummy, real in pairs]


def _expect_mismatch(call: Callable[[], object]) -> None:
    try:
        call()
    except PasswordMismatch:
        return
    raise AssertionError("expected PasswordMismatch, but the call succeeded")


def time_batch(call: Callable[[], object], calls: int) -> float:
    """Return the milliseconds per call of ``calls`` calls, with the garbage collector paused."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(calls):
            call()
        elapsed = time.perf_counter() - started
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed * 1000 / calls


def prepare(profile: HashProfile, settings: Settings) -> ProfileRun:
    """Build the hasher, check every operation once and size the batches."""
    hasher = PasswordHasher(profile)
    run = ProfileRun(profile=profile, hasher=hasher, stored=hasher.hash(PASSWORD))

    # The first dummy_verify also makes its hash; this call keeps that cost
    # out of the timed rounds.
    for name in OPERATIONS:
        run.operation(name)()

    single = time_batch(run.operation("verify"), 1) / 1000
    run.calls_per_batch = max(1, math.ceil(settings.batch_seconds / max(single, 1e-6)))
    return run


def measure(runs: Sequence[ProfileRun], settings: Settings) -> None:
    """Time every operation of every run once per round, rotating the order."""
    slots = [(run, name) for run in runs for name in OPERATIONS]
    for round_index in range(settings.rounds):
        shift = round_index % len(slots)
        for run, name in slots[shift:] + slots[:shift]:
            if run.profile is RFC_9106_HIGH_MEMORY and round_index >= HIGH_MEMORY_MAX_ROUNDS:
                continue
            run.samples[name].append(time_batch(run.operation(name), run.calls_per_batch))
        gc.collect()
        print(f"round {round_index + 1} of {settings.rounds} done", file=sys.stderr)


def summarize(run: ProfileRun) -> dict[str, Any]:
    ratios = run.ratios()
    if len(ratios) > 1:
        lower, _, upper = statistics.quantiles(ratios, n=4, method="inclusive")
    else:
        lower = upper = ratios[0]
    return {
        "profile": run.profile.name,
        "parameters": run.profile.describe(),
        "rounds": len(ratios),
        "calls_per_batch": run.calls_per_batch,
        "median_ms": {name: statistics.median(run.samples[name]) for name in OPERATIONS},
        "dummy_to_verify_ratio": statistics.median(ratios),
        "ratio_quartiles": [lower, upper],
        "samples_ms": run.samples,
    }


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    headings = (
        "profile",
        "parameters",
        "hash ms",
        "verify ms",
        "mismatch ms",
        "dummy ms",
        "dummy/verify",
        "middle half",
    )
    lines = [
        (
            summary["profile"],
            summary["parameters"],
            *(f"{summary['median_ms'][name]:.3f}" for name in OPERATIONS),
            f"{summary['dummy_to_verify_ratio']:.3f}",
            f"{summary['ratio_quartiles'][0]:.3f}-{summary['ratio_quartiles'][1]:.3f}",
        )
        for summary in summaries
    ]
    widths = [max(len(row[i]) for row in [headings, *lines]) for i in range(len(headings))]

    def render(cells: Sequence[str]) -> str:
        left = [cells[i].ljust(widths[i]) for i in range(2)]
        right = [cells[i].rjust(widths[i]) for i in range(2, len(cells))]
        return "  ".join([*left, *right]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(headings), rule, *(render(line) for line in lines)])


def available_memory_kib() -> int | None:
    """Return MemAvailable from /proc/meminfo in KiB, or None where it cannot be read."""
    try:
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return None


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure PasswordHasher hash, verify and dummy_verify times per Argon2id profile, "
            "and the ratio of dummy_verify to verify time."
        )
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"run {QUICK.rounds} rounds with batches of at least {QUICK.batch_seconds} s "
            f"instead of {FULL.rounds} rounds with batches of at least {FULL.batch_seconds} s"
        ),
    )
    parser.add_argument(
        "--full-memory",
        action="store_true",
        help=(
            "also time the RFC 9106 first recommended profile, which allocates 2 GiB per "
            f"hash; at most {HIGH_MEMORY_MAX_ROUNDS} rounds"
        ),
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write every measurement and the machine facts to PATH as JSON",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL

    profiles = [OWASP_MINIMUM, RFC_9106_LOW_MEMORY, TESTS_ONLY]
    if arguments.full_memory:
        available = available_memory_kib()
        if available is not None and available < HIGH_MEMORY_NEEDED_KIB:
            print(
                f"--full-memory needs about {HIGH_MEMORY_NEEDED_KIB // 1024} MiB of available "
                f"memory, but only {available // 1024} MiB is available; free memory or run "
                "without --full-memory",
                file=sys.stderr,
            )
            return 2
        profiles.append(RFC_9106_HIGH_MEMORY)

    started = time.monotonic()
    runs = [prepare(profile, settings) for profile in profiles]
    measure(runs, settings)
    elapsed = time.monotonic() - started

    summaries = [summarize(run) for run in runs]
    facts = machine_facts(DISTRIBUTIONS)
    print(format_table(summaries))
    print(
        f"\n{settings.rounds} rounds in {elapsed:.0f} s on {facts['nproc']} CPUs "
        f"({facts['cpu_model']}), Python {facts['python']}, "
        f"argon2-cffi {facts['versions']['argon2-cffi']}"
    )

    if arguments.json is not None:
        document = {
            "settings": {
                "rounds": settings.rounds,
                "batch_seconds": settings.batch_seconds,
                "full_memory": arguments.full_memory,
            },
            "machine": facts,
            "elapsed_seconds": elapsed,
            "rows": summaries,
        }
        arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
