"""Detectors on a generated corpus: precision and recall per detector, and the check functions.

The corpus comes from Faker and a seeded random generator, so it contains
no real personal data and is the same on every run. Each positive line
carries one planted value in a log line context; the negative lines carry
values that look alike but must stay readable: timestamps, epoch times,
order numbers, ids, phone numbers, and card numbers, IBANs, SSNs and
NINOs with a wrong check digit or an unassigned range.

A planted value counts as found when one finding of its detector covers
it whole; every other finding of that detector counts as a false positive.
"""

from __future__ import annotations

import base64
import json
import random
import string
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from faker import Faker

from jivs_security.masking import (
    DEFAULT_DETECTORS,
    Masker,
    iban_valid,
    luhn_valid,
    uk_nino_valid,
    us_ssn_valid,
)

SEED = 20261204
PER_DETECTOR = 200
NEGATIVE_LINES = 3000

# Minimum recall per detector. Every planted value has a format that its
# detector documents as supported, so anything below 0.99 is a regression
# in a pattern or a check, not noise.
MIN_RECALL = 0.99

# Minimum precision per detector. The negatives are built to look like the
# real thing, but each fails a documented rule (a check digit, a range, a
# prefix, a missing separator), so a detector that follows its rules finds
# none of them. 0.99 leaves room for a chance collision with random text,
# such as a Faker sentence that happens to be shaped like a token.
MIN_PRECISION = 0.99

BASE62 = string.ascii_letters + string.digits
BASE64URL = BASE62 + "-_"
BASE32 = string.ascii_uppercase + "234567"

# Contexts that no detector reacts to, so a finding in them comes from the
# planted value alone.
CONTEXTS = (
    "2026-12-04T10:15:22.123Z INFO app.payments accepted {} for order ORD-2026-00042",
    "[worker-3] retrying upload with {} (attempt 2 of 5)",
    '{"level":"info","logger":"app.profile","msg":"updated","value":"{}"}',
    "Dec  4 10:15:22 web-1 app[812]: request 7f3a2c value {} done in 42 ms",
    "job=nightly-export status=running item {} next",
)


@dataclass(frozen=True)
class Planted:
    """One line with one value that ``detector`` must find at ``start:end``."""

    detector: str
    line: str
    start: int
    end: int


@dataclass
class Score:
    """Counts for one detector over the whole corpus."""

    planted: int = 0
    found: int = 0
    false_positives: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        flagged = self.found + len(self.false_positives)
        return self.found / flagged if flagged else 1.0


def embed(detector: str, value: str, rng: random.Random, context: str | None = None) -> Planted:
    template = context if context is not None else rng.choice(CONTEXTS)
    before, _, after = template.partition("{}")
    line = before + value + after
    return Planted(detector, line, len(before), len(before) + len(value))


