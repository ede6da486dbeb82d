"""ContentSecurityPolicy: rendering, per-response nonces, report-only mode and input checks."""

from __future__ import annotations

import re

import pytest

from jivs_security.errors import ConfigurationError
from jivs_security.web import DEFAULT_CSP_DIRECTIVES, ContentSecurityPolicy

OWASP_VALUE = (
    "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
    "frame-ancestors 'none'; upgrade-insecure-requests"
)
NONCE = "AAAAAAAAAAAAAAAAAAAAAA"  # 22 characters: 128 bits in base64 without padding.


def test_default_is_owasp_proposal() -> None:
    """Without directives the value is the OWASP Secure Headers Project proposal."""
    assert ContentSecurityPolicy().value() == OWASP_VALUE


def test_default_directives_constant() -> None:
    """DEFAULT_CSP_DIRECTIVES renders to the same value."""
    assert ContentSecurityPolicy(DEFAULT_CSP_DIRECTIVES).value() == OWASP_VALUE


def test_header_name_enforced() -> None:
    """An enforced policy uses the Content-Security-Policy header."""
    assert ContentSecurityPolicy().header() == ("Content-Security-Policy", OWASP_VALUE)


def test_header_name_report_only() -> None:
    """A report-only policy uses the Report-Only header."""
    policy = ContentSecurityPolicy(report_only=True)

    assert policy.header_name == "Content-Security-Policy-Report-Only"


def test_string_values_split_on_whitespace() -> None:
    """A directive value may be one space-separated string."""
    policy = ContentSecurityPolicy({"img-src": "'self'  https://cdn.example.com"})

    assert policy.value() == "img-src 'self' https://cdn.example.com"


def test_directive_names_lowered() -> None:
    """Directive names are case-insensitive and rendered lower-case."""
    assert ContentSecurityPolicy({"Default-SRC": ["'self'"]}).value() == "default-src 'self'"


def test_keywords_lowered() -> None:
    """Quoted keywords are case-insensitive and rendered lower-case."""
    assert ContentSecurityPolicy({"default-src": ["'SELF'"]}).value() == "default-src 'self'"


@pytest.mark.parametrize(
    "source",
    [
        "https:",
        "wss:",
        "example.com",
        "*.example.com",
        "https://*.example.com:443/static/",
        "http://127.0.0.1:8000",
        "cdn.example.com:*",
        "'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='",
        "'unsafe-hashes'",
        "'wasm-unsafe-eval'",
    ],
)
def test_accepts_source_expressions(source: str) -> None:
    """Scheme, host and hash sources and keywords of the CSP3 grammar are accepted."""
    assert ContentSecurityPolicy({"script-src": [source]}).value() == f"script-src {source}"


def test_new_nonce_has_128_bits() -> None:
    """A new nonce is 22 base64url characters, 128 random bits."""
    nonce = ContentSecurityPolicy.new_nonce()

    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", nonce)


def test_new_nonce_differs_each_call() -> None:
    """Two nonces differ."""
    assert ContentSecurityPolicy.new_nonce() != ContentSecurityPolicy.new_nonce()


def test_nonce_added_to_directive() -> None:
    """A nonce directive gets the response's nonce."""
    policy = ContentSecurityPolicy({"script-src": ["'self'"]}, nonce_directives=["script-src"])

    assert policy.value(NONCE) == f"script-src 'self' 'nonce-{NONCE}'"


def test_nonce_directive_created_when_missing() -> None:
    """A nonce directive absent from directives is added with the nonce alone."""
    policy = ContentSecurityPolicy({"default-src": ["'self'"]}, nonce_directives=["style-src"])

    assert policy.value(NONCE) == f"default-src 'self'; style-src 'nonce-{NONCE}'"


def test_nonce_replaces_none() -> None:
    """'none' in a nonce directive gives way to the nonce."""
    policy = ContentSecurityPolicy({"script-src": ["'none'"]}, nonce_directives=["script-src"])

    assert policy.value(NONCE) == f"script-src 'nonce-{NONCE}'"


