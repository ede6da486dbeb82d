"""SecurityHeaders: the OWASP defaults, per-response CSP values and input checks."""

from __future__ import annotations

import pytest

from jivs_security.errors import ConfigurationError
from jivs_security.web import DEFAULT_PERMISSIONS_POLICY, ContentSecurityPolicy, SecurityHeaders

NONCE = "AAAAAAAAAAAAAAAAAAAAAA"

OWASP_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": DEFAULT_PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Permitted-Cross-Domain-Policies": "none",
    "Content-Security-Policy": (
        "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
        "frame-ancestors 'none'; upgrade-insecure-requests"
    ),
}


def test_defaults_are_owasp_proposal() -> None:
    """With no arguments the headers are the OWASP Secure Headers Project proposal."""
    assert SecurityHeaders().headers() == OWASP_HEADERS


def test_permissions_policy_denies_camera() -> None:
    """The default Permissions-Policy denies powerful features such as the camera."""
    assert "camera=()" in DEFAULT_PERMISSIONS_POLICY.split(", ")


def test_plain_http_omits_hsts() -> None:
    """HSTS is left out of responses over plain HTTP (RFC 6797, section 7.2)."""
    fields = SecurityHeaders().headers(https=False)

    assert "Strict-Transport-Security" not in fields


def test_headers_returns_fresh_dict() -> None:
    """Changing one response's headers does not change the next one's."""
    security = SecurityHeaders()
    first = security.headers()
    first["X-Frame-Options"] = "SAMEORIGIN"

    assert security.headers()["X-Frame-Options"] == "DENY"


def test_none_leaves_header_out() -> None:
    """An argument set to None leaves its header out."""
    fields = SecurityHeaders(frame_options=None, permissions_policy=None, csp=None).headers()

    assert "X-Frame-Options" not in fields
    assert "Permissions-Policy" not in fields
    assert "Content-Security-Policy" not in fields


def test_nonce_reaches_csp() -> None:
    """The response's nonce appears in the CSP value."""
    security = SecurityHeaders(csp=ContentSecurityPolicy.strict())

    fields = security.headers(nonce=NONCE)

    assert f"'nonce-{NONCE}'" in fields["Content-Security-Policy"]


def test_uses_nonce_reported() -> None:
    """uses_nonce is true exactly when headers() needs a nonce."""
    assert SecurityHeaders(csp=ContentSecurityPolicy.strict()).uses_nonce
    assert not SecurityHeaders().uses_nonce


def test_missing_nonce_rejected() -> None:
    """A nonce-based policy without the response's nonce is an error, not a weak header."""
    security = SecurityHeaders(csp=ContentSecurityPolicy.strict())

    with pytest.raises(ConfigurationError, match="nonce"):
        security.headers()


def test_report_only_policy_header() -> None:
    """A report-only policy goes in its own header next to the enforced one."""
    trial = ContentSecurityPolicy({"default-src": ["'none'"]}, report_only=True)
    security = SecurityHeaders(csp=[ContentSecurityPolicy(), trial])

    fields = security.headers()

    assert fields["Content-Security-Policy-Report-Only"] == "default-src 'none'"
    assert fields["Content-Security-Policy"] == OWASP_HEADERS["Content-Security-Policy"]


def test_same_header_policies_joined() -> None:
    """Two enforced policies share one header, separated by a comma."""
    extra = ContentSecurityPolicy({"img-src": ["'self'"]})
    security = SecurityHeaders(csp=[ContentSecurityPolicy(), extra])

    value = security.headers()["Content-Security-Policy"]

    assert value == OWASP_HEADERS["Content-Security-Policy"] + ", img-src 'self'"


def test_frame_options_case_normalised() -> None:
    """X-Frame-Options accepts the value in any case."""
    fields = SecurityHeaders(frame_options="sameorigin").headers()

    assert fields["X-Frame-Options"] == "SAMEORIGIN"


