"""Compare sanitize_html with bleach on realistic HTML of several sizes, in interleaved rounds.

Run from the repository root::

    python benchmarks/bench_web.py [--quick] [--json PATH]

Each round times every contender for about the same slice of time, in an
order that rotates from round to round, so load from other processes on a
shared machine falls on all contenders alike. A row's ratio is the median
over rounds of ours ops/s divided by the peer's ops/s, both measured in the
same round. benchmarks/README.md describes each row.

The documents are built from a fixed seed: articles and comments with
headings, paragraphs, links, lists, quotes, code and tables. The second
block and every tenth after it hold a hostile fragment: a script, an event
handler, a javascript: link, inline CSS, an iframe or SVG. Every contender gets the same
allow-list, the default policy of sanitize_html.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bleach  # type: ignore[import-untyped]  # bleach 6.4.0 ships no type information
import nh3
from bleach.sanitizer import Cleaner as BleachCleaner  # type: ignore[import-untyped]
from harness import Contender, machine_facts, measure, render_table

from jivs_security.web import DEFAULT_SANITIZER_POLICY, sanitize_html

SEED = 20261205
# Bytes of HTML per document, the sizes of a comment, a long post and a
# long page.
SIZES = (1_000, 10_000, 100_000)
# The speed-up over bleach that sanitize_html is meant to reach.
TARGET_RATIO = 20.0
# Versions to report. bleach vendors its own copy of html5lib, so there is no
# html5lib to list.
DISTRIBUTIONS = ("jivs", "nh3", "bleach", "webencodings")


@dataclass(frozen=True)
class Settings:
    """Measurement lengths: rounds and seconds per contender per round."""

    rounds: int
    slice_seconds: float


# Rounds take rounds x slice x 12 contenders: about 45 s full and 5 s
# quick, plus a few seconds of calibration.
FULL = Settings(rounds=12, slice_seconds=0.3)
QUICK = Settings(rounds=4, slice_seconds=0.1)


# Documents.

WORDS = (  # noqa: SIM905  (a word list reads better than quoted items)
    "the data subject may request access to personal data held by the controller and "
    "the processor must answer within one month unless the request is manifestly "
    "unfounded token password cipher audit retention erasure consent breach notice"
).split()

HOSTILE_FRAGMENTS = (
    "<script>alert(document.cookie)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">click here</a>',
    '<div style="position:fixed;top:0;left:0">overlay</div>',
    '<iframe src="https://tracker.example/frame"></iframe>',
    "<svg onload=alert(1)><circle r=1></circle></svg>",
    '<a href="jav&#x09;ascript:alert(1)">obfuscated</a>',
    "<!-- a comment with <script> in it -->",
)


def sentence(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(6, 18)):
        word = rng.choice(WORDS)
        roll = rng.random()
        if roll < 0.06:
            word = f'<a href="https://example.com/{word}?ref={rng.randint(1, 999)}">{word}</a>'
        elif roll < 0.10:
            word = f"<strong>{word}</strong>"
        elif roll < 0.14:
            word = f"<em>{word}</em>"
        elif roll < 0.16:
            word = f"<code>{word}()</code>"
        elif roll < 0.17:
            word = f"{word} &amp; {rng.choice(WORDS)}"
        words.append(word)
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return "<p>" + " ".join(sentence(rng) for _ in range(rng.randint(1, 4))) + "</p>"


def heading(rng: random.Random) -> str:
    level = rng.randint(2, 4)
    return f"<h{level}>{sentence(rng)}</h{level}>"


def listing(rng: random.Random) -> str:
    items = "".join(f"<li>{sentence(rng)}</li>" for _ in range(rng.randint(2, 5)))
    return f"<ul>{items}</ul>" if rng.random() < 0.6 else f"<ol>{items}</ol>"


def quote(rng: random.Random) -> str:
    return f'<blockquote cite="https://example.com/source"><p>{sentence(rng)}</p></blockquote>'


def code(rng: random.Random) -> str:
    del rng  # Every code block is the same.
    return "<pre><code>if (a &lt; b &amp;&amp; c &gt; d) {\n  return x;\n}</code></pre>"


def table(rng: random.Random) -> str:
    rows = "".join(
        f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.randint(1, 1000)}</td></tr>"
        for _ in range(rng.randint(2, 6))
    )
    return (
        f"<table><thead><tr><th>name</th><th>count</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def hostile(rng: random.Random) -> str:
    return f"<p>{sentence(rng)} {rng.choice(HOSTILE_FRAGMENTS)}</p>"


# Harmless block kinds and how often each occurs.
BLOCKS: tuple[tuple[Callable[[random.Random], str], float], ...] = (
    (paragraph, 0.55),
    (heading, 0.10),
    (listing, 0.13),
    (quote, 0.08),
    (code, 0.07),
    (table, 0.07),
)


def block(rng: random.Random) -> str:
    """Return one harmless block-level element of a random kind."""
    builder = rng.choices([kind for kind, _ in BLOCKS], weights=[share for _, share in BLOCKS])
    return builder[0](rng)


def document(size: int, seed: int) -> str:
    """Return blocks from ``seed`` until the document is at least ``size`` characters long.

    The second block and every tenth after it are hostile, so even the
    smallest document has one.
    """
    rng = random.Random(seed)
    blocks: list[str] = []
    length = 0
    while length < size:
        blocks.append(hostile(rng) if len(blocks) % 10 == 1 else block(rng))
        length += len(blocks[-1])
    return "\n".join(blocks)


# Contenders.


def bleach_settings() -> dict[str, Any]:
    """Return the bleach arguments that match the default policy of sanitize_html.

    strip=True removes disallowed tags and keeps their text, as nh3 does.
    bleach's default would escape them instead.
    """
    policy = DEFAULT_SANITIZER_POLICY
    return {
        "tags": set(policy.tags),
        "attributes": {tag: sorted(names) for tag, names in policy.attributes.items()},
        "protocols": set(policy.url_schemes),
        "strip": True,
        "strip_comments": True,
    }


def bare_nh3_cleaner() -> nh3.Cleaner:
    """Return an nh3 cleaner with the default policy's settings, without this library around it."""
    policy = DEFAULT_SANITIZER_POLICY
    return nh3.Cleaner(
        tags=set(policy.tags),
        attributes={tag: set(names) for tag, names in policy.attributes.items()},
        url_schemes=set(policy.url_schemes),
        link_rel=policy.link_rel,
    )