def test_nonce_required_when_used() -> None:
    """value() without a nonce fails for a policy with nonce directives."""
    policy = ContentSecurityPolicy(nonce_directives=["script-src"])

    with pytest.raises(ConfigurationError, match="new_nonce") as caught:
        policy.value()

    assert caught.value.setting == "nonce"


def test_nonce_ignored_when_unused() -> None:
    """A policy without nonce directives ignores a nonce."""
    assert ContentSecurityPolicy().value(NONCE) == OWASP_VALUE


@pytest.mark.parametrize(
    "nonce",
    ["short", "A" * 21, f"{NONCE}'; script-src *", f"{NONCE}\r\nX-Injected: 1", f"{NONCE} x"],
)
def test_rejects_malformed_nonce(nonce: str) -> None:
    """A nonce shorter than 128 bits or with characters outside base64 is refused."""
    policy = ContentSecurityPolicy(nonce_directives=["script-src"])

    with pytest.raises(ConfigurationError, match="base64"):
        policy.value(nonce)


def test_strict_policy_value() -> None:
    """strict() adds a nonce-based script-src with 'strict-dynamic' and an https: fallback."""
    value = ContentSecurityPolicy.strict().value(NONCE)

    assert value == f"{OWASP_VALUE}; script-src https: 'nonce-{NONCE}' 'strict-dynamic'"


def test_strict_dynamic_needs_nonce_or_hash() -> None:
    """'strict-dynamic' without a nonce or hash would block every script, so it is refused."""
    with pytest.raises(ConfigurationError, match="nonce or a hash") as caught:
        ContentSecurityPolicy({"script-src": ["'self'"]}, strict_dynamic=True)

    assert caught.value.setting == "strict_dynamic"


def test_strict_dynamic_with_hash() -> None:
    """A hash in script-src is enough for 'strict-dynamic'."""
    digest = "'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='"
    policy = ContentSecurityPolicy({"script-src": [digest]}, strict_dynamic=True)

    assert policy.value() == f"script-src {digest} 'strict-dynamic'"


def test_reporting_directives_rendered() -> None:
    """report-uri and report-to come last, from their own arguments."""
    policy = ContentSecurityPolicy(
        {"default-src": ["'self'"]},
        report_uri=["/csp-reports", "https://reports.example.com/csp"],
        report_to="csp-endpoint",
    )

    assert policy.value() == (
        "default-src 'self'; report-uri /csp-reports https://reports.example.com/csp; "
        "report-to csp-endpoint"
    )


@pytest.mark.parametrize(
    ("directives", "fragment"),
    [
        ({"script-src": ["'self';", "object-src", "*"]}, "';'"),
        ({"script-src": "'self'; object-src *"}, "';'"),
        ({"script-src": ["'self',", "'unsafe-inline'"]}, "','"),
        ({"script-src": ["'self'\r\nSet-Cookie: a=b"]}, "line break"),
        ({"script-src": "'self'\nX: y"}, "line break"),
        ({"script-src": ["'self' https:"]}, "whitespace"),
        ({"script-src": ["caf\u00e9.example"]}, "visible ASCII"),
    ],
)
def test_rejects_header_injection(directives: dict[str, object], fragment: str) -> None:
    """Values with ';', ',', line breaks or inner whitespace are refused."""
    with pytest.raises(ConfigurationError, match=re.escape(fragment)) as caught:
        ContentSecurityPolicy(directives)  # type: ignore[arg-type]

    assert caught.value.setting == "directives"


def test_rejects_unknown_directive() -> None:
    """A misspelt directive is refused, with the known names in the message."""
    with pytest.raises(ConfigurationError, match="script-src") as caught:
        ContentSecurityPolicy({"scirpt-src": ["'self'"]})

    assert caught.value.value == "scirpt-src"


def test_rejects_invalid_directive_name() -> None:
    """A directive name with characters outside letters, digits and '-' is refused."""
    with pytest.raises(ConfigurationError, match="letters, digits"):
        ContentSecurityPolicy({"script-src;": ["'self'"]})


def test_rejects_duplicate_directive() -> None:
    """The same directive twice, in any case, is refused."""
    with pytest.raises(ConfigurationError, match="twice"):
        ContentSecurityPolicy({"img-src": ["'self'"], "IMG-SRC": ["https:"]})


