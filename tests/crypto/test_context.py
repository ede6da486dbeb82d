"""The encryption context: its one canonical serialisation, its limits and strict parsing."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_support import FakeKeyProvider
from jivs_security.crypto import _context
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._context import (
    MAX_CONTEXT_BYTES,
    MAX_CONTEXT_PAIRS,
    canonical_context,
    parse_context,
)
from jivs_security.errors import ConfigurationError, DecryptionFailed

contexts = st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=12), max_size=10)


def encode_pairs(pairs: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    """Serialise ``pairs`` exactly as given, in the context layout, with an optional false count."""
    parts = [struct.pack(">H", len(pairs) if count is None else count)]
    for key, value in pairs:
        parts += [struct.pack(">H", len(key)), key, struct.pack(">H", len(value)), value]
    return b"".join(parts)


# Serialisation.


@pytest.mark.parametrize("context", [None, {}, MappingProxyType({})])
def test_empty_context_encoding(context: Mapping[str, str] | None) -> None:
    """No context and an empty mapping both serialise to a zero pair count."""
    assert canonical_context(context) == b"\x00\x00"


def test_known_encoding() -> None:
    """Pairs are sorted by key, each key and value prefixed with a 16-bit length."""
    encoded = canonical_context({"b": "2", "a": "xy"})

    assert encoded == b"\x00\x02" + b"\x00\x01a\x00\x02xy" + b"\x00\x01b\x00\x012"


@settings(max_examples=100, deadline=None)
@given(context=contexts, data=st.data())
def test_order_independent(context: dict[str, str], data: st.DataObject) -> None:
    """Any order of the same pairs serialises to the same bytes."""
    shuffled = dict(data.draw(st.permutations(list(context.items()))))

    assert canonical_context(shuffled) == canonical_context(context)


def test_sorted_by_utf8_bytes() -> None:
    """Keys sort by their UTF-8 bytes: ASCII before accented letters before emoji."""
    encoded = canonical_context({"\U0001f511": "3", "é": "2", "z": "1"})

    assert parse_context(encoded) == {"z": "1", "é": "2", "\U0001f511": "3"}
    assert list(parse_context(encoded)) == ["z", "é", "\U0001f511"]


def test_prefix_key_sorts_first() -> None:
    """A key that is a prefix of another sorts before it."""
    encoded = canonical_context({"ab": "2", "a": "1"})

    assert encoded.index(b"\x00\x01a") < encoded.index(b"\x00\x02ab")


def test_unicode_round_trip() -> None:
    """Non-ASCII keys and values, and empty values, survive a round trip."""
    context = {"ключ": "значение", "\U0001f511": "", "tenant": "acme"}

    assert parse_context(canonical_context(context)) == context


def test_no_unicode_normalisation() -> None:
    """Composed and decomposed spellings of a key are different keys, as given."""
    composed, decomposed = "caf\u00e9", "cafe\u0301"

    assert canonical_context({composed: "x"}) != canonical_context({decomposed: "x"})


@settings(max_examples=200, deadline=None)
@given(context=contexts)
def test_parse_round_trip(context: dict[str, str]) -> None:
    """Parsing a serialised context returns the same mapping."""
    assert parse_context(canonical_context(context)) == context


# Limits and invalid contexts.


def test_pair_limit_accepted() -> None:
    """A context of exactly the maximum number of pairs is accepted."""
    context = {f"k{index:02}": "v" for index in range(MAX_CONTEXT_PAIRS)}

    assert parse_context(canonical_context(context)) == context


def test_pair_limit_exceeded() -> None:
    """One pair over the limit is rejected with the count and the limit."""
    context = {f"k{index:02}": "v" for index in range(MAX_CONTEXT_PAIRS + 1)}

    with pytest.raises(ConfigurationError, match="65 pairs, over the limit of 64"):
        canonical_context(context)


def test_byte_limit_accepted() -> None:
    """A context that serialises to exactly the byte limit is accepted."""
    # Count, key length, key "k" and value length take 7 bytes.
    context = {"k": "v" * (MAX_CONTEXT_BYTES - 7)}

    assert len(canonical_context(context)) == MAX_CONTEXT_BYTES


def test_byte_limit_exceeded() -> None:
    """One byte over the limit is rejected with the size and the limit."""
    context = {"k": "v" * (MAX_CONTEXT_BYTES - 6)}

    with pytest.raises(ConfigurationError, match="8193 bytes serialised, over the limit of 8192"):
        canonical_context(context)


INVALID_CONTEXTS: dict[str, object] = {
    "int key": {1: "a"},
    "bytes key": {b"a": "x"},
    "empty key": {"": "x"},
    "int value": {"a": 1},
    "none value": {"a": None},
    "bytes value": {"a": b"x"},
    "list value": {"a": ["x"]},
    "list of pairs": [("a", "b")],
    "string": "a=b",
    "surrogate key": {"\ud800": "x"},
    "surrogate value": {"a": "\udfff"},
}


@pytest.mark.parametrize("context", INVALID_CONTEXTS.values(), ids=INVALID_CONTEXTS.keys())
def test_invalid_context_rejected(context: object) -> None:
    """Non-str keys or values, empty keys, non-mappings and unencodable text are rejected."""
    with pytest.raises(ConfigurationError) as caught:
        canonical_context(context)  # type: ignore[arg-type]

    assert caught.value.setting == "context"
    assert "invalid encryption context" in str(caught.value)


def test_invalid_context_rejected_after_valid_cached() -> None:
    """A dict that differs from a cached one only in a value's type is still rejected."""
    assert canonical_context({"a": "1"}) == encode_pairs([(b"a", b"1")])

    with pytest.raises(ConfigurationError):
        canonical_context({"a": 1})  # type: ignore[dict-item]