class Inspector(html.parser.HTMLParser):
    """Collects what must never survive sanitising: script tags, handlers, script URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "iframe", "svg", "style"}:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{name} on <{tag}>")
            if value is not None and "javascript:" in value.replace("\t", "").lower():
                self.problems.append(f"{name}={value!r} on <{tag}>")


def problems_in(markup: str) -> list[str]:
    inspector = Inspector()
    inspector.feed(markup)
    inspector.close()
    return inspector.problems


# Measuring.


@dataclass(frozen=True)
class Comparison:
    """One table row: sanitize_html on one document against one peer."""

    document: str
    size: int
    ours: Contender
    peer: Contender

    def ratios(self) -> list[float]:
        """Return ours ops/s divided by peer ops/s, one value per round."""
        return [ours / peer for ours, peer in zip(self.ours.rates, self.peer.rates, strict=True)]


@dataclass
class Plan:
    """The contender groups to time, the rows that compare them, and what was checked first."""

    groups: list[list[Contender]] = field(default_factory=list)
    rows: list[Comparison] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def contenders(self) -> list[Contender]:
        return [contender for group in self.groups for contender in group]


def add_document(plan: Plan, size: int) -> None:
    """Add the contenders and rows for one document size, after checking every output."""
    markup = document(size, SEED + size)
    name = f"{len(markup) / 1000:.0f} KB"
    settings = bleach_settings()
    bleach_cleaner = BleachCleaner(**settings)
    bare = bare_nh3_cleaner()

    def ours() -> object:
        return sanitize_html(markup)

    def nh3_bare() -> object:
        return bare.clean(markup)

    def bleach_reused() -> object:
        return bleach_cleaner.clean(markup)

    def bleach_function() -> object:
        return bleach.clean(markup, **settings)

    outputs = {
        "sanitize_html": str(ours()),
        "nh3 Cleaner": str(nh3_bare()),
        "bleach Cleaner": str(bleach_reused()),
        "bleach.clean": str(bleach_function()),
    }
    hostile = len(problems_in(markup))
    for label, output in outputs.items():
        found = problems_in(output)
        if found:
            raise SystemExit(
                f"{label} kept {found[:3]} of the {name} document, so its speed would not "
                "compare; the benchmark stops"
            )
    same = "the same" if outputs["sanitize_html"] == outputs["nh3 Cleaner"] else "different"
    plan.checks.append(
        f"{name} document ({len(markup):,} characters; the input has {hostile} script-capable "
        f"tags, handlers or URLs): no contender's output keeps any; sanitize_html and the "
        f"bare nh3 Cleaner return {same} output"
    )

    prefix = f"sanitize/{size}"
    group = [
        Contender(f"{prefix}/jivs", "sanitize_html", ours),
        Contender(f"{prefix}/nh3", "nh3 Cleaner, same settings", nh3_bare),
        Contender(f"{prefix}/bleach-cleaner", "bleach Cleaner, reused", bleach_reused),
        Contender(f"{prefix}/bleach-clean", "bleach.clean", bleach_function),
    ]
    plan.groups.append(group)
    plan.rows += [
        Comparison(name, len(markup), group[0], group[2]),
        Comparison(name, len(markup), group[0], group[3]),
        Comparison(name, len(markup), group[0], group[1]),
    ]


# Reporting.


def summarize(row: Comparison) -> dict[str, Any]:
    ratios = row.ratios()
    lower, _, upper = statistics.quantiles(ratios, n=4, method="inclusive")
    ours_rate = statistics.median(row.ours.rates)
    return {
        "document": row.document,
        "characters": row.size,
        "ours": row.ours.label,
        "peer": row.peer.label,
        "ours_ops_per_s": ours_rate,
        "peer_ops_per_s": statistics.median(row.peer.rates),
        "ours_mb_per_s": ours_rate * row.size / 1e6,
        "ratio": statistics.median(ratios),
        "ratio_quartiles": [lower, upper],
    }


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    headings = ("document", "peer", "ours ops/s", "peer ops/s", "ours MB/s", "ratio", "middle half")
    lines = [
        (
            summary["document"],
            summary["peer"],
            f"{summary['ours_ops_per_s']:,.0f}",
            f"{summary['peer_ops_per_s']:,.0f}",
            f"{summary['ours_mb_per_s']:.1f}",
            f"{summary['ratio']:.2f}x",
            f"{summary['ratio_quartiles'][0]:.2f}-{summary['ratio_quartiles'][1]:.2f}",
        )
        for summary in summaries
    ]
    return render_table(headings, lines, left=2)


def format_targets(summaries: Sequence[dict[str, Any]]) -> str:
    lines = []
    for summary in summaries:
        if not summary["peer"].startswith("bleach"):
            continue
        verdict = "met" if summary["ratio"] >= TARGET_RATIO else "missed"
        lines.append(
            f"target {summary['document']} >= {TARGET_RATIO:.0f}x {summary['peer']}: "
            f"{summary['ratio']:.2f}x, {verdict}"
        )
    return "\n".join(lines)


def report(
    arguments: argparse.Namespace, settings: Settings, plan: Plan, *, elapsed: float
) -> None:
    """Print the table, the checks and the targets, and write JSON if requested."""
    summaries = [summarize(row) for row in plan.rows]
    machine = machine_facts(DISTRIBUTIONS)
    print()
    print(
        f"{settings.rounds} interleaved rounds in {elapsed:.0f} s; ops/s are medians over "
        "rounds, ratio is the median of per-round ours/peer"
    )
    print(
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        + ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    )
    print()
    print(format_table(summaries))
    print()
    print("Checked before timing:")
    for check in plan.checks:
        print(f"  {check}")
    print()
    print(format_targets(summaries))

    if arguments.json is None:
        return
    document_json = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {
            "mode": "quick" if arguments.quick else "full",
            "rounds": settings.rounds,
            "slice_seconds": settings.slice_seconds,
            "seed": SEED,
        },
        "machine": machine,
        "rows": summaries,
        "checks": plan.checks,
        "contenders": {
            contender.key: {
                "label": contender.label,
                "calls_per_batch": contender.calls_per_batch,
                "ops_per_s_by_round": contender.rates,
            }
            for contender in plan.contenders()
        },
    }
    arguments.json.write_text(json.dumps(document_json, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {arguments.json}")


# Running.


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure sanitize_html against bleach and a bare nh3 Cleaner on generated HTML "
            f"documents of about {', '.join(f'{size:,}' for size in SIZES)} characters, "
            "in interleaved rounds."
        )
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"run {QUICK.rounds} rounds of {QUICK.slice_seconds} s per contender instead of "
            f"{FULL.rounds} rounds of {FULL.slice_seconds} s per contender"
        ),
    )
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL

    plan = Plan()
    for size in SIZES:
        add_document(plan, size)

    elapsed = measure(plan.groups, settings)

    report(arguments, settings, plan, elapsed=elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