def test_embedder_policy_option() -> None:
    """Cross-Origin-Embedder-Policy is sent when chosen."""
    fields = SecurityHeaders(cross_origin_embedder_policy="require-corp").headers()

    assert fields["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_cache_control_option() -> None:
    """Cache-Control is sent when chosen."""
    fields = SecurityHeaders(cache_control="no-store, max-age=0").headers()

    assert fields["Cache-Control"] == "no-store, max-age=0"


def test_referrer_policy_list_accepted() -> None:
    """A comma-separated Referrer-Policy list is accepted."""
    fields = SecurityHeaders(
        referrer_policy="no-referrer,strict-origin-when-cross-origin"
    ).headers()

    assert fields["Referrer-Policy"] == "no-referrer, strict-origin-when-cross-origin"


def test_hsts_preload_value() -> None:
    """preload is added when asked for."""
    fields = SecurityHeaders(hsts_preload=True).headers()

    assert fields["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains; preload"


def test_reporting_endpoints_rendered() -> None:
    """Reporting-Endpoints is a Structured Field dictionary of quoted URLs."""
    security = SecurityHeaders(
        reporting_endpoints={"csp-endpoint": "https://reports.example.com/csp"}
    )

    fields = security.headers()

    assert fields["Reporting-Endpoints"] == 'csp-endpoint="https://reports.example.com/csp"'


@pytest.mark.parametrize(
    ("arguments", "setting"),
    [
        ({"frame_options": "ALLOW-FROM https://example.com"}, "frame_options"),
        ({"referrer_policy": "no-referer"}, "referrer_policy"),
        ({"cross_origin_opener_policy": "same-site"}, "cross_origin_opener_policy"),
        ({"cross_origin_resource_policy": "none"}, "cross_origin_resource_policy"),
        ({"cross_origin_embedder_policy": "require"}, "cross_origin_embedder_policy"),
        ({"permitted_cross_domain_policies": "any"}, "permitted_cross_domain_policies"),
        ({"hsts_max_age": -1}, "hsts_max_age"),
        ({"hsts_max_age": True}, "hsts_max_age"),
        ({"hsts_max_age": 1.5}, "hsts_max_age"),
    ],
)
def test_rejects_unknown_values(arguments: dict[str, object], setting: str) -> None:
    """Values outside each header's specification are refused, naming the argument."""
    with pytest.raises(ConfigurationError) as caught:
        SecurityHeaders(**arguments)  # type: ignore[arg-type]

    assert caught.value.setting == setting


@pytest.mark.parametrize(
    ("arguments", "setting"),
    [
        ({"permissions_policy": "camera=()\r\nSet-Cookie: session=x"}, "permissions_policy"),
        ({"permissions_policy": "camera=()\nX: y"}, "permissions_policy"),
        ({"cache_control": "no-store\r\n\r\n<html>"}, "cache_control"),
        ({"cache_control": "   "}, "cache_control"),
    ],
)
def test_rejects_header_injection(arguments: dict[str, object], setting: str) -> None:
    """A free-form value with a line break or control character is refused."""
    with pytest.raises(ConfigurationError, match="inject") as caught:
        SecurityHeaders(**arguments)  # type: ignore[arg-type]

    assert caught.value.setting == setting


def test_preload_requires_subdomains() -> None:
    """preload without includeSubDomains is refused."""
    with pytest.raises(ConfigurationError, match=r"hstspreload\.org"):
        SecurityHeaders(hsts_preload=True, hsts_include_subdomains=False)


def test_preload_requires_one_year() -> None:
    """preload with a max-age under one year is refused."""
    with pytest.raises(ConfigurationError, match="31536000"):
        SecurityHeaders(hsts_preload=True, hsts_max_age=86_400)


@pytest.mark.parametrize(
    "endpoints",
    [
        {"csp": "http://reports.example.com/csp"},
        {"csp": 'https://reports.example.com/"x'},
        {"csp": "https://reports.example.com/\r\nX: y"},
        {"CSP": "https://reports.example.com/csp"},
    ],
)
def test_rejects_bad_reporting_endpoint(endpoints: dict[str, str]) -> None:
    """Endpoint names are lower-case keys and URLs are https without quotes or breaks."""
    with pytest.raises(ConfigurationError) as caught:
        SecurityHeaders(reporting_endpoints=endpoints)

    assert caught.value.setting == "reporting_endpoints"


def test_rejects_non_policy_csp() -> None:
    """csp takes ContentSecurityPolicy objects, not strings."""
    with pytest.raises(ConfigurationError) as caught:
        SecurityHeaders(csp=["default-src 'self'"])  # type: ignore[list-item]

    assert caught.value.setting == "csp"


def test_repr_lists_header_names() -> None:
    """The repr names the headers that are sent."""
    security = SecurityHeaders(permissions_policy=None, csp=None, hsts_max_age=None)

    assert repr(security) == (
        "SecurityHeaders(headers=['X-Content-Type-Options', 'X-Frame-Options', "
        "'Referrer-Policy', 'Cross-Origin-Opener-Policy', 'Cross-Origin-Resource-Policy', "
        "'X-Permitted-Cross-Domain-Policies'])"
    )
