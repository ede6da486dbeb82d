"""Content-Security-Policy header values: directives, per-request nonces and report-only mode.

Every setting is checked against the grammar of Content Security Policy
Level 3 (see ``_csp_grammar``) when the policy is built: a directive value
is visible ASCII without ``;`` and ``,``, and every source expression
matches the ``source-expression`` rule. So no value built here can end a
directive, start a second policy or break the header line.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from jivs_security.errors import ConfigurationError
from jivs_security.web._csp_grammar import (
    HASH_SOURCE,
    check_directive_name,
    check_directive_value,
    check_nonce,
    check_nonce_directive,
    check_report_to,
    check_report_uris,
    directive_error,
)

__all__ = ["DEFAULT_CSP_DIRECTIVES", "ContentSecurityPolicy"]

# The Content-Security-Policy value that the OWASP Secure Headers Project
# proposes (mainsite/03_best_practices.md, "Configuration proposal").
DEFAULT_CSP_DIRECTIVES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "default-src": ("'self'",),
        "form-action": ("'self'",),
        "base-uri": ("'self'",),
        "object-src": ("'none'",),
        "frame-ancestors": ("'none'",),
        "upgrade-insecure-requests": (),
    }
)

# Bytes of randomness per nonce. CSP3, "Nonce Reuse": the value
# SHOULD be at least 128 bits long and come from a CSPRNG, and the server
# MUST generate a new one each time it transmits a policy.
NONCE_BYTES: Final = 16


class ContentSecurityPolicy:
    """One Content Security Policy, rendered as a header value per response.

    ``directives`` maps directive names to their values, each a list of
    source expressions or one space-separated string. ``None`` (the
    default) means :data:`DEFAULT_CSP_DIRECTIVES`, the OWASP Secure Headers
    Project proposal. Names and values are checked against the CSP3 grammar
    when the policy is built, and a :class:`~jivs_security.errors.ConfigurationError`
    names the directive and value that failed.

    Each directive in ``nonce_directives`` (``script-src``, ``style-src`` and
    their ``-elem`` forms) receives ``'nonce-<value>'`` for the response;
    one that ``directives`` lacks is added with the nonce alone, which
    replaces the fallback to ``default-src`` for that directive.
    ``strict_dynamic`` adds ``'strict-dynamic'`` to ``script-src``, so scripts
    loaded by a nonced script may load further scripts (CSP3, "Usage of
    'strict-dynamic'"); it needs a nonce or a hash in ``script-src``.

    ``report_only`` selects the ``Content-Security-Policy-Report-Only``
    header, which reports violations without blocking anything.
    ``report_uri`` (deprecated by CSP3, still the only reporting that some
    browsers support) and ``report_to`` (an endpoint name from the
    ``Reporting-Endpoints`` header) add the reporting directives.
    """

    __slots__ = (
        "_directives",
        "_nonce_directives",
        "_report_only",
        "_report_to",
        "_report_uri",
        "_strict_dynamic",
    )

    def __init__(
        self,
        directives: Mapping[str, str | Iterable[str] | None] | None = None,
        *,
        report_only: bool = False,
        report_uri: str | Sequence[str] | None = None,
        report_to: str | None = None,
        nonce_directives: Iterable[str] = (),
        strict_dynamic: bool = False,
    ) -> None:
        source = DEFAULT_CSP_DIRECTIVES if directives is None else directives
        checked: dict[str, tuple[str, ...]] = {}
        for raw_name, raw_value in source.items():
            name = check_directive_name(raw_name)
            if name in checked:
                raise directive_error(
                    f"directive {name!r} is given twice (names are case-insensitive); "
                    "browsers ignore every copy after the first, so merge the values",
                    raw_name,
                )
            checked[name] = check_directive_value(name, raw_value)

        nonce_names = tuple(dict.fromkeys(check_nonce_directive(name) for name in nonce_directives))
        if strict_dynamic:
            script_sources = checked.get("script-src", ())
            has_hash = any(HASH_SOURCE.fullmatch(token) for token in script_sources)
            if "script-src" not in nonce_names and not has_hash:
                raise ConfigurationError(
                    "strict_dynamic=True needs a nonce or a hash in script-src, because "
                    "'strict-dynamic' ignores host and 'self' sources and would block every "
                    "script; add 'script-src' to nonce_directives",
                    setting="strict_dynamic",
                    expected="'script-src' in nonce_directives, or a hash source in script-src",
                    value=strict_dynamic,
                )

        self._directives: Mapping[str, tuple[str, ...]] = MappingProxyType(checked)
        self._nonce_directives = nonce_names
        self._strict_dynamic = bool(strict_dynamic)
        self._report_only = bool(report_only)
        self._report_uri = check_report_uris(report_uri)
        self._report_to = check_report_to(report_to)
        if not checked and not nonce_names:
            raise ConfigurationError(
                "the policy has no directives, and an empty Content-Security-Policy value is "
                "invalid; pass at least one directive, or directives=None for the default",
                setting="directives",
                expected="at least one directive",
                value=dict(source),
            )

    @classmethod
    def strict(
        cls,
        *,
        report_only: bool = False,
        report_uri: str | Sequence[str] | None = None,
        report_to: str | None = None,
    ) -> ContentSecurityPolicy:
        """Return the default policy plus a nonce-based ``script-src`` with ``'strict-dynamic'``.

        Every inline and external script then needs the response's nonce,
        and scripts it loads are trusted in turn. This is the nonce-based
        "Strict CSP" of CSP3, including its advice to list ``https:`` for
        browsers older than CSP3, which ignore ``'strict-dynamic'``; CSP3
        browsers ignore ``https:`` next to it.
        """
        return cls(
            {**DEFAULT_CSP_DIRECTIVES, "script-src": ("https:",)},
            report_only=report_only,
            report_uri=report_uri,
            report_to=report_to,
            nonce_directives=("script-src",),
            strict_dynamic=True,
        )

    @staticmethod
    def new_nonce() -> str:
        """Return a fresh nonce: 128 random bits from :mod:`secrets`, in base64url.

        Call it once per response, put it in the policy with :meth:`value`
        and in the ``nonce`` attribute of each allowed script or style
        element. Reusing a nonce across responses lets an attacker who saw
        one response run script in the next.
        """
        return secrets.token_urlsafe(NONCE_BYTES)

    @property
    def header_name(self) -> str:
        """``Content-Security-Policy``, or ``Content-Security-Policy-Report-Only``."""
        if self._report_only:
            return "Content-Security-Policy-Report-Only"
        return "Content-Security-Policy"

    @property
    def report_only(self) -> bool:
        """Whether violations are only reported, not blocked."""
        return self._report_only

    @property
    def directives(self) -> Mapping[str, tuple[str, ...]]:
        """The checked directives without nonces and reporting, as lower-case names."""
        return self._directives

    @property
    def uses_nonce(self) -> bool:
        """Whether :meth:`value` needs the response's nonce."""
        return bool(self._nonce_directives)

    def value(self, nonce: str | None = None) -> str:
        """Return the header value for one response.

        ``nonce`` is required when :attr:`uses_nonce` is true; policies
        without nonce directives ignore it, so one nonce can be passed to
        every policy of a response.
        """
        if self._nonce_directives:
            if nonce is None:
                raise ConfigurationError(
                    "this policy puts a nonce in "
                    f"{', '.join(self._nonce_directives)}, so value() needs the response's "
                    "nonce; pass nonce=ContentSecurityPolicy.new_nonce(), once per response",
                    setting="nonce",
                    expected="a nonce from ContentSecurityPolicy.new_nonce()",
                )
            check_nonce(nonce)
            return self._render(f"'nonce-{nonce}'")
        return self._render(None)

    def header(self, nonce: str | None = None) -> tuple[str, str]:
        """Return the header name and :meth:`value` as a pair."""
        return self.header_name, self.value(nonce)

    def __repr__(self) -> str:
        # The placeholder stands for the nonce of each response.
        placeholder = "'nonce-...'" if self._nonce_directives else None
        return (
            f"ContentSecurityPolicy(header={self.header_name!r}, "
            f"value={self._render(placeholder)!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContentSecurityPolicy):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[object, ...]:
        return (
            tuple(self._directives.items()),
            self._nonce_directives,
            self._strict_dynamic,
            self._report_only,
            self._report_uri,
            self._report_to,
        )

    def _render(self, nonce_source: str | None) -> str:
        rendered = {name: list(values) for name, values in self._directives.items()}
        for name in self._nonce_directives:
            values = rendered.setdefault(name, [])
            # 'none' next to a nonce is ignored by browsers but reads as a contradiction.
            if values == ["'none'"]:
                values.clear()
            if nonce_source is not None:
                values.append(nonce_source)
        if self._strict_dynamic and "'strict-dynamic'" not in rendered["script-src"]:
            rendered["script-src"].append("'strict-dynamic'")
        if self._report_uri:
            rendered["report-uri"] = list(self._report_uri)
        if self._report_to is not None:
            rendered["report-to"] = [self._report_to]
        return "; ".join(" ".join([name, *values]) for name, values in rendered.items())
