"""Strict decoding of the pieces of a compact JWS (RFC 7515, section 7.1).

The rules here are stricter than the RFCs require, on purpose: base64url
without padding and with canonical trailing bits only, JSON objects without
duplicate member names or NaN and Infinity, so a token has exactly one
reading (RFC 8725, section 3.9 asks verifiers to reject ambiguous input).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from jivs_security.errors import InvalidToken

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "dumps_compact",
    "loads_object",
    "parse_json_object",
]

_BASE64URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str, *, part: str) -> bytes:
    """Decode one base64url segment, rejecting padding, stray characters and non-canonical forms.

    ``part`` names the segment ("header", "payload" or "signature") for the
    error message.
    """
    try:
        raw = segment.encode("ascii")
    except UnicodeEncodeError:
        raise _malformed(part, "contains characters outside base64url") from None

    # ``+`` and ``/`` belong to standard base64 and would be accepted by the
    # decoder after translation, so they are rejected before it.
    if raw.translate(None, b"+/=") != raw:
        raise _malformed(part, "contains characters outside base64url")
    if len(raw) % 4 == 1:
        raise _malformed(part, "has an impossible base64url length")

    padded = raw.translate(_BASE64URL_TO_STANDARD) + b"=" * (-len(raw) % 4)
    try:
        decoded = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        raise _malformed(part, "is not valid base64url") from None

    # Unused low bits in the last character must be zero; otherwise several
    # strings decode to the same bytes and the token has more than one form.
    if b64url_encode(decoded) != segment:
        raise _malformed(part, "is not in canonical base64url form")
    return decoded


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError(f"duplicate member name {name[:40]!r}")
        seen.add(name)
    raise AssertionError("unreachable: dict() dropped a pair without a duplicate name")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse ``data`` as one UTF-8 JSON object with unique member names, or raise ``ValueError``.

    The error text names a member or a position, never a value from ``data``.
    """
    text = data.decode("utf-8")
    value, end = _DECODER.raw_decode(text)

    # raw_decode stops after the first value and, like this check, accepts
    # no whitespace around it: a token segment has exactly one spelling.
    if end != len(text):
        raise ValueError("data follows the JSON object")
    if not isinstance(value, dict):
        raise ValueError("the JSON value is not an object")
    return value


def loads_object(data: bytes, *, part: str) -> dict[str, Any]:
    """Parse a token segment with :func:`parse_json_object`, raising :class:`InvalidToken`."""
    try:
        return parse_json_object(data)
    except ValueError as exc:
        # UnicodeDecodeError and json.JSONDecodeError are ValueErrors too.
        raise _malformed(part, f"is not a valid JSON object ({exc})") from None


def dumps_compact(value: dict[str, Any]) -> bytes:
    """Serialise ``value`` as compact UTF-8 JSON for a token segment."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _malformed(part: str, problem: str) -> InvalidToken:
    return InvalidToken(
        f"Token rejected: its {part} {problem}. Send the token exactly as it was issued.",
        reason="malformed",
        claim=part,
    )
