"""Errors raised by ``jivs_security``.

Every error the package raises on purpose derives from
:class:`JivsSecurityError`, which is never raised itself. Where a built-in
type describes the condition too, it is a second base, so ``except
ValueError`` keeps working in code that does not know this package.

::

    JivsSecurityError
    ├── ConfigurationError (ValueError)
    ├── StoreError
    │   └── StoreUnavailable (ConnectionError)
    ├── KeyRingError
    │   ├── KeyNotFound (LookupError)
    │   └── InsecureKeyFile (PermissionError)
    ├── InvalidToken (ValueError)
    │   ├── TokenExpired
    │   └── TokenRevoked
    │       └── RefreshTokenReused
    ├── LoginFailed
    │   ├── PasswordMismatch
    │   └── AccountLocked
    ├── WeakPassword (ValueError)
    │   └── PasswordReused
    ├── InvalidPassword (ValueError)
    ├── InvalidHash (ValueError)
    ├── BreachCheckUnavailable (ConnectionError)
    ├── DecryptionFailed (ValueError)
    ├── SubjectShredded (LookupError)
    ├── SubjectKeyNotFound (LookupError)
    ├── KeyUnavailable
    ├── SqlRejected (ValueError)
    └── RateLimited

Messages name what failed, the value or limit involved and what the caller
can do next. They never contain a token, a key or any other secret; the
structured fields carry identifiers only (``reason``, ``claim``, ``kid``,
``token_id``), so callers need not parse the text.
"""

from __future__ import annotations

__all__ = [
    "AccountLocked",
    "BreachCheckUnavailable",
    "ConfigurationError",
    "DecryptionFailed",
    "InsecureKeyFile",
    "InvalidHash",
    "InvalidPassword",
    "InvalidToken",
    "JivsSecurityError",
    "KeyNotFound",
    "KeyRingError",
    "KeyUnavailable",
    "LoginFailed",
    "PasswordMismatch",
    "PasswordReused",
    "RateLimited",
    "RefreshTokenReused",
    "SqlRejected",
    "StoreError",
    "StoreUnavailable",
    "SubjectKeyNotFound",
    "SubjectShredded",
    "TokenExpired",
    "TokenRevoked",
    "WeakPassword",
]


class JivsSecurityError(Exception):
    """Base of every error raised by ``jivs_security``; never raised itself."""


class ConfigurationError(JivsSecurityError, ValueError):
    """An argument or setting is invalid, so the object cannot be built or used.

    ``setting`` names the argument, ``value`` is the offending value (``None``
    when the value is secret) and ``expected`` describes what is accepted.
    """

    def __init__(self, message: str, *, setting: str, expected: str, value: object = None) -> None:
        super().__init__(message)
        self.setting = setting
        self.expected = expected
        self.value = value


class StoreError(JivsSecurityError):
    """A key-value store rejected an operation.

    ``backend`` is the store class name and ``operation`` the method that
    failed.
    """

    def __init__(self, message: str, *, backend: str, operation: str) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation


class StoreUnavailable(StoreError, ConnectionError):
    """The store could not be reached, or the request timed out.

    Callers must treat this as a failure: a token whose revocation state
    cannot be read is not accepted. ``retryable`` is true when the same call
    may succeed later (a refused connection or a timeout).
    """

    def __init__(
        self, message: str, *, backend: str, operation: str, retryable: bool = True
    ) -> None:
        super().__init__(message, backend=backend, operation=operation)
        self.retryable = retryable


class KeyRingError(JivsSecurityError):
    """A key ring operation failed: a bad key, a bad file or a bad state change."""


