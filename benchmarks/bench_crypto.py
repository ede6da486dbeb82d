"""Compare EnvelopeCipher with the AWS Encryption SDK and Tink, in interleaved rounds.

Run from the repository root::

    python benchmarks/bench_crypto.py [--quick] [--gib] [--json PATH]

Each round times every contender for about the same slice of time, in an
order that rotates from round to round, so load from other processes on a
shared machine falls on all contenders alike. A row's ratio is the median
over rounds of ours divided by the peer, both measured in the same round.

Besides throughput, the script runs every stream contender once more in a
child process of its own to read its peak resident set size, and it counts
the key-service calls that 1,000 messages cost with and without data-key
caching. benchmarks/README.md describes each row, and crypto_contenders.py
defines the contenders.

Streams are 32 MiB, or 1 GiB with ``--gib``. Their ciphertexts are written
to files in a new temporary directory, which is deleted at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import harness
from crypto_contenders import (
    COMMITTING,
    CONTEXT,
    CONTEXT_BYTES,
    GIB,
    KIB,
    MESSAGE_BYTES,
    MIB,
    PATTERN_BYTES,
    STREAM_SPECS,
    STREAM_SPECS_BY_NAME,
    CountingProvider,
    Keys,
    MessageCodec,
    NullSink,
    PatternSource,
    StreamCodec,
    StreamFacts,
    ciphertext_path,
    counting_master_key,
    message_codecs,
    new_data_key_cache,
    pattern_digest,
    prepare_stream,
    register_tink,
    sdk_caching_cmm,
    sdk_client,
)
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from harness import Comparison, format_comparisons, measure, render_table

from jivs_security.crypto._cipher import EnvelopeCipher

COUNTED_MESSAGES = 1000

# Targets, as ratios of ours to the peer.
TARGET_STREAM_OVER_BEST_SDK = 5.0
TARGET_CACHED_MESSAGE_OVER_SDK = 10.0
TARGET_STREAM_OVER_RAW_AES_GCM = 0.5

BEST_SDK_LABEL = "best SDK stream of each round"


@dataclass(frozen=True)
class Settings:
    """Measurement lengths: rounds, seconds per contender per round, and the stream size."""

    rounds: int
    slice_seconds: float
    stream_bytes: int


# A round takes about slice x 38 contenders, longer where one stream call
# outlasts the slice. On a shared 2-core machine a full run took 2 min 19 s
# under load from other processes, and a quick one 19 to 24 s, set-up and
# child processes included.
FULL = Settings(rounds=12, slice_seconds=0.2, stream_bytes=32 * MIB)
QUICK = Settings(rounds=4, slice_seconds=0.05, stream_bytes=32 * MIB)
# A 1 GiB stream takes seconds per call for the slower contenders, so --gib
# runs at most this many rounds.
GIB_MAX_ROUNDS = 3


# Measuring.


@dataclass
class Contender(harness.Contender):
    """One measured operation, the bytes that one call handles, and its calls/s in each round."""

    bytes_per_call: int = 0

    def mib_per_s(self) -> list[float]:
        return [rate * self.bytes_per_call / MIB for rate in self.rates]


# Peak memory, in child processes.

# Linux keeps a process's ru_maxrss across exec, and a child started with
# fork or vfork begins with its parent's peak. So each child is started from
# this small launcher instead of from the benchmark, whose peak is larger.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


@dataclass(frozen=True)
class PeakMemory:
    """Resident set sizes of one stream contender in a child process of its own, in KiB.

    ``peak_kib`` is the child's ru_maxrss over its whole life, imports
    included. ``stream_peak_kib`` is the peak while the stream ran, from
    VmHWM after the peak was reset at the stream's start, and ``start_kib``
    the resident size at that start. ``stream_peak_kib`` is ``None`` where
    the kernel does not allow the reset.
    """

    name: str
    direction: str
    peak_kib: int
    start_kib: int
    stream_peak_kib: int | None


def peak_rss_kib() -> int:
    # ru_maxrss is in KiB on Linux, the platform these figures come from.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_status_kib() -> dict[str, int]:
    """Return VmRSS and VmHWM of this process from /proc/self/status, in KiB."""
    figures = {}
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current resident size (Linux 4.0 and later); return whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def run_child(name: str, direction: str, directory: Path, stream_bytes: int) -> dict[str, Any]:
    """Run one stream in this process, as a child of the benchmark, and return its RSS figures."""
    register_tink()
    keys = Keys.load(directory)
    codec = STREAM_SPECS_BY_NAME[name].build(keys)
    block = os.urandom(PATTERN_BYTES)
    sink = NullSink()
    gc.collect()
    reset = reset_peak_rss()
    start = memory_status_kib()["VmRSS"]
    if direction == "encrypt":
        codec.encrypt(PatternSource(stream_bytes, block), sink)
    else:
        with ciphertext_path(directory, name).open("rb") as file:
            codec.decrypt(file, sink)
    # Ciphertext is longer than the stream by its overhead, plaintext exactly as long.
    if sink.written < stream_bytes or (direction == "decrypt" and sink.written != stream_bytes):
        raise RuntimeError(f"{name} {direction}: {sink.written} bytes came out of {stream_bytes}")
    return {
        "peak_kib": peak_rss_kib(),
        "start_kib": start,
        "stream_peak_kib": memory_status_kib()["VmHWM"] if reset else None,
    }


def measure_peak_memory(directory: Path, stream_bytes: int) -> list[PeakMemory]:
    """Run every stream contender in each direction in a child process, two at a time."""

    def measure(name: str, direction: str) -> PeakMemory:
        command = [
            sys.executable,
            "-c",
            LAUNCHER,
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            name,
            direction,
            str(directory),
            str(stream_bytes),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(
                f"the child process for {name} {direction} failed with exit code "
                f"{completed.returncode}:\n{completed.stderr}"
            )
        figures = json.loads(completed.stdout.strip().splitlines()[-1])
        return PeakMemory(name, direction, **figures)

    jobs = [(spec.name, direction) for spec in STREAM_SPECS for direction in ("encrypt", "decrypt")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: measure(*job), jobs))


# Key-service calls.


@dataclass(frozen=True)
class KeyCallCount:
    """Key-service calls that ``messages`` 1 KiB messages cost one library."""

    library: str
    direction: str
    messages: int
    calls: dict[str, int]


def count_key_calls(keys: Keys, message: bytes) -> list[KeyCallCount]:
    """Encrypt distinct messages, then decrypt them all as a new reader with its own cache.

    Each library runs with data-key caching on and off. The reader is a new
    cipher or materials manager, as another process would be, so its cache
    starts empty.
    """
    counts = []
    for cached in (True, False):
        writer = CountingProvider(keys.provider)
        reader = CountingProvider(keys.provider)
        writer_cipher = EnvelopeCipher(writer, cache=new_data_key_cache() if cached else None)
        reader_cipher = EnvelopeCipher(reader, cache=new_data_key_cache() if cached else None)
        blobs = [writer_cipher.encrypt(message, context=CONTEXT) for _ in range(COUNTED_MESSAGES)]
        for blob in blobs:
            reader_cipher.decrypt(blob, context=CONTEXT)
        name = "EnvelopeCipher, DataKeyCache" if cached else "EnvelopeCipher, no cache"
        counts += [
            KeyCallCount(name, "encrypt", COUNTED_MESSAGES, dict(writer.calls)),
            KeyCallCount(name, "decrypt", COUNTED_MESSAGES, dict(reader.calls)),
        ]

    client = sdk_client()
    for cached in (True, False):
        writer_key = counting_master_key(keys.sdk_kek)
        reader_key = counting_master_key(keys.sdk_kek)
        if cached:
            writer_material = {"materials_manager": sdk_caching_cmm(writer_key)}
            reader_material = {"materials_manager": sdk_caching_cmm(reader_key)}
        else:
            writer_material = {"key_provider": writer_key}
            reader_material = {"key_provider": reader_key}
        sdk_blobs = [
            client.encrypt(
                source=message, encryption_context=CONTEXT, algorithm=COMMITTING, **writer_material
            )[0]
            for _ in range(COUNTED_MESSAGES)
        ]
        for blob in sdk_blobs:
            client.decrypt(source=blob, **reader_material)
        name = "SDK committing suite" + (", caching CMM" if cached else ", no cache")
        counts += [
            KeyCallCount(name, "encrypt", COUNTED_MESSAGES, dict(writer_key.calls)),
            KeyCallCount(name, "decrypt", COUNTED_MESSAGES, dict(reader_key.calls)),
        ]
    return counts


# The plan: contenders, groups and rows.


@dataclass
class Plan:
    """The contender groups to time and the rows that compare them."""

    groups: list[list[Contender]] = field(default_factory=list)
    message_rows: list[Comparison[Contender]] = field(default_factory=list)
    stream_rows: list[Comparison[Contender]] = field(default_factory=list)
    reference_rows: list[Comparison[Contender]] = field(default_factory=list)
    # Contenders computed from others after the rounds: each takes, round by
    # round, the best rate among its sources.
    derived: list[tuple[Contender, list[Contender]]] = field(default_factory=list)
    by_key: dict[str, Contender] = field(default_factory=dict)

    def add_group(self, contenders: list[Contender]) -> None:
        self.groups.append(contenders)
        self.by_key.update((contender.key, contender) for contender in contenders)

    def contenders(self) -> list[Contender]:
        return [contender for group in self.groups for contender in group]

    def fill_derived(self) -> None:
        for contender, sources in self.derived:
            contender.rates = [
                max(rates) for rates in zip(*(source.rates for source in sources), strict=True)
            ]


def plan_messages(plan: Plan, codecs: Sequence[MessageCodec]) -> None:
    for direction in ("encrypt", "decrypt"):
        group = [
            Contender(f"message/{direction}/{codec.name}", codec.label, getattr(codec, direction))
            for codec in codecs
        ]
        plan.add_group(group)

        def row(
            operation: str, ours: str, peer: str, direction: str = direction
        ) -> Comparison[Contender]:
            return Comparison(
                operation,
                plan.by_key[f"message/{direction}/{ours}"],
                plan.by_key[f"message/{direction}/{peer}"],
            )

        uncached = f"{direction} 1 KiB, no cache"
        cached = f"{direction} 1 KiB, cached"
        plan.message_rows += [
            row(uncached, "jivs", "sdk-commit"),
            row(uncached, "jivs", "sdk-signed"),
            row(uncached, "jivs", "tink-aead"),
            row(uncached, "jivs", "tink-stream-4kb"),
            row(uncached, "jivs", "tink-stream-1mb"),
            row(cached, "jivs-cached", "sdk-commit-cached"),
            row(cached, "jivs-cached", "sdk-signed-cached"),
            row(cached, "jivs-cached", "jivs"),
        ]


def stream_runner(
    codec: StreamCodec, direction: str, path: Path, *, size: int, block: bytes
) -> Callable[[], object]:
    """Return a call that encrypts a pattern stream, or decrypts the ciphertext file at ``path``."""
    if direction == "encrypt":

        def encrypt() -> object:
            sink = NullSink()
            codec.encrypt(PatternSource(size, block), sink)
            return sink.written

        return encrypt

    def decrypt() -> object:
        sink = NullSink()
        with path.open("rb") as file:
            codec.decrypt(file, sink)
        return sink.written

    return decrypt


def plan_streams(
    plan: Plan, codecs: Mapping[str, StreamCodec], directory: Path, size: int, block: bytes
) -> None:
    for direction in ("encrypt", "decrypt"):
        group = [
            Contender(
                f"stream/{direction}/{spec.name}",
                spec.label,
                stream_runner(
                    codecs[spec.name],
                    direction,
                    ciphertext_path(directory, spec.name),
                    size=size,
                    block=block,
                ),
                bytes_per_call=size,
            )
            for spec in STREAM_SPECS
        ]
        plan.add_group(group)
        by_name = dict(zip((spec.name for spec in STREAM_SPECS), group, strict=True))

        # The best SDK contender's rates are filled in after the rounds.
        sdk = [by_name[spec.name] for spec in STREAM_SPECS if spec.sdk]
        best_sdk = Contender(
            f"stream/{direction}/sdk-best",
            BEST_SDK_LABEL,
            run=lambda: None,
            bytes_per_call=size,
        )
        plan.derived.append((best_sdk, sdk))

        ours = by_name["jivs-64k"]
        operation = f"{direction} stream, 64 KiB"
        plan.stream_rows += [Comparison(operation, ours, peer) for peer in sdk]
        plan.stream_rows += [
            Comparison(operation, ours, best_sdk),
            Comparison(operation, ours, by_name["tink-4kb"]),
            Comparison(operation, ours, by_name["tink-1mb"]),
            Comparison(operation, ours, by_name["aes-gcm-64k"]),
            Comparison(f"{direction} stream, 1 MiB", by_name["jivs-1m"], by_name["sdk-commit-1m"]),
            Comparison(f"{direction} stream, 1 MiB", by_name["jivs-1m"], by_name["aes-gcm-64k"]),
        ]
        # How far raw AES-GCM itself is ahead of the SDK: an upper bound for
        # the ratio that any AES-GCM stream can reach against the SDK.
        plan.reference_rows.append(
            Comparison(f"{direction} stream, raw AES-GCM", by_name["aes-gcm-64k"], best_sdk)
        )


# Reporting.


def cpu_flags() -> list[str]:
    """Return the CPU flags that decide AES-GCM speed, as /proc/cpuinfo lists them."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return []
    flag_lines = [line for line in cpuinfo.splitlines() if line.startswith("flags")]
    present = set(flag_lines[0].split(":", 1)[1].split()) if flag_lines else set()
    wanted = ("aes", "pclmulqdq", "vaes", "vpclmulqdq", "avx2", "avx512f", "sha_ni")
    return [flag for flag in wanted if flag in present]


