"""Measuring and reporting parts shared by the comparison benchmarks.

The scripts import this module as ``harness``, because running
``python benchmarks/bench_x.py`` puts the benchmarks directory on sys.path.
Each contender is calibrated to fill a slice of time, then timed once per
round in an order that rotates from round to round, so load from other
processes on a shared machine falls on all contenders alike. A script
collects its contenders and rows in a :class:`Plan`, and reports them with
the formatting and JSON helpers at the end of this module.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class RoundSettings(Protocol):
    """The measurement lengths that calibration and the rounds read."""

    @property
    def rounds(self) -> int: ...

    @property
    def slice_seconds(self) -> float: ...


@dataclass(frozen=True)
class Settings:
    """Measurement lengths: rounds and seconds per contender per round."""

    rounds: int
    slice_seconds: float


class Measured(Protocol):
    """A contender as the summary reads it: its label and its rate in each round."""

    label: str
    rates: list[float]


MeasuredT = TypeVar("MeasuredT", bound=Measured)


@dataclass
class Contender:
    """One measured operation and its calls per second in each round."""

    key: str
    label: str
    run: Callable[[], object]
    calls_per_batch: int = field(default=1, kw_only=True)
    rates: list[float] = field(default_factory=list, kw_only=True)

    def record_batch(self, elapsed: float, slice_seconds: float) -> None:
        """Append the rate of a batch that took ``elapsed`` seconds, and resize the next batch.

        The batch size comes from the median rate so far, because the
        warm-up estimate from :func:`calibrate` can be off by half on a busy
        machine.
        """
        self.rates.append(self.calls_per_batch / elapsed)
        median_rate = statistics.median(self.rates)
        self.calls_per_batch = max(1, round(median_rate * slice_seconds))

    def as_json(self, rate_name: str) -> dict[str, Any]:
        """Return the label, the last batch size and the rates, for the JSON results.

        The rates go under ``<rate_name>_per_s_by_round``.
        """
        return {
            "label": self.label,
            "calls_per_batch": self.calls_per_batch,
            f"{rate_name}_per_s_by_round": self.rates,
        }


ContenderT = TypeVar("ContenderT", bound=Contender)


@dataclass(frozen=True)
class Comparison(Generic[MeasuredT]):
    """One table row: an operation of ours against one peer."""

    operation: str
    ours: MeasuredT
    peer: MeasuredT

    def ratios(self) -> list[float]:
        """Return ours rate divided by the peer's rate, one value per round."""
        return [ours / peer for ours, peer in zip(self.ours.rates, self.peer.rates, strict=True)]