class KeyNotFound(KeyRingError, LookupError):
    """No key with the requested key id is in the ring."""

    def __init__(self, message: str, *, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


class InsecureKeyFile(KeyRingError, PermissionError):
    """A key file is readable by users other than its owner.

    ``path`` is the file and ``mode`` its permission bits as found.
    """

    def __init__(self, message: str, *, path: str, mode: int) -> None:
        super().__init__(message)
        self.path = path
        self.mode = mode


class InvalidToken(JivsSecurityError, ValueError):
    """A token failed verification.

    ``reason`` is a stable code such as ``"bad_signature"``,
    ``"unknown_kid"`` or ``"audience_mismatch"``; ``claim`` names the claim or
    header parameter involved, when there is one. Neither ever contains the
    token or part of it.
    """

    def __init__(self, message: str, *, reason: str, claim: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.claim = claim


class TokenExpired(InvalidToken):
    """The token's ``exp`` time, plus the allowed clock leeway, has passed.

    ``expired_at`` is the ``exp`` claim and ``checked_at`` the verifier's
    clock, both in seconds since the Unix epoch; ``leeway`` is in seconds.
    """

    def __init__(
        self, message: str, *, expired_at: float, checked_at: float, leeway: float
    ) -> None:
        super().__init__(message, reason="expired", claim="exp")
        self.expired_at = expired_at
        self.checked_at = checked_at
        self.leeway = leeway


class TokenRevoked(InvalidToken):
    """The token is well formed and signed, but was revoked.

    ``scope`` names the revocation that matched: ``"token"`` (its ``jti``),
    ``"subject"`` (every token of the subject issued before a time) or
    ``"family"`` (every token descended from one sign-in).
    """

    def __init__(self, message: str, *, token_id: str, scope: str) -> None:
        super().__init__(message, reason=f"revoked_{scope}", claim="jti")
        self.token_id = token_id
        self.scope = scope


class RefreshTokenReused(TokenRevoked):
    """A refresh token was presented after it had already been exchanged.

    Following RFC 9700, section 4.14.2, the whole token family is revoked
    when this happens, because either the client or an attacker has a
    stolen copy. ``family_id`` identifies the revoked family.
    """

    def __init__(self, message: str, *, token_id: str, family_id: str) -> None:
        super().__init__(message, token_id=token_id, scope="family")
        self.reason = "refresh_token_reused"
        self.family_id = family_id


# The one message every sign-in failure shows, so that a caller who relays it
# cannot tell an unknown user, a wrong password and a locked account apart
# (OWASP Authentication Cheat Sheet, "Authentication and Error Messages").
LOGIN_FAILED_MESSAGE = (
    "Sign-in failed: the user name or password is wrong, or there were too many attempts. "
    "Check the credentials and try again later."
)


class LoginFailed(JivsSecurityError):
    """A sign-in attempt failed; the message is the same whatever the cause.

    Handle this class, not its subclasses, where the response to the user is
    built. The subclasses and ``reason`` exist for server-side logs:
    ``"password_mismatch"``, ``"unknown_account"`` or ``"locked"``.
    """

    def __init__(self, *, reason: str) -> None:
        super().__init__(LOGIN_FAILED_MESSAGE)
        self.reason = reason


class PasswordMismatch(LoginFailed):
    """The password does not match the stored hash, or the account does not exist."""

    def __init__(self, *, reason: str = "password_mismatch") -> None:
        super().__init__(reason=reason)


class AccountLocked(LoginFailed):
    """Too many failed attempts: the next attempt is allowed after ``retry_after`` seconds.

    ``scope`` names the counter that triggered the lock: ``"account"``,
    ``"account_ip"`` or ``"ip"``. Sending ``retry_after`` to the client tells
    it that the account exists and is under attack; whether to do so is the
    application's choice.
    """

    def __init__(self, *, retry_after: float, scope: str) -> None:
        super().__init__(reason="locked")
        self.retry_after = retry_after
        self.scope = scope


class WeakPassword(JivsSecurityError, ValueError):
    """A new password breaks the password policy.

    ``result`` is the :class:`~jivs_security.passwords.PolicyResult` with every
    failed rule (a stable code and a readable message each); it never contains
    the password.
    """

    def __init__(self, message: str, *, result: object) -> None:
        super().__init__(message)
        self.result = result


class PasswordReused(WeakPassword):
    """A new password matches one of the account's recent passwords.

    ``history_size`` is how many earlier passwords are compared.
    """

    def __init__(self, message: str, *, result: object, history_size: int) -> None:
        super().__init__(message, result=result)
        self.history_size = history_size


class InvalidPassword(JivsSecurityError, ValueError):
    """A password cannot be hashed or checked: not a string, empty, too long or not valid Unicode.

    ``reason`` is ``"not_a_string"``, ``"empty"``, ``"too_long"`` or
    ``"invalid_unicode"``; ``max_length`` is the limit in characters that
    applied. Neither the message nor the fields contain the password or its
    length. At sign-in, treat this error as a failed attempt.
    """

    def __init__(self, message: str, *, reason: str, max_length: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.max_length = max_length


class InvalidHash(JivsSecurityError, ValueError):
    """A stored password hash is malformed or in a format this library does not accept.

    ``reason`` is a stable code such as ``"empty"``, ``"not_argon2id"``,
    ``"malformed"`` or ``"missing_pepper"``. The message names the expected
    format but never contains the stored hash, which is secret.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BreachCheckUnavailable(JivsSecurityError, ConnectionError):
    """A breached-password service could not be asked, and the policy is to fail closed.

    ``service`` names the checker and ``retryable`` is true when the same
    call may succeed later.
    """

    def __init__(self, message: str, *, service: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.service = service
        self.retryable = retryable


class DecryptionFailed(JivsSecurityError, ValueError):
    """A ciphertext could not be decrypted.

    The message and fields are the same whether the key was wrong, the
    encryption context differed, or the header or body was altered or cut
    short, so the error gives an attacker no oracle. Nothing of the
    plaintext is released before this is raised, except by streaming
    decryption, which releases only segments that were verified.
    """

    def __init__(self) -> None:
        super().__init__(
            "Decryption failed: the ciphertext is damaged or was altered, or the key or "
            "encryption context differs from the one used to encrypt."
        )


class KeyUnavailable(JivsSecurityError):
    """A key provider could not wrap or unwrap a data key.

    ``provider`` names the provider (``"local"``, ``"vault-transit"``,
    ``"aws-kms"``) and ``key_id`` the key it was asked to use. ``retryable``
    is true when the same call may succeed later (a timeout or an
    unreachable service), false when it cannot (a disabled or missing key,
    denied access).
    """

    def __init__(self, message: str, *, provider: str, key_id: str, retryable: bool) -> None:
        super().__init__(message)
        self.provider = provider
        self.key_id = key_id
        self.retryable = retryable


class SubjectShredded(JivsSecurityError, LookupError):
    """The data subject's key was destroyed, so data encrypted for them is gone for good.

    ``subject_tag`` identifies the subject by a hash, never by the subject id,
    which may itself be personal data.
    """

    def __init__(self, message: str, *, subject_tag: str) -> None:
        super().__init__(message)
        self.subject_tag = subject_tag


class SubjectKeyNotFound(JivsSecurityError, LookupError):
    """The key registry contains no key for the data subject, not even a shredded one.

    Usually the subject id passed in differs from the one used to encrypt;
    otherwise the registry lost the entry, and with it the subject's data.
    ``subject_tag`` identifies the subject by a hash, never by the subject id.
    """

    def __init__(self, message: str, *, subject_tag: str) -> None:
        super().__init__(message)
        self.subject_tag = subject_tag


class SqlRejected(JivsSecurityError, ValueError):
    """The SQL guard rejected a query.

    ``code`` is a stable violation code from
    :class:`~jivs_security.sql.SqlViolation` (``"table_not_allowed"``,
    ``"multiple_statements"``, ...). ``node_text`` is the offending part of
    the query as the guard regenerated it. Its string and number literals
    are replaced by ``?``, because literals may carry personal data. It is
    ``None`` when no single part is to blame.
    """

    def __init__(self, message: str, *, code: str, node_text: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.node_text = node_text


class RateLimited(JivsSecurityError):
    """A rate limiter denied a request, because the quota is used up or its store failed.

    A store failure denies only under the fail-closed outage policy.
    ``reason`` is ``"limit_exceeded"`` or ``"storage_unavailable"``;
    ``policy`` is the limiter's name. ``retry_after`` is whole seconds, the
    ``Retry-After`` value; ``status_code`` is 429 (RFC 6585, section 4) or,
    for a store outage, 503; ``headers`` contains the response header fields
    (``RateLimit-Policy``, ``RateLimit``, ``Retry-After``). Neither the
    message nor the fields contain the rate-limit key, which is often an IP
    address or a user id.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        policy: str,
        retry_after: int,
        status_code: int,
        headers: dict[str, str],
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.policy = policy
        self.retry_after = retry_after
        self.status_code = status_code
        self.headers = dict(headers)