def machine_facts() -> dict[str, Any]:
    facts = harness.machine_facts(
        ("jivs", "cryptography", "aws-encryption-sdk", "tink", "protobuf")
    )
    return {
        "nproc": facts["nproc"],
        "cpu_model": facts["cpu_model"],
        "cpu_flags": cpu_flags(),
        "python": facts["python"],
        "implementation": facts["implementation"],
        "platform": facts["platform"],
        "openssl": openssl_backend.openssl_version_text(),
        "versions": facts["versions"],
    }


def summarize(row: Comparison[Contender]) -> dict[str, Any]:
    summary = harness.summarize(row, "ops")
    if row.ours.bytes_per_call:
        summary["ours_mib_per_s"] = statistics.median(row.ours.mib_per_s())
        summary["peer_mib_per_s"] = statistics.median(row.peer.mib_per_s())
    return summary


def format_stream_facts(facts: Sequence[StreamFacts], memory: Sequence[PeakMemory]) -> str:
    peaks = {(entry.name, entry.direction): entry for entry in memory}
    headings = (
        "stream contender",
        "overhead bytes",
        "encrypt peak MiB",
        "stream +MiB",
        "decrypt peak MiB",
        "stream +MiB",
    )
    lines = []
    for fact in facts:
        cells = [fact.label, f"{fact.overhead_bytes:,}"]
        for direction in ("encrypt", "decrypt"):
            entry = peaks[(fact.name, direction)]
            growth = (
                "n/a"
                if entry.stream_peak_kib is None
                else f"{(entry.stream_peak_kib - entry.start_kib) / KIB:.1f}"
            )
            cells += [f"{entry.peak_kib / KIB:.1f}", growth]
        lines.append(cells)
    return render_table(headings, lines, left=1)


