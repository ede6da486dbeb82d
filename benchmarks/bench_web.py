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
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import bleach  # type: ignore[import-untyped]  # bleach 6.4.0 ships no type information
import harness
import nh3
from bleach.sanitizer import Cleaner as BleachCleaner  # type: ignore[import-untyped]
from harness import (
    Comparison,
    Plan,
    Settings,
    add_json_option,
    add_quick_option,
    format_checks,
    format_run,
    machine_facts,
    measure,
    print_sections,
    render_table,
    settings_as_json,
    write_json,
)

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


@dataclass
class Contender(harness.Contender):
    """One sanitizer on one document, and its calls per second in each round."""

    characters_per_call: int


def add_document(plan: Plan[Contender], size: int) -> None:
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
    characters = len(markup)
    group = [
        Contender(f"{prefix}/jivs", "sanitize_html", ours, characters),
        Contender(f"{prefix}/nh3", "nh3 Cleaner, same settings", nh3_bare, characters),
        Contender(f"{prefix}/bleach-cleaner", "bleach Cleaner, reused", bleach_reused, characters),
        Contender(f"{prefix}/bleach-clean", "bleach.clean", bleach_function, characters),
    ]
    plan.groups.append(group)
    plan.rows += [
        Comparison(name, group[0], group[2]),
        Comparison(name, group[0], group[3]),
        Comparison(name, group[0], group[1]),
    ]


# Reporting.


def summarize(row: Comparison[Contender]) -> dict[str, Any]:
    """Return the shared row summary with the document's size and ours MB/s added.

    The dict is rebuilt key by key because the JSON rows name the operation
    ``document``, list ``characters`` second and put ``ours_mb_per_s`` before
    the ratio.
    """
    shared = harness.summarize(row, "ops")
    characters = row.ours.characters_per_call
    return {
        "document": shared["operation"],
        "characters": characters,
        "ours": shared["ours"],
        "peer": shared["peer"],
        "ours_ops_per_s": shared["ours_ops_per_s"],
        "peer_ops_per_s": shared["peer_ops_per_s"],
        "ours_mb_per_s": shared["ours_ops_per_s"] * characters / 1e6,
        "ratio": shared["ratio"],
        "ratio_quartiles": shared["ratio_quartiles"],
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
    arguments: argparse.Namespace, settings: Settings, plan: Plan[Contender], *, elapsed: float
) -> None:
    """Print the table, the checks and the targets, and write JSON if requested."""
    summaries = [summarize(row) for row in plan.rows]
    machine = machine_facts(DISTRIBUTIONS)
    print_sections(
        format_run(settings, elapsed, "ops/s", machine),
        format_table(summaries),
        format_checks(plan.checks),
        format_targets(summaries),
    )

    if arguments.json is None:
        return
    results = {
        "settings": {**settings_as_json(settings, quick=arguments.quick), "seed": SEED},
        "machine": machine,
        "rows": summaries,
        "checks": plan.checks,
        "contenders": plan.contenders_as_json("ops"),
    }
    write_json(arguments.json, results)


# Running.


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure sanitize_html against bleach and a bare nh3 Cleaner on generated HTML "
            f"documents of about {', '.join(f'{size:,}' for size in SIZES)} characters, "
            "in interleaved rounds."
        )
    )
    add_quick_option(parser, QUICK, FULL)
    add_json_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL

    plan: Plan[Contender] = Plan()
    for size in SIZES:
        add_document(plan, size)

    elapsed = measure(plan.groups, settings)

    report(arguments, settings, plan, elapsed=elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
