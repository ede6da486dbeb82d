"""Web controls: HTML sanitising, security response headers, CSP and rate limiting.

::

    safe = sanitize_html(comment_html)                  # nh3, a safe default policy
    headers = SecurityHeaders(csp=ContentSecurityPolicy.strict())
    nonce = ContentSecurityPolicy.new_nonce()           # once per response
    response.headers.update(headers.headers(nonce=nonce))

    limiter = RateLimiter("100/minute", storage="redis://127.0.0.1:6379/0")
    decision = limiter.hit(client_address)
    if not decision.allowed:
        return Response(status=decision.status_code, headers=decision.headers)

The sanitizer needs the ``nh3`` package and the rate limiter the ``limits``
package; both come with the ``web`` extra (``pip install 'jivs[web]'``).
"""

from jivs_security.errors import RateLimited
from jivs_security.web._csp import DEFAULT_CSP_DIRECTIVES, ContentSecurityPolicy
from jivs_security.web._headers import DEFAULT_PERMISSIONS_POLICY, SecurityHeaders
from jivs_security.web._ratelimit import RateLimitDecision, RateLimiter, StorageOutagePolicy
from jivs_security.web._sanitize import (
    DEFAULT_SANITIZER_POLICY,
    SanitizerPolicy,
    escape_text,
    sanitize_html,
)

__all__ = [
    "DEFAULT_CSP_DIRECTIVES",
    "DEFAULT_PERMISSIONS_POLICY",
    "DEFAULT_SANITIZER_POLICY",
    "ContentSecurityPolicy",
    "RateLimitDecision",
    "RateLimited",
    "RateLimiter",
    "SanitizerPolicy",
    "SecurityHeaders",
    "StorageOutagePolicy",
    "escape_text",
    "sanitize_html",
]
