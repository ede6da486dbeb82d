"""Masker: masking text by pattern, mappings by key, styles, limits and configuration errors."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Any

import pytest

from jivs_security.errors import ConfigurationError
from jivs_security.masking import (
    DEFAULT_DETECTORS,
    Detector,
    KeepLast,
    KeyedHash,
    Masker,
    Redact,
    normalise_key,
)

CARD = "4111 1111 1111 1111"
HASH_KEY = bytes(range(32))


@pytest.fixture
def masker() -> Masker:
    return Masker()


# Text.


def test_card_in_text_redacted(masker: Masker) -> None:
    """A card number in a sentence is replaced by a labelled placeholder."""
    masked = masker.mask_text(f"charged card {CARD} for 12.50 EUR")

    assert masked == "charged card [REDACTED:card] for 12.50 EUR"


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04T10:15:22.123456Z request done",
        "ts=1764843322 ms=1764843322123 us=1764843322123456 ns=1764843322123456789",
        "20261204101522 order ORD-2026-000123 order_id=4000123412",
        "invoice 2026120400123 shipped, tracking 9400111899223100001234",
        "order 4111111111111112 (check digit wrong)",
        "amount=1234567890123.45 id=123456789012",
    ],
)
def test_timestamps_and_order_numbers_kept(masker: Masker, text: str) -> None:
    """Timestamps, epoch times and order numbers are not taken for card numbers."""
    assert masker.mask_text(text) == text


def test_card_after_year_found(masker: Masker) -> None:
    """A card right after a four-digit number is still found, though the two look like one."""
    masked = masker.mask_text(f"1225 {CARD}")

    assert masked == "1225 [REDACTED:card]"


def test_adjacent_cards_both_found(masker: Masker) -> None:
    """Two card numbers separated by one comma are both masked."""
    masked = masker.mask_text("4111111111111111,5500000000000004")

    assert masked == "[REDACTED:card],[REDACTED:card]"


def test_card_between_non_ascii_text(masker: Masker) -> None:
    """Masking keeps the non-ASCII text around a value intact."""
    masked = masker.mask_text(f"Zahlung über {CARD} für Jürgen")

    assert masked == "Zahlung über [REDACTED:card] für Jürgen"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 user=bob", "password=[REDACTED:key] user=bob"),
        (
            '{"db_password": "a b,c", "user": "bob"}',
            '{"db_password": "[REDACTED:key]", "user": "bob"}',
        ),
        ("{'api_key': 'k-1', 'n': 1}", "{'api_key': '[REDACTED:key]', 'n': 1}"),
        ('{\\"token\\": \\"t1\\"}', '{\\"token\\": \\"[REDACTED:key]\\"}'),
        ("X-Api-Key: abc123 next", "X-Api-Key: [REDACTED:key] next"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED:key]"),
        ("Cookie: sid=abc; csrf=def next", "Cookie: [REDACTED:key] next"),
        ("Password=x;Host=db", "Password=[REDACTED:key];Host=db"),
    ],
)
def test_key_value_text_masked(masker: Masker, text: str, expected: str) -> None:
    """Values after a sensitive key are masked in key=value, JSON, repr and header text."""
    assert masker.mask_text(text) == expected


def test_unterminated_quote_masked_to_end(masker: Masker) -> None:
    """A quoted value without its closing quote is masked to the end of the line."""
    masked = masker.mask_text('password="never closed, still secret\nnext line')

    assert masked == 'password="[REDACTED:key]\nnext line'


def test_key_mentioned_in_prose_kept(masker: Masker) -> None:
    """A sensitive word without a separator and value after it is not a key."""
    text = "password reset requested; token expired after 15 minutes"

    assert masker.mask_text(text) == text


def test_url_password_keeps_host(masker: Masker) -> None:
    """Only the password of a URL's userinfo is masked; the user and host stay."""
    masked = masker.mask_text("connect postgresql://app:s3cr%40t@db.example.com:5432/orders")

    assert masked == "connect postgresql://app:[REDACTED:url_password]@db.example.com:5432/orders"


def test_private_key_block_masked(masker: Masker) -> None:
    """A PEM private key block is masked from BEGIN line to END line."""
    text = (
        "key:\n-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\nok"
    )

    assert masker.mask_text(text) == "key:\n[REDACTED:private_key]\nok"


def test_masked_text_masks_again_unchanged(masker: Masker) -> None:
    """Masking already masked text changes nothing, so two filters in a row agree."""
    once = masker.mask_text(f"password=hunter2 card {CARD} mail bob@example.com")

    assert masker.mask_text(once) == once


def test_find_reports_character_offsets(masker: Masker) -> None:
    """find() returns the detector and character offsets, counting non-ASCII characters once."""
    text = f"für {CARD}"

    finding = masker.find(text)[0]

    assert (finding.detector, text[finding.start : finding.end]) == ("card", CARD)


# Mappings and sequences.


