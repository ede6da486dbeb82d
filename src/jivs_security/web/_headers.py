"""Security response headers with the defaults of the OWASP Secure Headers Project.

Each default below is the value that the project's "Best Practices" page
proposes in its "Configuration proposal" table (OWASP Secure Headers
Project, www-project-secure-headers, mainsite/03_best_practices.md, the
table that ci/headers_add.json mirrors). Three headers of that table are
off by default, because they change how a site works rather than harden
it. ``Cross-Origin-Embedder-Policy: require-corp`` blocks every
cross-origin subresource that does not opt in. ``Cache-Control: no-store,
max-age=0`` disables caching. ``Clear-Site-Data`` belongs on the sign-out
response only. ``X-DNS-Prefetch-Control`` is left out as well, because the
project proposes it only for responses with personal data or HTML
injection risk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from jivs_security.errors import ConfigurationError
from jivs_security.web._csp import ContentSecurityPolicy

__all__ = ["DEFAULT_CSP", "DEFAULT_HSTS_MAX_AGE", "DEFAULT_PERMISSIONS_POLICY", "SecurityHeaders"]

# Seconds: two years, the OWASP proposal "max-age=63072000; includeSubDomains".
DEFAULT_HSTS_MAX_AGE: Final = 63_072_000

# Seconds: one year. The hstspreload.org submission requirements ask for at
# least this max-age, with includeSubDomains and preload, before a domain is
# added to the preload list that browsers ship.
_PRELOAD_MIN_MAX_AGE: Final = 31_536_000

# The OWASP Content-Security-Policy proposal; see DEFAULT_CSP_DIRECTIVES.
DEFAULT_CSP: Final = ContentSecurityPolicy()

# The OWASP proposal, which lists only features that Chromium 140 supports
# (tested by the project against that version). Every feature is denied to
# every origin except synchronous XMLHttpRequest, which same-origin script
# may still use.
DEFAULT_PERMISSIONS_POLICY: Final = (
    "accelerometer=(), autoplay=(), camera=(), cross-origin-isolated=(), "
    "display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), "
    "keyboard-map=(), magnetometer=(), microphone=(), midi=(), payment=(), "
    "picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), "
    "sync-xhr=(self), usb=(), web-share=(), xr-spatial-tracking=(), clipboard-read=(), "
    "clipboard-write=(), gamepad=(), hid=(), idle-detection=(), interest-cohort=(), "
    "serial=(), unload=()"
)

# Values each header accepts, as MDN Web Docs' header reference lists them.
# Browsers ignore a value they do not know, so a typo would silently drop
# the protection. This module rejects such values instead.
_FRAME_OPTIONS: Final = frozenset({"DENY", "SAMEORIGIN"})
_REFERRER_POLICIES: Final = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "same-origin",
        "origin",
        "strict-origin",
        "origin-when-cross-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)
_OPENER_POLICIES: Final = frozenset(
    {"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}
)
_RESOURCE_POLICIES: Final = frozenset({"same-origin", "same-site", "cross-origin"})
_EMBEDDER_POLICIES: Final = frozenset({"require-corp", "credentialless", "unsafe-none"})
_CROSS_DOMAIN_POLICIES: Final = frozenset(
    {"none", "master-only", "by-content-type", "by-ftp-filename", "all", "none-this-response"}
)

# Printable ASCII and spaces only, so no value can end the header line.
_FIELD_VALUE: Final = re.compile(r"[\x20-\x7e]*")
# A Structured Field key (RFC 9651), the endpoint name in Reporting-Endpoints.
_ENDPOINT_NAME: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
# A URL inside a Structured Field string: printable ASCII without '"' and '\'.
_ENDPOINT_URL: Final = re.compile(r"https://[\x21\x23-\x5b\x5d-\x7e]+")


class SecurityHeaders:
    """The security headers of every response, computed once and copied per response.

    With no arguments the headers are the OWASP Secure Headers Project
    proposal (see the module documentation): HSTS for two years with
    subdomains, the OWASP Content-Security-Policy, ``nosniff``,
    ``X-Frame-Options: DENY`` beside CSP ``frame-ancestors 'none'``,
    ``Referrer-Policy: no-referrer``, the OWASP Permissions-Policy,
    ``Cross-Origin-Opener-Policy`` and ``Cross-Origin-Resource-Policy``
    ``same-origin``, and ``X-Permitted-Cross-Domain-Policies: none``.

    Set an argument to ``None`` to leave its header out. ``csp`` takes one
    :class:`ContentSecurityPolicy` or several, for example an enforced
    policy and a stricter report-only one under test. Policies with the
    same header name are joined into one header, which browsers read as a
    list of policies that all apply. ``reporting_endpoints`` maps endpoint
    names (those that ``report_to`` uses) to HTTPS URLs for the
    ``Reporting-Endpoints`` header. Every value is checked when the object
    is built; a :class:`~jivs_security.errors.ConfigurationError` names the
    header and value that failed.
    """

    __slots__ = ("_csp", "_static")

    def __init__(
        self,
        *,
        hsts_max_age: int | None = DEFAULT_HSTS_MAX_AGE,
        hsts_include_subdomains: bool = True,
        hsts_preload: bool = False,
        csp: ContentSecurityPolicy | Sequence[ContentSecurityPolicy] | None = DEFAULT_CSP,
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "no-referrer",
        permissions_policy: str | None = DEFAULT_PERMISSIONS_POLICY,
        cross_origin_opener_policy: str | None = "same-origin",
        cross_origin_resource_policy: str | None = "same-origin",
        cross_origin_embedder_policy: str | None = None,
        permitted_cross_domain_policies: str | None = "none",
        cache_control: str | None = None,
        reporting_endpoints: Mapping[str, str] | None = None,
    ) -> None:
        static: dict[str, str] = {}
        if hsts_max_age is not None:
            static["Strict-Transport-Security"] = _hsts_value(
                hsts_max_age, hsts_include_subdomains, hsts_preload
            )
        static["X-Content-Type-Options"] = "nosniff"
        if frame_options is not None:
            static["X-Frame-Options"] = _choice(
                "frame_options", frame_options.upper(), _FRAME_OPTIONS
            )
        if referrer_policy is not None:
            static["Referrer-Policy"] = _referrer_policy(referrer_policy)
        if permissions_policy is not None:
            static["Permissions-Policy"] = _field_value("permissions_policy", permissions_policy)
        if cross_origin_opener_policy is not None:
            static["Cross-Origin-Opener-Policy"] = _choice(
                "cross_origin_opener_policy", cross_origin_opener_policy, _OPENER_POLICIES
            )
        if cross_origin_resource_policy is not None:
            static["Cross-Origin-Resource-Policy"] = _choice(
                "cross_origin_resource_policy", cross_origin_resource_policy, _RESOURCE_POLICIES
            )
        if cross_origin_embedder_policy is not None:
            static["Cross-Origin-Embedder-Policy"] = _choice(
                "cross_origin_embedder_policy", cross_origin_embedder_policy, _EMBEDDER_POLICIES
            )
        if permitted_cross_domain_policies is not None:
            static["X-Permitted-Cross-Domain-Policies"] = _choice(
                "permitted_cross_domain_policies",
                permitted_cross_domain_policies,
                _CROSS_DOMAIN_POLICIES,
            )
        if cache_control is not None:
            static["Cache-Control"] = _field_value("cache_control", cache_control)
        if reporting_endpoints:
            static["Reporting-Endpoints"] = _reporting_endpoints(reporting_endpoints)

        self._static: Mapping[str, str] = MappingProxyType(static)
        self._csp = _policies(csp)

    @property
    def policies(self) -> tuple[ContentSecurityPolicy, ...]:
        """The Content Security Policies sent with every response."""
        return self._csp

    @property
    def uses_nonce(self) -> bool:
        """Whether :meth:`headers` needs the response's nonce."""
        return any(policy.uses_nonce for policy in self._csp)

    def headers(self, *, nonce: str | None = None, https: bool = True) -> dict[str, str]:
        """Return the header fields for one response, as a new dict the caller may change.

        ``nonce`` is the response's CSP nonce from
        :meth:`ContentSecurityPolicy.new_nonce`, required when
        :attr:`uses_nonce` is true. With ``https=False`` the
        ``Strict-Transport-Security`` header is left out, because RFC 6797,
        section 7.2, forbids it on responses over plain HTTP.
        """
        fields = dict(self._static)
        if not https:
            fields.pop("Strict-Transport-Security", None)
        for policy in self._csp:
            value = policy.value(nonce)
            name = policy.header_name
            fields[name] = f"{fields[name]}, {value}" if name in fields else value
        return fields

    def __repr__(self) -> str:
        names = [*self._static, *dict.fromkeys(policy.header_name for policy in self._csp)]
        return f"SecurityHeaders(headers={names!r})"


