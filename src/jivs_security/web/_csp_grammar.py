"""The CSP Level 3 grammar that ContentSecurityPolicy checks its settings against.

Directive names, directive values and source expressions follow Content
Security Policy Level 3 (W3C Working Draft, https://www.w3.org/TR/CSP3/),
sections "Directives" and "Source Lists".
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Final

from jivs_security.errors import ConfigurationError

__all__ = [
    "HASH_SOURCE",
    "check_directive_name",
    "check_directive_value",
    "check_nonce",
    "check_nonce_directive",
    "check_report_to",
    "check_report_uris",
    "directive_error",
]

# Fetch directives (CSP3, "Fetch Directives").
_FETCH_DIRECTIVES: Final = frozenset(
    {
        "child-src",
        "connect-src",
        "default-src",
        "font-src",
        "frame-src",
        "img-src",
        "manifest-src",
        "media-src",
        "object-src",
        "script-src",
        "script-src-elem",
        "script-src-attr",
        "style-src",
        "style-src-elem",
        "style-src-attr",
        "worker-src",
    }
)
# Directives whose value is a source list: the fetch directives, base-uri and form-action.
_SOURCE_LIST_DIRECTIVES: Final = _FETCH_DIRECTIVES | {"base-uri", "form-action"}
# frame-ancestors takes only scheme and host sources, 'self' and 'none' (CSP3, "frame-ancestors").
_ANCESTOR_DIRECTIVE: Final = "frame-ancestors"
# Directives written without a value. block-all-mixed-content is obsolete
# (Mixed Content Level 2 blocks such content anyway) but still valid.
_VALUELESS_DIRECTIVES: Final = frozenset({"upgrade-insecure-requests", "block-all-mixed-content"})
# Directives with their own value grammar: sandbox flags, webrtc ('allow'
# or 'block') and the two directives of the Trusted Types specification.
_TOKEN_DIRECTIVES: Final = frozenset(
    {"sandbox", "require-trusted-types-for", "trusted-types", "webrtc"}
)
# report-uri and report-to come from their own arguments, so the reporting
# settings are checked and placed in one spot.
_REPORTING_DIRECTIVES: Final = frozenset({"report-uri", "report-to"})
_KNOWN_DIRECTIVES: Final = (
    _SOURCE_LIST_DIRECTIVES | {_ANCESTOR_DIRECTIVE} | _VALUELESS_DIRECTIVES | _TOKEN_DIRECTIVES
)

# Nonces apply only to script and style elements (CSP3, "Does element match source list").
_NONCE_DIRECTIVES: Final = frozenset(
    {"script-src", "script-src-elem", "style-src", "style-src-elem"}
)

_KEYWORDS: Final = frozenset(
    {
        "'self'",
        "'unsafe-inline'",
        "'unsafe-eval'",
        "'strict-dynamic'",
        "'unsafe-hashes'",
        "'report-sample'",
        "'unsafe-allow-redirects'",
        "'wasm-unsafe-eval'",
    }
)

# Keywords written without their quotes: valid host names, but always a mistake.
_BARE_KEYWORDS: Final = frozenset(keyword.strip("'") for keyword in _KEYWORDS) | {"none"}

# directive-value characters: VCHAR without ";" (%x3B) and "," (%x2C).
_VALUE_TOKEN: Final = re.compile(r"[\x21-\x2b\x2d-\x3a\x3c-\x7e]+")
_DIRECTIVE_NAME: Final = re.compile(r"[a-z0-9-]+")
_SCHEME: Final = r"[A-Za-z][A-Za-z0-9+.\-]*"
_HOST: Final = r"(?:\*|(?:\*\.)?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)"
# path-absolute of RFC 3986 without ";" and ",": unreserved, pct-encoded,
# the remaining sub-delims, ":", "@" and "/".
_PATH: Final = r"/[A-Za-z0-9\-._~%!$&'()*+=:@/]*"
_SCHEME_SOURCE: Final = re.compile(rf"{_SCHEME}:")
_HOST_SOURCE: Final = re.compile(rf"(?:{_SCHEME}://)?{_HOST}(?::(?:[0-9]+|\*))?(?:{_PATH})?")
_BASE64_VALUE: Final = r"[A-Za-z0-9+/\-_]+={0,2}"
HASH_SOURCE: Final = re.compile(rf"'(?:sha256|sha384|sha512)-{_BASE64_VALUE}'", re.IGNORECASE)
_NONCE_VALUE: Final = re.compile(_BASE64_VALUE)
# A Structured Field key (RFC 9651): the name that the Reporting-Endpoints
# dictionary gives an endpoint and that report-to refers to.
_ENDPOINT_NAME: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")

# The shortest nonce accepted from a caller: 128 bits in base64 without padding.
_MIN_NONCE_LENGTH: Final = 22


def directive_error(message: str, value: object) -> ConfigurationError:
    return ConfigurationError(
        message,
        setting="directives",
        expected="CSP Level 3 directives with valid source expressions",
        value=value,
    )


def check_directive_name(raw: object) -> str:
    if not isinstance(raw, str) or not _DIRECTIVE_NAME.fullmatch(raw.lower()):
        raise directive_error(
            f"directive name {raw!r} is invalid: a name is letters, digits and '-' only",
            raw,
        )
    name = raw.lower()
    if name in _REPORTING_DIRECTIVES:
        argument = name.replace("-", "_")
        raise directive_error(
            f"pass {name} through the {argument}= argument, not in directives, so it is "
            "checked and placed with the other reporting settings",
            raw,
        )
    if name not in _KNOWN_DIRECTIVES:
        raise directive_error(
            f"directive {raw!r} is not a Content Security Policy Level 3 directive; check "
            f"the spelling. Known directives: {', '.join(sorted(_KNOWN_DIRECTIVES))}",
            raw,
        )
    return name


def _split_value(name: str, raw: str | Iterable[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        # An explicit check, because str.split() would also split on
        # characters such as U+0085 that are not ASCII whitespace.
        _reject_control_characters(name, raw)
        return tuple(raw.split())
    tokens = []
    for token in raw:
        if not isinstance(token, str):
            raise directive_error(
                f"directive {name!r} has a value that is not a string: {token!r}", token
            )
        _reject_control_characters(name, token)
        tokens.append(token)
    return tuple(tokens)


def _reject_control_characters(name: str, text: str) -> None:
    for character in text:
        if character in "\r\n\0":
            raise directive_error(
                f"directive {name!r} has a value with a line break or NUL ({text!r}); such a "
                "value could end the header line and inject another header",
                text,
            )


def check_directive_value(name: str, raw: str | Iterable[str] | None) -> tuple[str, ...]:
    tokens = _split_value(name, raw)
    for token in tokens:
        if not _VALUE_TOKEN.fullmatch(token):
            raise directive_error(
                f"directive {name!r} has the value {token!r}, which contains whitespace, ';', "
                "',' or a character outside visible ASCII; ';' would end the directive and "
                "',' would start a second policy, so neither may appear in a value",
                token,
            )
    if name in _VALUELESS_DIRECTIVES:
        if tokens:
            raise directive_error(
                f"directive {name!r} takes no value, got {' '.join(tokens)!r}", tokens
            )
        return ()
    if not tokens:
        raise directive_error(
            f"directive {name!r} has no value; write \"'none'\" to allow nothing", name
        )
    if name in _SOURCE_LIST_DIRECTIVES or name == _ANCESTOR_DIRECTIVE:
        return _check_source_list(name, tokens)
    return tokens


def _check_source_list(name: str, tokens: tuple[str, ...]) -> tuple[str, ...]:
    checked = []
    for token in tokens:
        lowered = token.lower()
        if lowered == "'none'":
            if len(tokens) > 1:
                raise directive_error(
                    f"directive {name!r} combines 'none' with other sources; 'none' must be "
                    "alone, because browsers ignore it next to other sources",
                    tokens,
                )
            checked.append(lowered)
            continue
        if lowered in _BARE_KEYWORDS:
            raise directive_error(
                f"directive {name!r} has {token!r}; keywords must be in single quotes, as "
                f"in \"'{lowered}'\", otherwise browsers read them as host names",
                token,
            )
        if lowered.startswith("'nonce-"):
            raise directive_error(
                f"directive {name!r} has a fixed nonce {token!r}; a nonce must be new in every "
                "response, so list the directive in nonce_directives instead",
                token,
            )
        if name == _ANCESTOR_DIRECTIVE:
            if lowered == "'self'" or _is_location(token):
                checked.append(lowered if token.startswith("'") else token)
                continue
            raise directive_error(
                f"frame-ancestors accepts only scheme sources, host sources, 'self' and "
                f"'none', got {token!r}",
                token,
            )
        if lowered in _KEYWORDS:
            checked.append(lowered)
        elif HASH_SOURCE.fullmatch(token) or _is_location(token):
            checked.append(token)
        else:
            raise directive_error(
                f"directive {name!r} has {token!r}, which is not a CSP source expression "
                "(a quoted keyword, a scheme such as 'https:', a host such as "
                "'cdn.example.com' or 'https://*.example.com:443/path', or a hash such as "
                "\"'sha256-...'\")",
                token,
            )
    return tuple(checked)


def _is_location(token: str) -> bool:
    return bool(_SCHEME_SOURCE.fullmatch(token) or _HOST_SOURCE.fullmatch(token))


def check_nonce_directive(raw: object) -> str:
    if isinstance(raw, str) and raw.lower() in _NONCE_DIRECTIVES:
        return raw.lower()
    raise ConfigurationError(
        f"nonce_directives contains {raw!r}; nonces apply only to script and style "
        f"elements, so use {', '.join(sorted(_NONCE_DIRECTIVES))}",
        setting="nonce_directives",
        expected=", ".join(sorted(_NONCE_DIRECTIVES)),
        value=raw,
    )


def check_nonce(nonce: object) -> None:
    if (
        not isinstance(nonce, str)
        or not _NONCE_VALUE.fullmatch(nonce)
        or len(nonce.rstrip("=")) < _MIN_NONCE_LENGTH
    ):
        raise ConfigurationError(
            "the nonce must be base64 or base64url text of at least 128 bits "
            f"({_MIN_NONCE_LENGTH} characters), as ContentSecurityPolicy.new_nonce() returns",
            setting="nonce",
            expected=f"base64 or base64url text, at least {_MIN_NONCE_LENGTH} characters",
        )


def check_report_uris(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    uris = (raw,) if isinstance(raw, str) else tuple(raw)
    for uri in uris:
        if not isinstance(uri, str) or not _VALUE_TOKEN.fullmatch(uri) or not _is_report_url(uri):
            raise ConfigurationError(
                f"report_uri {uri!r} is invalid: use an absolute http(s) URL or a path "
                "starting with '/', without whitespace, ';' or ','",
                setting="report_uri",
                expected="absolute http(s) URLs or paths starting with '/'",
                value=uri,
            )
    return uris


def _is_report_url(uri: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return False
    if parts.scheme:
        return parts.scheme in {"http", "https"} and bool(parts.netloc)
    return uri.startswith("/") and not uri.startswith("//")


def check_report_to(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _ENDPOINT_NAME.fullmatch(raw):
        raise ConfigurationError(
            f"report_to {raw!r} is invalid: it names an endpoint of the Reporting-Endpoints "
            "header, a lower-case Structured Field key such as 'csp-endpoint'",
            setting="report_to",
            expected="a lower-case endpoint name: a-z, digits, '_', '-', '.', '*'",
            value=raw,
        )
    return raw
