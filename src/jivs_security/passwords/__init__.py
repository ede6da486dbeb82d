"""Password hashing, password policy, breached-password checks, history and lockout.

::

    hasher = PasswordHasher()                      # Argon2id, OWASP parameters
    stored = hasher.hash(password)
    hasher.verify(stored, attempt)                 # raises PasswordMismatch

    policy = PasswordPolicy.nist()                 # NIST SP 800-63B-4
    policy.enforce(password, user_inputs=[email])  # raises WeakPassword

    guard = LockoutGuard(store)
    guard.login(account, ip, lambda: hasher.verify(stored, attempt))

Every sign-in failure (:class:`~jivs_security.errors.PasswordMismatch`,
:class:`~jivs_security.errors.AccountLocked`) shares one base,
:class:`~jivs_security.errors.LoginFailed`, and one message, so the
response to the user cannot tell an unknown account, a wrong password and a
locked account apart.
"""

from jivs_security.errors import (
    AccountLocked,
    BreachCheckUnavailable,
    InvalidHash,
    InvalidPassword,
    LoginFailed,
    PasswordMismatch,
    PasswordReused,
    WeakPassword,
)
from jivs_security.passwords._blocklist import Blocklist
from jivs_security.passwords._breach import (
    BreachChecker,
    OfflineBreachChecker,
    PwnedPasswordsChecker,
)
from jivs_security.passwords._hashing import PasswordHasher, VerifyResult
from jivs_security.passwords._history import PasswordHistory
from jivs_security.passwords._lockout import LockoutGuard, LoginAttempt
from jivs_security.passwords._lockout_policy import DEFAULT_LOCKOUT_POLICY, LockoutPolicy
from jivs_security.passwords._policy import PasswordPolicy, PolicyResult, Violation
from jivs_security.passwords._profiles import (
    DEFAULT_PROFILE,
    OWASP_MINIMUM,
    RFC_9106_HIGH_MEMORY,
    RFC_9106_LOW_MEMORY,
    TESTS_ONLY,
    HashProfile,
    calibrate,
)
from jivs_security.passwords._strength import StrengthEstimate, estimate_strength

__all__ = [
    "DEFAULT_LOCKOUT_POLICY",
    "DEFAULT_PROFILE",
    "OWASP_MINIMUM",
    "RFC_9106_HIGH_MEMORY",
    "RFC_9106_LOW_MEMORY",
    "TESTS_ONLY",
    "AccountLocked",
    "Blocklist",
    "BreachCheckUnavailable",
    "BreachChecker",
    "HashProfile",
    "InvalidHash",
    "InvalidPassword",
    "LockoutGuard",
    "LockoutPolicy",
    "LoginAttempt",
    "LoginFailed",
    "OfflineBreachChecker",
    "PasswordHasher",
    "PasswordHistory",
    "PasswordMismatch",
    "PasswordPolicy",
    "PasswordReused",
    "PolicyResult",
    "PwnedPasswordsChecker",
    "StrengthEstimate",
    "VerifyResult",
    "Violation",
    "WeakPassword",
    "calibrate",
    "estimate_strength",
]