def _bad(setting: str, value: object, expected: str, reason: str = "") -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}{reason}",
        setting=setting,
        expected=expected,
        value=value,
    )


def _hsts_value(max_age: object, include_subdomains: bool, preload: bool) -> str:
    if type(max_age) is not int or max_age < 0:
        raise _bad("hsts_max_age", max_age, "a whole number of seconds, 0 or more")
    if preload and (not include_subdomains or max_age < _PRELOAD_MIN_MAX_AGE):
        raise _bad(
            "hsts_preload",
            preload,
            f"False unless hsts_include_subdomains is True and hsts_max_age is at least "
            f"{_PRELOAD_MIN_MAX_AGE}",
            "; the hstspreload.org requirements admit only such policies to the preload list",
        )
    parts = [f"max-age={max_age}"]
    if include_subdomains:
        parts.append("includeSubDomains")
    if preload:
        parts.append("preload")
    return "; ".join(parts)


def _choice(setting: str, value: object, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _bad(setting, value, f"one of {', '.join(sorted(allowed))}, or None")
    return value


def _referrer_policy(value: object) -> str:
    # A comma-separated list is valid; browsers apply the last policy they know.
    if not isinstance(value, str):
        raise _bad("referrer_policy", value, "a Referrer-Policy token or a comma-separated list")
    tokens = [token.strip() for token in value.split(",")]
    unknown = [token for token in tokens if token not in _REFERRER_POLICIES]
    if unknown:
        raise _bad(
            "referrer_policy",
            value,
            f"one or more of {', '.join(sorted(_REFERRER_POLICIES))}",
            f"; unknown: {', '.join(repr(token) for token in unknown)}",
        )
    return ", ".join(tokens)


def _field_value(setting: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or not _FIELD_VALUE.fullmatch(value):
        raise _bad(
            setting,
            value,
            "non-empty printable ASCII",
            "; a line break or control character would end the header line and let the "
            "value inject another header",
        )
    return value


def _reporting_endpoints(endpoints: Mapping[str, str]) -> str:
    members = []
    for name, url in endpoints.items():
        if not isinstance(name, str) or not _ENDPOINT_NAME.fullmatch(name):
            raise _bad(
                "reporting_endpoints",
                name,
                "lower-case endpoint names (a-z, digits, '_', '-', '.', '*')",
            )
        if not isinstance(url, str) or not _ENDPOINT_URL.fullmatch(url):
            raise _bad(
                "reporting_endpoints",
                url,
                "https:// URLs of printable ASCII without '\"' or '\\'",
                "; the Reporting API sends reports only to potentially trustworthy URLs",
            )
        members.append(f'{name}="{url}"')
    return ", ".join(members)


def _policies(
    csp: ContentSecurityPolicy | Sequence[ContentSecurityPolicy] | None,
) -> tuple[ContentSecurityPolicy, ...]:
    if csp is None:
        return ()
    policies = (csp,) if isinstance(csp, ContentSecurityPolicy) else tuple(csp)
    for policy in policies:
        if not isinstance(policy, ContentSecurityPolicy):
            raise _bad("csp", policy, "a ContentSecurityPolicy or a sequence of them")
    return policies