def token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def b64url_json(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def group(digits: str, sizes: tuple[int, ...], separator: str) -> str:
    parts = []
    position = 0
    for size in sizes:
        parts.append(digits[position : position + size])
        position += size
    return separator.join(parts)


# Positive generators: one planted value each.

# Faker's JCB numbers start anywhere in 3500-3599, but the detector follows
# JCB's range (3528-3589), so JCB numbers come from complete_luhn. Faker's
# 13-digit "visa13" numbers are left out, as the detector leaves them out.
CARD_TYPES = ("visa16", "visa19", "mastercard", "amex", "discover", "diners", "jcb")


def complete_luhn(prefix: str, length: int, rng: random.Random) -> str:
    """Return a number of ``length`` digits that starts with ``prefix`` and passes Luhn."""
    body = prefix + token(rng, string.digits, length - len(prefix) - 1)
    return next(body + digit for digit in string.digits if luhn_valid(body + digit))


def card_number(fake: Faker, rng: random.Random) -> str:
    card_type = rng.choice(CARD_TYPES)
    if card_type == "jcb":
        return complete_luhn(str(rng.randrange(3528, 3590)), rng.choice((16, 19)), rng)
    return str(fake.credit_card_number(card_type))


def card_positive(fake: Faker, rng: random.Random) -> Planted:
    number = card_number(fake, rng)
    separator = rng.choice(("", " ", "-"))
    if separator and len(number) == 16:
        number = group(number, (4, 4, 4, 4), separator)
    elif separator and len(number) == 15 and number[:2] in {"34", "37"}:
        number = group(number, (4, 6, 5), separator)
    elif separator and len(number) == 14:
        number = group(number, (4, 6, 4), separator)
    return embed("card", number, rng)


IBAN_LOCALES = (
    *("de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "pl_PL", "pt_PT", "fi_FI", "no_NO"),
    *("en_IE", "de_CH", "de_AT", "cs_CZ", "tr_TR", "ro_RO", "da_DK", "el_GR", "en_GB"),
)


def iban_positive(fake: Faker, rng: random.Random) -> Planted:
    value = Faker(rng.choice(IBAN_LOCALES)).iban()
    if rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return embed("iban", value, rng)


def email_positive(fake: Faker, rng: random.Random) -> Planted:
    value = rng.choice((fake.email, fake.company_email, fake.free_email, fake.ascii_email))()
    return embed("email", value, rng, "2026-12-04 10:15:22 INFO mail sent to {} (queue 3)")


def ssn_positive(fake: Faker, rng: random.Random) -> Planted:
    value = fake.ssn()
    if rng.random() < 0.3:
        value = value.replace("-", " ")
    return embed("us_ssn", value, rng)


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
NINO_UNUSED = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def nino(rng: random.Random, prefix: str | None = None, spaced: bool = False) -> str:
    """Return a NINO with ``prefix``, or with a random allocatable prefix when it is None."""
    while prefix is None:
        drawn = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
        prefix = None if drawn in NINO_UNUSED else drawn
    digits = token(rng, string.digits, 6)
    suffix = rng.choice("ABCD")
    if spaced:
        return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return prefix + digits + suffix


def nino_positive(fake: Faker, rng: random.Random) -> Planted:
    return embed("uk_nino", nino(rng, spaced=rng.random() < 0.5), rng)


def jwt_positive(fake: Faker, rng: random.Random) -> Planted:
    header = {"alg": rng.choice(("HS256", "RS256", "EdDSA")), "typ": "JWT"}
    claims = {
        "sub": fake.uuid4(),
        "name": fake.name(),
        "iat": rng.randrange(1_700_000_000, 1_800_000_000),
    }
    signature = token(rng, BASE64URL, rng.choice((43, 86, 342)))
    return embed("jwt", f"{b64url_json(header)}.{b64url_json(claims)}.{signature}", rng)


def bearer_positive(fake: Faker, rng: random.Random) -> Planted:
    value = token(rng, BASE64URL + ".~+/", rng.randrange(20, 80))
    context = rng.choice(("Authorization: Bearer {}", "upstream rejected Bearer {} with 401"))
    return embed("bearer_token", value, rng, context)


def aws_key_id_positive(fake: Faker, rng: random.Random) -> Planted:
    value = rng.choice(("AKIA", "ASIA")) + token(rng, BASE32, 16)
    return embed("aws_access_key_id", value, rng)


def aws_secret_positive(fake: Faker, rng: random.Random) -> Planted:
    value = token(rng, BASE62 + "/+", 40)
    context = rng.choice(
        ("aws_secret_access_key={}", '{"SecretAccessKey": "{}", "Expiration": "2026-12-04"}')
    )
    return embed("aws_secret_access_key", value, rng, context)


def github_positive(fake: Faker, rng: random.Random) -> Planted:
    if rng.random() < 0.3:
        value = "github_pat_" + token(rng, BASE62, 22) + "_" + token(rng, BASE62, 59)
    else:
        value = rng.choice(("ghp_", "gho_", "ghu_", "ghs_", "ghr_")) + token(rng, BASE62, 36)
    return embed("github_token", value, rng)


def gitlab_positive(fake: Faker, rng: random.Random) -> Planted:
    return embed("gitlab_token", "glpat-" + token(rng, BASE62 + "-_", 20), rng)


def slack_positive(fake: Faker, rng: random.Random) -> Planted:
    kind = rng.choice(("xoxb", "xoxp", "xoxa", "xoxr"))
    digits = token(rng, string.digits, 12)
    value = f"{kind}-{digits}-{token(rng, string.digits, 13)}-{token(rng, BASE62, 24)}"
    return embed("slack_token", value, rng)


def google_positive(fake: Faker, rng: random.Random) -> Planted:
    return embed("google_api_key", "AIza" + token(rng, BASE62 + "-_", 35), rng)


def stripe_positive(fake: Faker, rng: random.Random) -> Planted:
    prefix = rng.choice(("sk_live_", "rk_live_", "sk_test_"))
    return embed("stripe_key", prefix + token(rng, BASE62, rng.randrange(24, 99)), rng)


def private_key_positive(fake: Faker, rng: random.Random) -> Planted:
    choice = rng.randrange(3)
    if choice == 0:
        key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey = (
            ed25519.Ed25519PrivateKey.generate()
        )
        encoded = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    elif choice == 1:
        key = ec.generate_private_key(ec.SECP256R1())
        encoded = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        encoded = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    value = encoded.decode().strip()
    return embed("private_key", value, rng, "loaded signing key:\n{}\nfrom /etc/app/key.pem")


def url_password_positive(fake: Faker, rng: random.Random) -> Planted:
    password = urllib.parse.quote(fake.password(length=rng.randrange(8, 24)), safe="")
    scheme = rng.choice(("postgresql", "mysql", "redis", "amqp", "mongodb+srv"))
    user = fake.user_name()
    before = f"connecting to {scheme}://{user}:"
    after = f"@{fake.hostname()}:5432/{fake.word()} (pool=5)"
    line = before + password + after
    return Planted("url_password", line, len(before), len(before) + len(password))


def key_positive(fake: Faker, rng: random.Random) -> Planted:
    name = rng.choice(("password", "db_password", "api_key", "X-Api-Key", "client_secret"))
    if rng.random() < 0.5:
        password = fake.password(length=rng.randrange(8, 24), special_chars=False)
        context = rng.choice((f"{name}={{}} user=app", f"{name}: {{}}"))
    else:
        password = fake.password(length=rng.randrange(8, 24))
        context = rng.choice((f'{{"{name}": "{{}}", "user": "app"}}', f"{{'{name}': '{{}}'}}"))
    return embed("key", password, rng, context)


POSITIVES: dict[str, Callable[[Faker, random.Random], Planted]] = {
    "card": card_positive,
    "iban": iban_positive,
    "email": email_positive,
    "us_ssn": ssn_positive,
    "uk_nino": nino_positive,
    "jwt": jwt_positive,
    "bearer_token": bearer_positive,
    "aws_access_key_id": aws_key_id_positive,
    "aws_secret_access_key": aws_secret_positive,
    "github_token": github_positive,
    "gitlab_token": gitlab_positive,
    "slack_token": slack_positive,
    "google_api_key": google_positive,
    "stripe_key": stripe_positive,
    "private_key": private_key_positive,
    "url_password": url_password_positive,
    "key": key_positive,
}


# Negative generators: lines in which nothing may be found.


def wrong_check_digit(number: str) -> str:
    """Return ``number`` with its last digit changed so that the Luhn check fails."""
    last = int(number[-1])
    for step in range(1, 10):
        candidate = number[:-1] + str((last + step) % 10)
        if not luhn_valid(candidate):
            return candidate
    raise AssertionError(number)


def negative_values(fake: Faker, rng: random.Random) -> Iterator[str]:
    """Yield values of every look-alike kind, in turn."""
    while True:
        moment = fake.date_time_between("-5y", "+5y")
        yield moment.isoformat(timespec="milliseconds") + "Z"
        yield moment.strftime("%a, %d %b %Y %H:%M:%S +0000")
        yield moment.strftime("%Y%m%d%H%M%S")
        yield str(int(moment.timestamp()))
        yield str(int(moment.timestamp() * 1000))
        yield str(int(moment.timestamp() * 1_000_000))
        yield str(int(moment.timestamp() * 1_000_000_000))
        yield f"ORD-{moment.year}-{rng.randrange(10**6):06d}"
        yield str(rng.randrange(10**8, 10**12))
        yield f"order_id={rng.randrange(10**9, 10**13)}"
        yield f"invoice {moment:%Y%m%d}{rng.randrange(10**5):05d}"
        yield fake.uuid4()
        yield fake.sha1()
        yield fake.ipv4()
        yield fake.ipv6()
        yield fake.mac_address()
        yield fake.phone_number()
        yield fake.msisdn()
        yield f"{rng.randrange(1, 10_000)}.{rng.randrange(100):02d} EUR"
        yield fake.uri()
        yield fake.file_path(depth=3)
        yield fake.user_agent()
        yield fake.sentence(nb_words=12)
        yield "uses bearer authentication for the admin API"
        yield "password reset requested; token expired after 15 minutes"
        yield f"https://{fake.hostname()}:8443/api/v1/items?page={rng.randrange(9)}"
        yield f"{fake.user_name()}@localhost"
        yield wrong_check_digit(card_number(fake, rng))
        yield iban_with_wrong_check_digits(rng)
        yield invalid_ssn(rng)
        yield nino(rng, prefix=rng.choice(NINO_UNUSED))
        yield "AKIA" + token(rng, BASE32, 12)
        yield "ghp_" + token(rng, BASE62, 20)
        yield f"v{rng.randrange(10)}.{rng.randrange(30)}.{rng.randrange(100)}"


def iban_with_wrong_check_digits(rng: random.Random) -> str:
    value = Faker(rng.choice(IBAN_LOCALES)).iban()
    check = int(value[2:4])
    return f"{value[:2]}{(check + rng.randrange(1, 97)) % 97:02d}{value[4:]}"


def invalid_ssn(rng: random.Random) -> str:
    area = rng.choice(("000", "666", str(rng.randrange(900, 1000))))
    serial = f"{rng.randrange(1, 10_000):04d}"
    shapes = (
        f"{area}-{rng.randrange(1, 100):02d}-{serial}",
        f"{rng.randrange(1, 900):03d}-00-{serial}",
        f"{rng.randrange(1, 900):03d}-{rng.randrange(1, 100):02d}-0000",
        f"{rng.randrange(1, 900):03d}{rng.randrange(1, 100):02d}{serial}",
    )
    return rng.choice(shapes)


def build_corpus() -> tuple[list[Planted], list[str]]:
    Faker.seed(SEED)
    fake = Faker("en_US")
    rng = random.Random(SEED)
    planted = [generate(fake, rng) for generate in POSITIVES.values() for _ in range(PER_DETECTOR)]
    values = negative_values(fake, rng)
    negatives = [rng.choice(CONTEXTS).replace("{}", next(values)) for _ in range(NEGATIVE_LINES)]
    return planted, negatives


def measure(masker: Masker) -> dict[str, Score]:
    """Score every detector on the corpus."""
    planted, negatives = build_corpus()
    scores = {name: Score() for name in POSITIVES}
    lines: list[tuple[str, Planted | None]] = [(item.line, item) for item in planted]
    lines += [(line, None) for line in negatives]
    for line, expected in lines:
        if expected is not None:
            scores[expected.detector].planted += 1
        for finding in masker.find(line):
            score = scores.setdefault(finding.detector, Score())
            covers = (
                expected is not None
                and finding.detector == expected.detector
                and finding.start <= expected.start
                and finding.end >= expected.end
            )
            if covers:
                score.found += 1
            else:
                score.false_positives.append(line[finding.start : finding.end])
    return scores


@pytest.fixture(scope="module")
def scores() -> dict[str, Score]:
    return measure(Masker())


@pytest.mark.parametrize("detector", sorted(POSITIVES))
def test_recall_meets_minimum(scores: dict[str, Score], detector: str) -> None:
    """Each detector finds at least 99% of the values planted for it."""
    score = scores[detector]

    assert score.recall >= MIN_RECALL, f"{detector}: {score.found}/{score.planted}"


@pytest.mark.parametrize("detector", sorted(POSITIVES))
def test_precision_meets_minimum(scores: dict[str, Score], detector: str) -> None:
    """At least 99% of each detector's findings are values planted for it."""
    score = scores[detector]

    assert score.precision >= MIN_PRECISION, score.false_positives[:5]


def test_corpus_plants_every_default() -> None:
    """The corpus plants values for every default detector and the key detector."""
    names = {detector.name for detector in DEFAULT_DETECTORS} | {"key"}

    assert names == set(POSITIVES)


# The check functions, on known values.


@pytest.mark.parametrize(
    ("number", "expected"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True)],
)
def test_luhn_known_values(number: str, expected: bool) -> None:
    """The Luhn check accepts the published test numbers and rejects a changed digit."""
    assert luhn_valid(number) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("DE89370400440532013000", True),
        ("DE89370400440532013001", False),
        ("DE8937040044053201300", False),
        ("XX89370400440532013000", False),
    ],
)
def test_iban_known_values(value: str, expected: bool) -> None:
    """The IBAN check wants the country's length and a mod-97 remainder of 1."""
    assert iban_valid(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123-45-6789", True),
        ("000-45-6789", False),
        ("666-45-6789", False),
        ("900-45-6789", False),
        ("123-00-6789", False),
        ("123-45-0000", False),
        ("123-45 6789", False),
    ],
)
def test_ssn_ranges(value: str, expected: bool) -> None:
    """SSNs in ranges the SSA never assigns, or with mixed separators, are rejected."""
    assert us_ssn_valid(value) is expected


@pytest.mark.parametrize("prefix", NINO_UNUSED)
def test_nino_unused_prefixes(prefix: str) -> None:
    """NINO prefixes that HMRC does not allocate are rejected."""
    assert not uk_nino_valid(f"{prefix}123456A")


def test_nino_allocated_prefix() -> None:
    """A NINO with an allocatable prefix is accepted."""
    assert uk_nino_valid("AB123456C")