def format_key_calls(counts: Sequence[KeyCallCount]) -> str:
    headings = ("library", "direction", "generate", "wrap", "unwrap")
    lines = [
        (
            count.library,
            f"{count.direction} {count.messages:,} messages",
            str(count.calls.get("generate", 0)),
            str(count.calls.get("wrap", 0)),
            str(count.calls.get("unwrap", 0)),
        )
        for count in counts
    ]
    return render_table(headings, lines, left=2)


def find_summary(summaries: Sequence[dict[str, Any]], operation: str, peer: str) -> dict[str, Any]:
    for summary in summaries:
        if summary["operation"] == operation and summary["peer"] == peer:
            return summary
    raise KeyError(f"no row {operation!r} against {peer!r}")


def target_verdicts(
    message_summaries: Sequence[dict[str, Any]],
    stream_summaries: Sequence[dict[str, Any]],
    reference_summaries: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Compare the rows that the targets name with the target ratios."""
    verdicts = []

    def add(target: str, summary: dict[str, Any], required: float, **notes: float) -> None:
        verdicts.append(
            {
                "target": target,
                "ratio": summary["ratio"],
                "ratio_quartiles": summary["ratio_quartiles"],
                "required": required,
                "met": summary["ratio"] >= required,
                **notes,
            }
        )

    for direction in ("encrypt", "decrypt"):
        stream = f"{direction} stream, 64 KiB"
        ceiling = find_summary(
            reference_summaries, f"{direction} stream, raw AES-GCM", BEST_SDK_LABEL
        )
        add(
            f"{direction} stream >= {TARGET_STREAM_OVER_BEST_SDK:g}x the best SDK stream",
            find_summary(stream_summaries, stream, BEST_SDK_LABEL),
            TARGET_STREAM_OVER_BEST_SDK,
            raw_aes_gcm_over_best_sdk=ceiling["ratio"],
        )
        add(
            f"{direction} 1 KiB cached >= {TARGET_CACHED_MESSAGE_OVER_SDK:g}x the SDK "
            "committing suite with its caching CMM",
            find_summary(
                message_summaries,
                f"{direction} 1 KiB, cached",
                "SDK committing suite, caching CMM",
            ),
            TARGET_CACHED_MESSAGE_OVER_SDK,
        )
        add(
            f"{direction} stream >= {TARGET_STREAM_OVER_RAW_AES_GCM:g}x raw AES-GCM",
            find_summary(stream_summaries, stream, "raw AESGCM, 64 KiB segments"),
            TARGET_STREAM_OVER_RAW_AES_GCM,
        )
    return verdicts


def format_targets(verdicts: Sequence[dict[str, Any]]) -> str:
    lines = []
    for verdict in verdicts:
        quartiles = verdict["ratio_quartiles"]
        lines.append(
            f"target {verdict['target']}: {verdict['ratio']:.2f}x "
            f"(middle half {quartiles[0]:.2f}-{quartiles[1]:.2f}), "
            f"{'met' if verdict['met'] else 'not met'}"
        )
        ceiling = verdict.get("raw_aes_gcm_over_best_sdk")
        if ceiling is not None:
            lines.append(
                f"  raw AES-GCM itself runs at {ceiling:.2f}x the best SDK stream, the most "
                "that any AES-GCM stream can reach against it here"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class Results:
    """Everything one run measured, for the printed report and the JSON file."""

    settings: Settings
    plan: Plan
    stream_facts: list[StreamFacts]
    memory: list[PeakMemory]
    key_calls: list[KeyCallCount]
    elapsed: float


def report(arguments: argparse.Namespace, results: Results) -> None:
    """Print the tables and the target verdicts, and write JSON if requested."""
    settings = results.settings
    message_summaries = [summarize(row) for row in results.plan.message_rows]
    stream_summaries = [summarize(row) for row in results.plan.stream_rows]
    reference_summaries = [summarize(row) for row in results.plan.reference_rows]
    verdicts = target_verdicts(message_summaries, stream_summaries, reference_summaries)
    machine = machine_facts()
    stream_size = format_size(settings.stream_bytes)

    print()
    print(
        f"{settings.rounds} interleaved rounds in {results.elapsed:.0f} s; rates are medians "
        "over rounds, ratio is the median of per-round ours/peer"
    )
    print(
        f"{machine['nproc']} CPUs ({machine['cpu_model']}; {' '.join(machine['cpu_flags'])}), "
        f"Python {machine['python']}, {machine['openssl']}, "
        + ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    )
    print()
    print(f"1 KiB messages, encryption context of {len(CONTEXT_BYTES)} bytes:")
    print(format_comparisons(message_summaries, "ops/s", "ops_per_s"))
    print()
    print(f"{stream_size} streams to a null sink; MiB/s of plaintext:")
    print(format_comparisons(stream_summaries, "MiB/s", "mib_per_s"))
    print()
    print(
        f"Ciphertext overhead and peak RSS of one {stream_size} stream, each in a child "
        "process of its own:"
    )
    print(format_stream_facts(results.stream_facts, results.memory))
    print()
    print("Key-service calls; each reader is a new cipher or materials manager:")
    print(format_key_calls(results.key_calls))
    print()
    print(format_targets(verdicts))

    if arguments.json is None:
        return
    document = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"mode": "quick" if arguments.quick else "full", **asdict(settings)},
        "machine": machine,
        "message_rows": message_summaries,
        "stream_rows": stream_summaries,
        "reference_rows": reference_summaries,
        "stream_facts": [asdict(fact) for fact in results.stream_facts],
        "peak_memory": [asdict(entry) for entry in results.memory],
        "key_calls": [asdict(count) for count in results.key_calls],
        "targets": verdicts,
        "contenders": {
            contender.key: {
                "label": contender.label,
                "bytes_per_call": contender.bytes_per_call,
                "calls_per_batch": contender.calls_per_batch,
                "calls_per_s_by_round": contender.rates,
            }
            for contender in [
                *results.plan.contenders(),
                *(derived for derived, _ in results.plan.derived),
            ]
        },
    }
    arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {arguments.json}")


def format_size(size: int) -> str:
    return f"{size // GIB} GiB" if size >= GIB else f"{size // MIB} MiB"


# Running.


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure EnvelopeCipher message and stream throughput against the AWS Encryption "
            "SDK, Tink and raw AES-GCM in interleaved rounds, the peak memory of each stream, "
            "and the key-service calls that data-key caching saves."
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
        "--gib",
        action="store_true",
        help=(
            f"stream 1 GiB instead of {format_size(FULL.stream_bytes)}, in at most "
            f"{GIB_MAX_ROUNDS} rounds (about 4 minutes on 2 cores); the ciphertext files need "
            f"about {len(STREAM_SPECS)} GiB in the temporary directory (set TMPDIR to choose it)"
        ),
    )
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH"
    )
    # Used by the script itself to measure one stream's peak memory.
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def settings_for(arguments: argparse.Namespace) -> Settings:
    settings = QUICK if arguments.quick else FULL
    if arguments.gib:
        settings = replace(settings, stream_bytes=GIB, rounds=min(settings.rounds, GIB_MAX_ROUNDS))
    return settings


@contextmanager
def work_directory(stream_bytes: int) -> Iterator[Path]:
    """Yield a new private temporary directory with room for every ciphertext file."""
    with tempfile.TemporaryDirectory(prefix="jivs-bench-crypto-") as name:
        directory = Path(name)
        # Each ciphertext is the stream plus under 1% of overhead.
        needed = len(STREAM_SPECS) * stream_bytes * 101 // 100
        free = shutil.disk_usage(directory).free
        if free < needed:
            raise SystemExit(
                f"{directory} has {free // MIB:,} MiB free, but the ciphertext files need "
                f"{needed // MIB:,} MiB. Set TMPDIR to a directory with more room"
            )
        yield directory


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.child is not None:
        name, direction, directory, stream_bytes = arguments.child
        print(json.dumps(run_child(name, direction, Path(directory), int(stream_bytes))))
        return 0

    settings = settings_for(arguments)
    register_tink()
    message = os.urandom(MESSAGE_BYTES)
    block = os.urandom(PATTERN_BYTES)

    with work_directory(settings.stream_bytes) as directory:
        print(f"preparing keys and ciphertext files in {directory}", file=sys.stderr)
        keys = Keys.create(directory)
        plan = Plan()
        plan_messages(plan, message_codecs(keys, message))

        expected = pattern_digest(settings.stream_bytes, block)
        stream_codecs = {spec.name: spec.build(keys) for spec in STREAM_SPECS}
        stream_facts = [
            prepare_stream(
                spec,
                stream_codecs[spec.name],
                directory,
                size=settings.stream_bytes,
                block=block,
                expected_digest=expected,
            )
            for spec in STREAM_SPECS
        ]
        plan_streams(plan, stream_codecs, directory, settings.stream_bytes, block)

        elapsed = measure(plan.groups, settings)
        plan.fill_derived()

        print("measuring peak memory in child processes", file=sys.stderr)
        memory = measure_peak_memory(directory, settings.stream_bytes)
        key_calls = count_key_calls(keys, message)

    report(arguments, Results(settings, plan, stream_facts, memory, key_calls, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