def test_rejects_unquoted_keyword() -> None:
    """self without quotes would be a host name, so it is refused with the fix."""
    with pytest.raises(ConfigurationError, match="single quotes"):
        ContentSecurityPolicy({"default-src": ["self"]})


def test_rejects_none_with_sources() -> None:
    """'none' next to other sources is refused."""
    with pytest.raises(ConfigurationError, match="alone"):
        ContentSecurityPolicy({"default-src": ["'none'", "'self'"]})


def test_rejects_fixed_nonce() -> None:
    """A nonce written into the directives would repeat in every response, so it is refused."""
    with pytest.raises(ConfigurationError, match="nonce_directives"):
        ContentSecurityPolicy({"script-src": [f"'nonce-{NONCE}'"]})


def test_rejects_keyword_in_frame_ancestors() -> None:
    """frame-ancestors takes no script keywords."""
    with pytest.raises(ConfigurationError, match="frame-ancestors"):
        ContentSecurityPolicy({"frame-ancestors": ["'unsafe-inline'"]})


def test_rejects_value_on_valueless_directive() -> None:
    """upgrade-insecure-requests takes no value."""
    with pytest.raises(ConfigurationError, match="takes no value"):
        ContentSecurityPolicy({"upgrade-insecure-requests": ["yes"]})


def test_rejects_empty_source_list() -> None:
    """An empty source list is refused, with 'none' as the fix."""
    with pytest.raises(ConfigurationError, match="'none'"):
        ContentSecurityPolicy({"img-src": []})


def test_rejects_unknown_source_expression() -> None:
    """A token that is no source expression is refused."""
    with pytest.raises(ConfigurationError, match="not a CSP source expression"):
        ContentSecurityPolicy({"img-src": ["'unsafe-everything'"]})


def test_rejects_reporting_in_directives() -> None:
    """report-uri belongs in its own argument."""
    with pytest.raises(ConfigurationError, match="report_uri="):
        ContentSecurityPolicy({"report-uri": ["/csp"]})


@pytest.mark.parametrize(
    "uri", ["javascript:alert(1)", "/csp;script-src *", "//evil.example/csp", "csp", "/a b"]
)
def test_rejects_bad_report_uri(uri: str) -> None:
    """report_uri takes absolute http(s) URLs or paths, without separators."""
    with pytest.raises(ConfigurationError) as caught:
        ContentSecurityPolicy(report_uri=uri)

    assert caught.value.setting == "report_uri"


@pytest.mark.parametrize("name", ["CSP", "csp endpoint", "csp;x", ""])
def test_rejects_bad_report_to(name: str) -> None:
    """report_to is a lower-case endpoint name."""
    with pytest.raises(ConfigurationError) as caught:
        ContentSecurityPolicy(report_to=name)

    assert caught.value.setting == "report_to"


def test_rejects_nonce_for_non_element_directive() -> None:
    """Nonces apply only to script and style directives."""
    with pytest.raises(ConfigurationError) as caught:
        ContentSecurityPolicy(nonce_directives=["img-src"])

    assert caught.value.setting == "nonce_directives"


def test_rejects_empty_policy() -> None:
    """A policy with no directive at all is refused."""
    with pytest.raises(ConfigurationError, match="no directives"):
        ContentSecurityPolicy({})


def test_repr_hides_nonce() -> None:
    """The repr shows a placeholder where each response's nonce goes."""
    policy = ContentSecurityPolicy({"script-src": ["'self'"]}, nonce_directives=["script-src"])

    assert repr(policy) == (
        "ContentSecurityPolicy(header='Content-Security-Policy', "
        "value=\"script-src 'self' 'nonce-...'\")"
    )


def test_equal_policies_hash_alike() -> None:
    """Policies built from the same settings are equal and hash alike."""
    first = ContentSecurityPolicy(report_only=True)
    second = ContentSecurityPolicy(report_only=True)

    assert first == second
    assert hash(first) == hash(second)


def test_report_only_differs_from_enforced() -> None:
    """The report-only flag is part of equality."""
    assert ContentSecurityPolicy() != ContentSecurityPolicy(report_only=True)
