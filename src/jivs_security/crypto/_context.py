"""The encryption context: a str-to-str mapping authenticated with every message."""

from __future__ import annotations

import struct
from collections.abc import Mapping

from jivs_security.errors import ConfigurationError

__all__ = [
    "MAX_CONTEXT_BYTES",
    "MAX_CONTEXT_PAIRS",
    "canonical_context",
    "parse_context",
    "str_pairs",
]

# Limits keep a header small and bounded. AWS KMS caps an encryption context
# at 8,192 characters in total, so a context within these limits can also be
# passed to KMS unchanged.
MAX_CONTEXT_PAIRS = 64
MAX_CONTEXT_BYTES = 8192

_LENGTH = struct.Struct(">H")

# Parsed contexts kept by their bytes, because every message under one
# context carries the same bytes. Only contexts up to the size limit are
# kept, and the table is cleared when full, so it contains at most
# _PARSED_MAX_ENTRIES * _PARSED_MAX_BYTES bytes of contexts (128 KiB).
_PARSED_MAX_ENTRIES = 128
_PARSED_MAX_BYTES = 1024
_parsed: dict[bytes, dict[str, str]] = {}

# Canonical forms kept by the pairs of the dict they came from, in its
# order, because an application usually encrypts under a few contexts. It
# is used only when every key and value is exactly a str, so a hit means
# equal text and thus equal bytes. It has the same bounds as _parsed.
_canonical: dict[tuple[tuple[str, str], ...], bytes] = {}


def _invalid(problem: str, value: object = None) -> ConfigurationError:
    return ConfigurationError(
        f"invalid encryption context: {problem}",
        setting="context",
        expected=f"a mapping of non-empty str keys to str values, at most {MAX_CONTEXT_PAIRS} "
        f"pairs and {MAX_CONTEXT_BYTES} bytes in UTF-8",
        value=value,
    )


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """Serialise ``context`` to the one byte string that every party computes alike.

    Pairs are sorted by the UTF-8 bytes of their keys; the count and each key
    and value are prefixed with a 16-bit big-endian length. The context is
    authenticated, not encrypted: it must not hold secrets.
    """
    if context is None:
        return _serialize({})
    pairs = str_pairs(context)
    if pairs is None:
        return _serialize(context)

    cached = _canonical.get(pairs)
    if cached is not None:
        return cached
    result = _serialize(context)
    if len(result) <= _PARSED_MAX_BYTES:
        if len(_canonical) >= _PARSED_MAX_ENTRIES:
            _canonical.clear()
        _canonical[pairs] = result
    return result


def str_pairs(context: object) -> tuple[tuple[str, str], ...] | None:
    """Return the pairs of a plain dict whose keys and values are all exactly ``str``, else None.

    Only such pairs may be compared or looked up by equality. A dict
    subclass may override ``items()``, and a ``str`` subclass or a look-alike
    such as ``UserString`` may override ``__eq__`` and ``__hash__``, so any
    of them could match text that it does not contain.
    """
    if type(context) is not dict:
        return None
    pairs = tuple(context.items())
    for key, value in pairs:
        if type(key) is not str or type(value) is not str:
            return None
    return pairs


def _serialize(context: Mapping[str, str]) -> bytes:
    if not isinstance(context, Mapping):
        raise _invalid(f"expected a mapping, got {type(context).__name__}")
    if len(context) > MAX_CONTEXT_PAIRS:
        raise _invalid(f"{len(context)} pairs, over the limit of {MAX_CONTEXT_PAIRS}")

    encoded: list[tuple[bytes, bytes]] = []
    for key, value in context.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise _invalid(f"key {key!r} must be a non-empty str with a str value", key)
        try:
            encoded.append((key.encode("utf-8"), value.encode("utf-8")))
        except UnicodeEncodeError:
            raise _invalid(f"key {key!r} or its value is not valid Unicode", key) from None
    encoded.sort()

    pack = _LENGTH.pack
    parts = [pack(len(encoded))]
    for key_bytes, value_bytes in encoded:
        parts += (pack(len(key_bytes)), key_bytes, pack(len(value_bytes)), value_bytes)
    result = b"".join(parts)
    if len(result) > MAX_CONTEXT_BYTES:
        raise _invalid(f"{len(result)} bytes serialised, over the limit of {MAX_CONTEXT_BYTES}")
    return result


def parse_context(data: bytes) -> dict[str, str]:
    """Read a context written by :func:`canonical_context`; raise ``ValueError`` if malformed.

    Only the canonical form is accepted: pairs in order, no duplicates and
    within the limits, so one context has exactly one serialisation. Each
    call returns a new dict, which the caller may change.
    """
    if type(data) is not bytes:
        return _parse(data)
    cached = _parsed.get(data)
    if cached is not None:
        return dict(cached)
    pairs = _parse(data)
    if len(data) <= _PARSED_MAX_BYTES:
        if len(_parsed) >= _PARSED_MAX_ENTRIES:
            _parsed.clear()
        _parsed[data] = dict(pairs)
    return pairs


def _parse(data: bytes) -> dict[str, str]:
    if len(data) > MAX_CONTEXT_BYTES:
        raise ValueError(f"the encryption context is over {MAX_CONTEXT_BYTES} bytes")
    view = memoryview(data)
    if len(view) < _LENGTH.size:
        raise ValueError("the encryption context has no pair count")
    (count,) = _LENGTH.unpack_from(view, 0)
    if count > MAX_CONTEXT_PAIRS:
        raise ValueError(f"the encryption context has over {MAX_CONTEXT_PAIRS} pairs")
    offset = 2
    pairs: dict[str, str] = {}
    previous: bytes | None = None
    for _ in range(count):
        key, offset = _read_field(view, offset)
        value, offset = _read_field(view, offset)
        if not key or (previous is not None and key <= previous):
            raise ValueError("context keys are empty, out of order or repeated")
        previous = key
        pairs[key.decode("utf-8")] = value.decode("utf-8")
    if offset != len(data):
        raise ValueError("data follows the encryption context")
    return pairs


def _read_field(view: memoryview, offset: int) -> tuple[bytes, int]:
    start = offset + _LENGTH.size
    if start > len(view):
        raise ValueError("an encryption context field length runs past the end")
    (length,) = _LENGTH.unpack_from(view, offset)
    end = start + length
    if end > len(view):
        raise ValueError("an encryption context field runs past the end")
    return bytes(view[start:end]), end
