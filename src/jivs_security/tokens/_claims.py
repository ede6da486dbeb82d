"""The results of issuing and verifying tokens: :class:`Claims` and :class:`TokenPair`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Claims", "TokenKind", "TokenPair"]


class TokenKind(enum.Enum):
    """The two token kinds, named by their JOSE ``typ`` header value.

    Explicit typing (RFC 8725, section 3.11) keeps a refresh token from being
    accepted where an access token is expected, and the reverse. ``at+jwt``
    is the type RFC 9068 registers for access tokens; ``rt+jwt`` is this
    library's type for refresh tokens.
    """

    ACCESS = "at+jwt"
    REFRESH = "rt+jwt"


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of a token.

    Times are seconds since the Unix epoch (RFC 7519 NumericDate).
    ``extra`` contains the claims the application added at issue time.
    """

    kind: TokenKind
    subject: str
    issuer: str
    audience: tuple[str, ...]
    issued_at: float
    not_before: float | None
    expires_at: float
    token_id: str
    family_id: str
    scopes: frozenset[str]
    key_id: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def has_scopes(self, *required: str) -> bool:
        """Return whether every scope in ``required`` was granted."""
        return self.scopes.issuperset(required)


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and the refresh token that renews it.

    The token strings are bearer credentials, so ``repr`` leaves them out.
    :meth:`as_response` returns the fields of an OAuth 2.0 token response
    (RFC 6749, section 5.1).
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    subject: str
    family_id: str
    scopes: frozenset[str]
    access_expires_at: float
    refresh_expires_at: float
    token_type: str = "Bearer"  # noqa: S105  (RFC 6750 token type, not a secret)

    def expires_in(self, now: float) -> int:
        """Return the whole seconds the access token stays valid after ``now``."""
        return max(0, int(self.access_expires_at - now))

    def as_response(self, now: float) -> dict[str, Any]:
        """Return the JSON body of an OAuth 2.0 token response, as of ``now``."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in(now),
            "refresh_token": self.refresh_token,
        }
        if self.scopes:
            body["scope"] = " ".join(sorted(self.scopes))
        return body
