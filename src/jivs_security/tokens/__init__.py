"""JWT access and refresh tokens with revocation, refresh rotation and key rotation.

::

    ring = KeyRing.generate("EdDSA")
    service = TokenService(ring, MemoryStore(), issuer="https://auth.example", audience="api")
    pair = service.issue("user-42", scopes=["orders:read"])
    claims = service.verify(pair.access_token)
    pair = service.refresh(pair.refresh_token)
"""

from jivs_security.errors import InvalidToken, RefreshTokenReused, TokenExpired, TokenRevoked
from jivs_security.tokens._claims import Claims, TokenKind, TokenPair
from jivs_security.tokens._keys import ALGORITHMS, KeyState, SigningKey
from jivs_security.tokens._ring import KeyRing
from jivs_security.tokens._service import TokenService

__all__ = [
    "ALGORITHMS",
    "Claims",
    "InvalidToken",
    "KeyRing",
    "KeyState",
    "RefreshTokenReused",
    "SigningKey",
    "TokenExpired",
    "TokenKind",
    "TokenPair",
    "TokenRevoked",
    "TokenService",
]