def test_sensitive_keys_masked_whole(masker: Masker) -> None:
    """Values under sensitive keys are replaced whatever they contain."""
    masked = masker.mask({"db_password": "plain", "Authorization": "Basic abc", "user": "bob"})

    assert masked == {
        "db_password": "[REDACTED:key]",
        "Authorization": "[REDACTED:key]",
        "user": "bob",
    }


def test_nested_values_scanned(masker: Masker) -> None:
    """Values in nested mappings and sequences are scanned as text."""
    masked = masker.mask({"event": {"to": ["bob@example.com", ("n", 4111111111111111)]}})

    assert masked == {"event": {"to": ["[REDACTED:email]", ("n", "[REDACTED:card]")]}}


def test_sensitive_container_redacted_whole(masker: Masker) -> None:
    """A container under a sensitive key is replaced by one placeholder."""
    masked = masker.mask({"credentials": {"user": "bob", "pin": 1234}})

    assert masked == {"credentials": "[REDACTED:key]"}


def test_sensitive_number_masked(masker: Masker) -> None:
    """A number under a sensitive key is masked like text."""
    assert masker.mask({"pin_token": 4321}) == {"pin_token": "[REDACTED:key]"}


def test_sensitive_none_kept(masker: Masker) -> None:
    """None and booleans under sensitive keys carry no secret and are kept."""
    assert masker.mask({"password": None, "token": False}) == {"password": None, "token": False}


def test_keys_themselves_scanned(masker: Masker) -> None:
    """A mapping key that is itself sensitive data is masked too."""
    assert masker.mask({"bob@example.com": 3}) == {"[REDACTED:email]": 3}


def test_plain_values_kept(masker: Masker) -> None:
    """Values without anything to mask keep their type."""
    value = {"count": 3, "ratio": 0.5, "ok": True, "none": None, "name": "bob"}

    assert masker.mask(value) == value


def test_objects_masked_through_str(masker: Masker) -> None:
    """An object whose text contains a secret is replaced by its masked text."""

    class Connection:
        def __str__(self) -> str:
            return "Connection(url=redis://:hunter22@cache:6379)"

    assert masker.mask([Connection()]) == [
        "Connection(url=redis://:[REDACTED:url_password]@cache:6379)"
    ]


def test_cycle_replaced(masker: Masker) -> None:
    """A container that contains itself is replaced at the second visit."""
    looped: dict[str, Any] = {"name": "loop"}
    looped["self"] = looped

    assert masker.mask(looped) == {"name": "loop", "self": "[REDACTED:cycle]"}


def test_depth_limit_replaced() -> None:
    """Values nested deeper than max_depth are replaced, not passed through."""
    masked = Masker(max_depth=2).mask({"a": {"b": {"password": "x"}}})

    assert masked == {"a": {"b": "[REDACTED:depth limit]"}}


def test_item_limit_marks_rest() -> None:
    """Items past max_items are dropped with a marker saying how many."""
    masked = Masker(max_items=3).mask(list(range(10)))

    assert masked == [0, 1, 2, "[TRUNCATED:7 items]"]


def test_mapping_item_limit_marks_rest() -> None:
    """Mapping entries past max_items are dropped with a marker entry."""
    masked = Masker(max_items=1).mask_mapping(OrderedDict(a=1, b=2, c=3))

    assert masked == {"a": 1, "[TRUNCATED]": "[TRUNCATED:2 items]"}


def test_total_length_budget_truncates() -> None:
    """Strings past the per-call character budget are cut and marked."""
    masked = Masker(max_total_length=10).mask(["abcdefgh", "ijklmnop"])

    assert masked == ["abcdefgh", "[TRUNCATED:8 characters]"]


# Truncation.


def test_long_text_truncated_with_marker() -> None:
    """Text over max_length is cut at a word boundary and ends with a marker."""
    masked = Masker(max_length=12).mask_text("alpha beta gamma delta")

    assert masked == "alpha beta [TRUNCATED:11 characters]"


def test_truncated_text_still_masked() -> None:
    """The kept part of a truncated text is masked."""
    masked = Masker(max_length=30).mask_text(f"card {CARD} " + "x" * 100)

    assert masked == "card [REDACTED:card] [TRUNCATED:100 characters]"


def test_token_cut_at_limit_dropped() -> None:
    """A token cut by the limit is dropped whole, so no half of it is logged."""
    token = "ghp_" + "a" * 36

    masked = Masker(max_length=20).mask_text(f"token {token}")

    assert token[:10] not in masked


# Styles.


def test_keep_last_shows_four_digits() -> None:
    """KeepLast(4) keeps the last four digits of a card, from its digits only."""
    masked = Masker(styles={"card": KeepLast(4)}).mask_text(f"card {CARD}")

    assert masked == "card [REDACTED:card:****1111]"


def test_keep_last_redacts_short_values() -> None:
    """KeepLast redacts a value shorter than three times the kept count."""
    assert KeepLast(4).replace("key", "hunter2") == "[REDACTED:key]"