@dataclass
class Plan(Generic[ContenderT]):
    """The contender groups to time, the rows that compare them, and what was checked first."""

    groups: list[list[ContenderT]] = field(default_factory=list)
    rows: list[Comparison[ContenderT]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def contenders(self) -> list[ContenderT]:
        return [contender for group in self.groups for contender in group]

    def contenders_as_json(self, rate_name: str) -> dict[str, dict[str, Any]]:
        """Return each contender's :meth:`Contender.as_json` under its key."""
        return {contender.key: contender.as_json(rate_name) for contender in self.contenders()}


def time_batch(run: Callable[[], object], calls: int) -> float:
    """Return the seconds that ``calls`` calls of ``run`` take, with the garbage collector off.

    The collector is paused as timeit pauses it, so a collection triggered by
    one contender's garbage is not charged to the next one.
    """
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            run()
        return time.perf_counter() - start
    finally:
        if collector_was_enabled:
            gc.enable()


def calibrate(contender: Contender, slice_seconds: float) -> None:
    """Set how many calls fill one slice. The calls made here also warm up the contender."""
    calls = 1
    probe_seconds = slice_seconds / 4
    while True:
        elapsed = time_batch(contender.run, calls)
        if elapsed >= probe_seconds:
            break
        grown = math.ceil(calls * 1.2 * probe_seconds / max(elapsed, 1e-7))
        calls = max(calls * 2, grown)
    contender.calls_per_batch = max(1, round(calls * slice_seconds / elapsed))


def rotated(items: Sequence[T], offset: int) -> list[T]:
    shift = offset % len(items)
    return [*items[shift:], *items[:shift]]


def run_rounds(groups: Sequence[Sequence[Contender]], settings: RoundSettings) -> None:
    """Time every contender once per round, rotating the order of groups and contenders.

    The contenders of one group run back to back, so the ratio between two
    of them compares measurements taken seconds apart. A call that outlasts
    the slice still runs once per round.
    """
    for round_index in range(settings.rounds):
        print(f"  round {round_index + 1}/{settings.rounds}", file=sys.stderr, flush=True)
        gc.collect()
        for group in rotated(groups, round_index):
            for contender in rotated(group, round_index):
                elapsed = time_batch(contender.run, contender.calls_per_batch)
                contender.record_batch(elapsed, settings.slice_seconds)


def measure(groups: Sequence[Sequence[Contender]], settings: RoundSettings) -> float:
    """Calibrate every contender, run the rounds, and return the seconds the rounds took."""
    contenders = [contender for group in groups for contender in group]
    print(
        f"calibrating {len(contenders)} contenders, then {settings.rounds} rounds of "
        f"{settings.slice_seconds} s each",
        file=sys.stderr,
    )
    for contender in contenders:
        calibrate(contender, settings.slice_seconds)
    started = time.monotonic()
    run_rounds(groups, settings)
    return time.monotonic() - started


# Reporting.


def machine_facts(distributions: Sequence[str]) -> dict[str, Any]:
    """Return the CPU, the Python build and the installed versions of ``distributions``."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        cpuinfo = ""
    model_lines = [line for line in cpuinfo.splitlines() if line.startswith("model name")]
    cpu_model = model_lines[0].split(":", 1)[1].strip() if model_lines else platform.processor()

    if hasattr(os, "sched_getaffinity"):
        usable_cpus = len(os.sched_getaffinity(0))
    else:
        usable_cpus = os.cpu_count() or 0

    versions: dict[str, str] = {}
    for distribution in distributions:
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[distribution] = "not installed"

    return {
        "nproc": usable_cpus,
        "cpu_model": cpu_model or "unknown",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
    }


def summarize(row: Comparison[MeasuredT], rate_name: str) -> dict[str, Any]:
    """Return a row's median rates, median ratio and ratio quartiles.

    The rates go under ``ours_<rate_name>_per_s`` and ``peer_<rate_name>_per_s``.
    """
    ratios = row.ratios()
    lower, _, upper = statistics.quantiles(ratios, n=4, method="inclusive")
    return {
        "operation": row.operation,
        "ours": row.ours.label,
        "peer": row.peer.label,
        f"ours_{rate_name}_per_s": statistics.median(row.ours.rates),
        f"peer_{rate_name}_per_s": statistics.median(row.peer.rates),
        "ratio": statistics.median(ratios),
        "ratio_quartiles": [lower, upper],
    }


def render_table(headings: Sequence[str], lines: Sequence[Sequence[str]], left: int) -> str:
    """Render a plain-text table whose first ``left`` columns are left-aligned."""
    widths = [max(len(row[i]) for row in [headings, *lines]) for i in range(len(headings))]

    def render(cells: Sequence[str]) -> str:
        aligned = [
            cell.ljust(widths[i]) if i < left else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(aligned).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(headings), rule, *(render(line) for line in lines)])


def format_comparisons(summaries: Sequence[dict[str, Any]], unit: str, rate_key: str) -> str:
    """Render summaries as a table with rates in ``unit``, read from ``ours_<rate_key>``."""
    headings = ("operation", "peer", f"ours {unit}", f"peer {unit}", "ratio", "middle half")
    lines = [
        (
            summary["operation"],
            summary["peer"],
            f"{summary['ours_' + rate_key]:,.0f}",
            f"{summary['peer_' + rate_key]:,.0f}",
            f"{summary['ratio']:.2f}x",
            f"{summary['ratio_quartiles'][0]:.2f}-{summary['ratio_quartiles'][1]:.2f}",
        )
        for summary in summaries
    ]
    return render_table(headings, lines, left=2)


def format_run(
    settings: RoundSettings, elapsed: float, rate_unit: str, machine: dict[str, Any]
) -> str:
    """Describe the rounds and the machine in two lines, with the rates given in ``rate_unit``.

    ``machine`` is what :func:`machine_facts` returns.
    """
    rounds = (
        f"{settings.rounds} interleaved rounds in {elapsed:.0f} s; {rate_unit} are medians over "
        "rounds, ratio is the median of per-round ours/peer"
    )
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    host = (
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}, {versions}"
    )
    return f"{rounds}\n{host}"


def format_checks(checks: Sequence[str]) -> str:
    """List what the script checked before timing, one indented line each."""
    return "\n".join(["Checked before timing:", *(f"  {check}" for check in checks)])


def print_sections(*sections: str) -> None:
    """Print each section of a report after a blank line."""
    for section in sections:
        print()
        print(section)


# JSON results.


def settings_as_json(settings: RoundSettings, *, quick: bool) -> dict[str, Any]:
    """Return the mode and the round lengths, for the ``settings`` entry of the JSON results."""
    return {
        "mode": "quick" if quick else "full",
        "rounds": settings.rounds,
        "slice_seconds": settings.slice_seconds,
    }


def write_json(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` as indented JSON, and print the path.

    The first key, ``measured_at``, is the UTC time of writing.
    """
    document = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **results}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


# Command line.


def add_quick_option(
    parser: argparse.ArgumentParser, quick: RoundSettings, full: RoundSettings
) -> None:
    """Add ``--quick``, which selects the ``quick`` settings in place of ``full``."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"run {quick.rounds} rounds of {quick.slice_seconds} s per contender instead of "
            f"{full.rounds} rounds of {full.slice_seconds} s per contender"
        ),
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json PATH``, the file that :func:`write_json` writes."""
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH"
    )