def test_cached_form_follows_dict_changes() -> None:
    """A dict changed after it was serialised serialises to its new pairs."""
    context = {"tenant": "acme"}
    before = canonical_context(context)

    context["tenant"] = "other"
    context["region"] = "eu"

    assert before == encode_pairs([(b"tenant", b"acme")])
    assert canonical_context(context) == encode_pairs([(b"region", b"eu"), (b"tenant", b"other")])


def test_str_subclass_context_not_cached() -> None:
    """Pairs with str subclasses are serialised every time, never kept."""

    class Label(str):
        pass

    # Text that no other test uses, so no plain-str entry for it is cached.
    context: dict[str, str] = {Label("subclass key"): Label("subclass value")}

    assert canonical_context(context) == encode_pairs([(b"subclass key", b"subclass value")])
    cached_types = {type(text) for pairs in _context._canonical for pair in pairs for text in pair}
    assert Label not in cached_types


def test_canonical_cache_bounded() -> None:
    """Serialising many distinct contexts keeps the cache within its entry limit."""
    for number in range(1000):
        canonical_context({"record": str(number)})

    assert 0 < len(_context._canonical) <= _context._PARSED_MAX_ENTRIES


# Parsing accepts only the canonical form.

NON_CANONICAL = {
    "empty input": b"",
    "half a count": b"\x00",
    "missing key length": b"\x00\x01",
    "half a key length": b"\x00\x01\x00",
    "key past the end": b"\x00\x01\x00\x05ab",
    "missing value length": b"\x00\x01\x00\x01a",
    "value past the end": b"\x00\x01\x00\x01a\x00\x05xy",
    "pairs out of order": encode_pairs([(b"b", b"1"), (b"a", b"2")]),
    "repeated key": encode_pairs([(b"a", b"1"), (b"a", b"2")]),
    "empty key": encode_pairs([(b"", b"1")]),
    "trailing byte": encode_pairs([(b"a", b"1")]) + b"\x00",
    "count too high": encode_pairs([(b"a", b"1")], count=2),
    "count too low": encode_pairs([(b"a", b"1"), (b"b", b"2")], count=1),
    "invalid UTF-8": encode_pairs([(b"a", b"\xff")]),
    "overlong UTF-8": encode_pairs([(b"\xc0\xaf", b"1")]),
    "encoded surrogate": encode_pairs([(b"\xed\xa0\x80", b"1")]),
    "too many pairs": encode_pairs(
        [(f"k{index:02}".encode(), b"") for index in range(MAX_CONTEXT_PAIRS + 1)]
    ),
    "too many bytes": encode_pairs([(b"k", b"v" * (MAX_CONTEXT_BYTES - 6))]),
}


@pytest.mark.parametrize("data", NON_CANONICAL.values(), ids=NON_CANONICAL.keys())
def test_parse_rejects_non_canonical(data: bytes) -> None:
    """Anything canonical_context would not write raises ValueError."""
    with pytest.raises(ValueError, match=r"context|utf-8"):
        parse_context(data)


def test_header_context_reordered_rejected() -> None:
    """A message whose header carries its context pairs in another order is rejected."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=1024)
    canonical = canonical_context({"a": "1", "b": "2"})
    reordered = encode_pairs([(b"b", b"2"), (b"a", b"1")])
    blob = cipher.encrypt(b"data", context={"a": "1", "b": "2"})

    tampered = blob.replace(canonical, reordered, 1)

    assert tampered != blob
    with pytest.raises(DecryptionFailed):
        EnvelopeCipher.inspect(tampered)