def test_keyed_hash_correlates_values() -> None:
    """The same card, spaced or not, gets the same keyed hash."""
    masker = Masker(styles={"card": KeyedHash(HASH_KEY)})

    first = masker.mask_text(CARD)
    second = masker.mask_text(CARD.replace(" ", ""))

    assert first == second


def test_keyed_hash_differs_per_value() -> None:
    """Different values get different keyed hashes."""
    masker = Masker(style=KeyedHash(HASH_KEY))

    assert masker.mask_text("a@example.com") != masker.mask_text("b@example.com")


def test_keyed_hash_differs_per_key() -> None:
    """The same value hashed under two keys gives unrelated replacements."""
    first = KeyedHash(HASH_KEY).replace("email", "a@example.com")
    second = KeyedHash(secrets.token_bytes(32)).replace("email", "a@example.com")

    assert first != second


def test_keyed_hash_labelled() -> None:
    """A keyed hash replacement names its detector and has the set length."""
    replacement = KeyedHash(HASH_KEY, length=20).replace("email", "a@example.com")

    assert replacement.startswith("[REDACTED:email:hmac:")
    assert len(replacement) == len("[REDACTED:email:hmac:]") + 20


def test_keyed_hash_hides_plain_value() -> None:
    """The keyed hash replacement contains nothing of the value."""
    masked = Masker(style=KeyedHash(HASH_KEY)).mask_text("password=hunter2")

    assert "hunter2" not in masked


def test_keyed_hash_repr_hides_key() -> None:
    """The repr of KeyedHash does not show its key."""
    style = KeyedHash(b"k" * 32)

    assert "kkkk" not in repr(style)


def test_short_hash_key_rejected() -> None:
    """A key shorter than 32 bytes is rejected without echoing it."""
    with pytest.raises(ConfigurationError) as caught:
        KeyedHash(b"short-secret-key")

    assert "short-secret-key" not in str(caught.value)


def test_styles_per_detector() -> None:
    """A style set for one detector leaves the default style for the others."""
    masker = Masker(style=Redact(), styles={"card": KeepLast(4)})

    masked = masker.mask_text(f"{CARD} bob@example.com")

    assert masked == "[REDACTED:card:****1111] [REDACTED:email]"


# Keys.


@pytest.mark.parametrize(
    "key", ["password", "DB_PASSWORD", "x-api-key", "apiKey", "Authorization", "set-cookie"]
)
def test_default_keys_sensitive(masker: Masker, key: str) -> None:
    """Key names containing a default name are sensitive, whatever their case and separators."""
    assert masker.is_sensitive_key(key)


@pytest.mark.parametrize("key", ["user", "path", "status", "message"])
def test_plain_keys_not_sensitive(masker: Masker, key: str) -> None:
    """Ordinary field names are not sensitive."""
    assert not masker.is_sensitive_key(key)


def test_custom_keys_replace_defaults() -> None:
    """Configured keys replace the default list."""
    masker = Masker(keys=["pin"])

    assert masker.is_sensitive_key("card_pin")
    assert not masker.is_sensitive_key("password")


def test_key_normalisation() -> None:
    """Normalising drops case and every character but ASCII letters and digits."""
    assert normalise_key("X-Api_Key.v2") == "xapikeyv2"


# Configuration errors.


def test_lookahead_pattern_rejected() -> None:
    """A pattern RE2 cannot run is rejected with a message naming the detector and the fix."""
    with pytest.raises(ConfigurationError, match="no look-around"):
        Detector("order_ref", r"ORD(?=\d)")


def test_bad_detector_name_rejected() -> None:
    """A detector name that cannot appear in placeholders is rejected."""
    with pytest.raises(ConfigurationError, match="Invalid detector name"):
        Detector("Bad Name", r"x")


@pytest.mark.parametrize("setting", ["max_length", "max_total_length", "max_depth", "max_items"])
def test_non_positive_limits_rejected(setting: str) -> None:
    """Limits below one are rejected, naming the setting."""
    with pytest.raises(ConfigurationError, match=setting):
        Masker(**{setting: 0})  # type: ignore[arg-type]


def test_key_string_rejected() -> None:
    """A single string given as keys is rejected, because it would be read letter by letter."""
    with pytest.raises(ConfigurationError, match="one string"):
        Masker(keys="password")


def test_style_without_replace_rejected() -> None:
    """A style object without replace() is rejected."""
    with pytest.raises(ConfigurationError, match="replace"):
        Masker(style="***")


def test_custom_detector_added() -> None:
    """A detector added to the defaults masks its values with its own label."""
    order_secret = Detector("voucher", r"\bVCH-[0-9A-F]{12}\b")
    masker = Masker(detectors=[*DEFAULT_DETECTORS, order_secret])

    assert masker.mask_text("voucher VCH-0123456789AB used") == "voucher [REDACTED:voucher] used"


def test_repr_lists_detectors(masker: Masker) -> None:
    """The Masker repr lists detector names and keys."""
    assert "card" in repr(masker)
