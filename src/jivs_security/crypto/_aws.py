"""AWS KMS as a key provider: data keys generated and wrapped by a KMS key through boto3."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit, urlunsplit

from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._provider import WrappedKey
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.exceptions import BotoCoreError, ClientError
    from mypy_boto3_kms import KMSClient

__all__ = ["AwsKmsProvider"]

logger = logging.getLogger("jivs_security.crypto")

PROVIDER_ID = "aws-kms"

_DATA_KEY_BYTES = 32

# KMS accepts a key id, key ARN, alias name or alias ARN of 1 to 2,048
# characters (the KeyIdType shape of the KMS service model in botocore).
_MAX_KEY_ID_LENGTH = 2048

# A key ARN names exactly one key, so it needs no DescribeKey call to resolve.
# The partition is "aws", "aws-cn", "aws-us-gov" or another "aws-" variant.
_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+")

# Error codes that mean the ciphertext does not decrypt under the key and
# encryption context of the request. IncorrectKeyException counts, because
# unwrap and rewrap pass the key that the wrapped key names as KeyId, so the
# error means that a ciphertext made under another key was swapped in.
_NOT_AUTHENTIC_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})

# Error codes that mean the request rate was too high. KMS itself returns
# ThrottlingException, and the others come from proxies and KMS-compatible services.
_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)

# Reasons and next steps for errors that a retry cannot fix, keyed by KMS error code.
_PERMANENT_ERRORS: dict[str, tuple[str, str]] = {
    "NotFoundException": (
        "the key or alias does not exist in this account and region",
        "Check the key id, the region and the endpoint, or create the key.",
    ),
    "DisabledException": (
        "the key is disabled",
        "Enable the key (EnableKey) or configure another key.",
    ),
    "KMSInvalidStateException": (
        "the key's state does not allow the operation, for example because it is pending deletion",
        "Cancel the key's deletion (CancelKeyDeletion) or configure another key.",
    ),
    "AccessDeniedException": (
        "the caller is not allowed to use the key",
        "Allow this operation on the key in its key policy or in an IAM policy of the caller.",
    ),
    "IncorrectKeyException": (
        "the ciphertext was encrypted under another key",
        "Unwrap it with a provider for the key that wrapped it.",
    ),
    "InvalidKeyUsageException": (
        "the key is not a symmetric encryption key",
        "Configure a key with key usage ENCRYPT_DECRYPT and key spec SYMMETRIC_DEFAULT.",
    ),
    "UnrecognizedClientException": (
        "KMS did not accept the credentials",
        "Check or renew the AWS credentials.",
    ),
    "InvalidSignatureException": (
        "KMS did not accept the request signature",
        "Check the AWS credentials and the clock of this host.",
    ),
    "ExpiredTokenException": (
        "the session credentials have expired",
        "Renew the AWS credentials.",
    ),
}


class AwsKmsProvider:
    """A :class:`~jivs_security.crypto.KeyProvider` that keeps its KEK in AWS KMS.

    ``key_id`` is a key id, key ARN, alias name (``"alias/app"``) or alias
    ARN of a symmetric encryption key. Unless it is a key ARN, the provider
    resolves it to the key ARN once, with DescribeKey at first use, and uses
    that key from then on, so pointing the alias at another key affects only
    providers created afterwards. Wrapped keys record the key ARN.

    Data keys are created by KMS (GenerateDataKey) and re-encrypted inside
    KMS (ReEncrypt), so only :meth:`generate` and :meth:`unwrap` bring a data
    key into this process. The encryption context is passed to KMS as its
    encryption context, which KMS binds to the ciphertext: decryption with
    another context fails. KMS rotates a key's material without changing its
    ARN and keeps every earlier version for decryption (AWS KMS
    Cryptographic Details, "Rotating key material"), so wrapped keys stay
    readable after rotation and :meth:`rewrap` moves them to the newest.

    Credentials and region come from ``session`` or, without one, from the
    standard boto3 chain, which includes environment variables, the shared
    config and credentials files, SSO, container credentials and the EC2
    instance metadata service. ``endpoint_url`` changes only where requests go, not
    where credentials come from, so a VPC endpoint works with an instance
    role. Set ``AWS_EC2_METADATA_DISABLED=true`` to keep the chain away from
    the instance metadata service, or pass a ``session`` with explicit
    credentials. A ``client`` is used as it is: the provider's timeouts and
    retry settings do not apply to it.

    ``connect_timeout`` and ``read_timeout`` are in seconds per attempt and
    ``max_attempts`` counts every request including the first, retried in
    botocore's ``standard`` retry mode on throttling, server errors and
    connection failures. A call therefore gives up after at most about
    ``max_attempts * (connect_timeout + read_timeout)`` seconds plus
    botocore's random backoff between attempts, which is below 1 s before
    the second attempt after throttling (50 ms after other errors) and
    doubles for each further attempt up to 20 s. The defaults replace
    botocore's 60-second timeouts, with which a dead endpoint would block
    each request for minutes.

    The caller's IAM policy or the key policy must allow kms:GenerateDataKey,
    kms:Encrypt, kms:Decrypt and kms:DescribeKey on the key, and
    kms:ReEncryptFrom on the source key and kms:ReEncryptTo on this key for
    :meth:`rewrap`.

    NOTE: replicas of a multi-Region key have different ARNs, so a provider
    unwraps only keys wrapped under its own replica.
    """

    def __init__(
        self,
        key_id: str,
        *,
        client: KMSClient | None = None,
        session: Session | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 2,
    ) -> None:
        """Configure the provider; no request is sent before the first operation.

        Pass either ``client`` or any of ``session``, ``endpoint_url`` and
        ``region_name``, from which a KMS client is built. Raises
        :class:`~jivs_security.errors.ConfigurationError` for an invalid
        argument or when no AWS region is configured.
        """
        self._key_id = _checked_key_id(key_id)
        _check_timeout("connect_timeout", connect_timeout)
        _check_timeout("read_timeout", read_timeout)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigurationError(
                f"invalid max_attempts {max_attempts!r}: expected an int of at least 1",
                setting="max_attempts",
                expected="an int of at least 1, counting the first request",
                value=max_attempts,
            )

        if client is not None:
            if session is not None or endpoint_url is not None or region_name is not None:
                raise ConfigurationError(
                    "client cannot be combined with session, endpoint_url or region_name, "
                    "because a built client already has its endpoint and region",
                    setting="client",
                    expected="either a KMS client, or session, endpoint_url and region_name",
                )
            self._client = client
            self._owns_client = False
        else:
            self._client = _build_client(
                session=session,
                endpoint_url=endpoint_url,
                region_name=region_name,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_attempts=max_attempts,
            )
            self._owns_client = True

        # Set once and never changed, so threads that resolve it at the same
        # time store the same value and need no lock.
        self._key_arn: str | None = self._key_id if _KEY_ARN.fullmatch(self._key_id) else None

    def __repr__(self) -> str:
        meta = self._client.meta
        return (
            f"AwsKmsProvider(key_id={self._key_id!r}, region={meta.region_name!r}, "
            f"endpoint_url={_display_url(meta.endpoint_url)!r})"
        )

    @property
    def provider_id(self) -> str:
        """``"aws-kms"``, the provider kind written into each wrapped key."""
        return PROVIDER_ID

    @property
    def key_id(self) -> str:
        """The key id, key ARN, alias name or alias ARN this provider was configured with."""
        return self._key_id

    def key_arn(self) -> str:
        """Return the ARN of this provider's key, calling DescribeKey the first time if needed.

        Raises :class:`~jivs_security.errors.KeyUnavailable` if the key does
        not exist, cannot be described, or is not a symmetric encryption key.
        """
        if self._key_arn is not None:
            return self._key_arn

        with self._translating_errors("DescribeKey", self._key_id):
            metadata = self._client.describe_key(KeyId=self._key_id)["KeyMetadata"]
        # Fields that a KMS-compatible service leaves out count as those of a symmetric key.
        key_spec = metadata.get("KeySpec", "SYMMETRIC_DEFAULT")
        key_usage = metadata.get("KeyUsage", "ENCRYPT_DECRYPT")
        if key_spec != "SYMMETRIC_DEFAULT" or key_usage != "ENCRYPT_DECRYPT":
            raise KeyUnavailable(
                f"AWS KMS key {self._key_id!r} cannot wrap data keys because it has key spec "
                f"{key_spec} and key usage {key_usage}. Configure a key with key usage "
                "ENCRYPT_DECRYPT and key spec SYMMETRIC_DEFAULT.",
                provider=PROVIDER_ID,
                key_id=self._key_id,
                retryable=False,
            )
        self._key_arn = metadata["Arn"]
        logger.debug("aws-kms key %s resolved to %s", self._key_id, self._key_arn)
        return self._key_arn

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Return a new 32-byte data key from KMS GenerateDataKey and its wrapped form."""
        encryption_context = _kms_context(context)
        key_arn = self.key_arn()

        with self._translating_errors("GenerateDataKey", key_arn):
            response = self._client.generate_data_key(
                KeyId=key_arn, KeySpec="AES_256", EncryptionContext=encryption_context
            )
        data_key = response["Plaintext"]
        if len(data_key) != _DATA_KEY_BYTES:
            raise KeyUnavailable(
                f"AWS KMS GenerateDataKey with key {key_arn!r} returned a {len(data_key)}-byte "
                f"data key instead of {_DATA_KEY_BYTES} bytes. Check that the endpoint is AWS KMS "
                "or a compatible service.",
                provider=PROVIDER_ID,
                key_id=key_arn,
                retryable=False,
            )
        logger.debug("aws-kms generated a data key under %s", response["KeyId"])
        return data_key, WrappedKey(PROVIDER_ID, response["KeyId"], response["CiphertextBlob"])

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        """Encrypt the 32-byte ``data_key`` with KMS Encrypt, bound to ``context``."""
        if not isinstance(data_key, bytes) or len(data_key) != _DATA_KEY_BYTES:
            raise ConfigurationError(
                "invalid data key: expected 32 bytes",
                setting="data_key",
                expected=f"bytes of length {_DATA_KEY_BYTES}",
            )
        encryption_context = _kms_context(context)
        key_arn = self.key_arn()

        with self._translating_errors("Encrypt", key_arn):
            response = self._client.encrypt(
                KeyId=key_arn, Plaintext=data_key, EncryptionContext=encryption_context
            )
        logger.debug("aws-kms wrapped a data key under %s", response["KeyId"])
        return WrappedKey(PROVIDER_ID, response["KeyId"], response["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        """Decrypt a data key wrapped under this provider's key with KMS Decrypt.

        The request names the key (KeyId), which the KMS Decrypt
        documentation recommends as best practice, so KMS rejects a
        ciphertext that was encrypted under any other key the caller may use
        instead of decrypting it with that key. Raises
        :class:`~jivs_security.errors.KeyUnavailable` (not retryable) when
        ``wrapped`` names another provider kind or key, and
        :class:`~jivs_security.errors.DecryptionFailed` when it does not
        decrypt under this key and ``context``.
        """
        encryption_context = _kms_context(context)
        key_arn = self._check_owned(wrapped)

        with self._translating_errors("Decrypt", key_arn, decrypting=True):
            response = self._client.decrypt(
                CiphertextBlob=wrapped.ciphertext,
                EncryptionContext=encryption_context,
                KeyId=key_arn,
            )
        data_key = response["Plaintext"]
        # A ciphertext of other data under this key and context is no data key.
        if response.get("KeyId") != key_arn or len(data_key) != _DATA_KEY_BYTES:
            raise DecryptionFailed()
        logger.debug("aws-kms unwrapped a data key under %s", key_arn)
        return data_key

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        """Re-encrypt ``wrapped`` under this provider's key with KMS ReEncrypt.

        ``wrapped`` may come from any key of this provider kind: that is how
        data moves to a new key. KMS decrypts and encrypts inside the
        service, so the data key never reaches this process. The request
        names the source key (SourceKeyId) recorded in ``wrapped``, so KMS
        rejects a ciphertext that was encrypted under another key.
        """
        encryption_context = _kms_context(context)
        if not isinstance(wrapped, WrappedKey):
            _raise_not_wrapped_key(wrapped)
        if wrapped.provider_id != PROVIDER_ID:
            raise self._unusable(
                wrapped, "re-encrypt", f"it was wrapped by provider {wrapped.provider_id!r}"
            )
        key_arn = self.key_arn()

        with self._translating_errors("ReEncrypt", key_arn, decrypting=True):
            response = self._client.re_encrypt(
                CiphertextBlob=wrapped.ciphertext,
                SourceEncryptionContext=encryption_context,
                SourceKeyId=wrapped.key_id,
                DestinationKeyId=key_arn,
                DestinationEncryptionContext=encryption_context,
            )
        logger.debug("aws-kms re-encrypted a data key from %s to %s", wrapped.key_id, key_arn)
        return WrappedKey(PROVIDER_ID, response["KeyId"], response["CiphertextBlob"])

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        """Return whether ``wrapped`` is an aws-kms wrapped key under this provider's key ARN.

        The first call may send DescribeKey (see :meth:`key_arn`) and raise
        :class:`~jivs_security.errors.KeyUnavailable` if that fails.
        """
        if not isinstance(wrapped, WrappedKey) or wrapped.provider_id != PROVIDER_ID:
            return False
        return wrapped.key_id == self.key_arn()

    def close(self) -> None:
        """Close the KMS client's connections if this provider built the client."""
        if self._owns_client:
            self._client.close()

    def _check_owned(self, wrapped: WrappedKey) -> str:
        """Return this provider's key ARN, or raise KeyUnavailable if ``wrapped`` names another."""
        if not isinstance(wrapped, WrappedKey):
            _raise_not_wrapped_key(wrapped)
        if wrapped.provider_id != PROVIDER_ID:
            raise self._unusable(
                wrapped, "unwrap", f"it was wrapped by provider {wrapped.provider_id!r}"
            )
        key_arn = self.key_arn()
        if wrapped.key_id != key_arn:
            raise self._unusable(
                wrapped, "unwrap", f"it names key {wrapped.key_id!r}, not {key_arn!r}"
            )
        return key_arn

    def _unusable(self, wrapped: WrappedKey, action: str, reason: str) -> KeyUnavailable:
        return KeyUnavailable(
            f"AWS KMS provider for key {self._key_id!r} cannot {action} this data key because "
            f"{reason}. Use a provider for that key.",
            provider=PROVIDER_ID,
            key_id=str(wrapped.key_id),
            retryable=False,
        )

    @contextlib.contextmanager
    def _translating_errors(
        self, operation: str, key_id: str, *, decrypting: bool = False
    ) -> Iterator[None]:
        """Translate botocore's errors from ``operation`` into KeyUnavailable or DecryptionFailed.

        DecryptionFailed is raised without its cause, so that it reads the
        same whatever KMS reported; the cause goes to the debug log.
        """
        # Imported here because botocore is an optional dependency.
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if decrypting and code in _NOT_AUTHENTIC_CODES:
                logger.debug("aws-kms %s with key %s failed with %s", operation, key_id, code)
                raise DecryptionFailed() from None
            raise _client_error(exc, code, operation, key_id) from exc
        except BotoCoreError as exc:
            raise self._transport_error(exc, operation, key_id) from exc

    def _transport_error(self, exc: BotoCoreError, operation: str, key_id: str) -> KeyUnavailable:
        """Describe a failure below the KMS API: network, TLS or credentials."""
        from botocore import exceptions as botocore_errors  # noqa: PLC0415  (optional dependency)

        # botocore's type stubs leave out Config's timeout attributes.
        connect_timeout = getattr(self._client.meta.config, "connect_timeout", None)
        read_timeout = getattr(self._client.meta.config, "read_timeout", None)
        endpoint = _display_url(self._client.meta.endpoint_url)
        retryable = True
        if isinstance(exc, botocore_errors.SSLError):
            retryable = False
            reason = f"the TLS connection to {endpoint} failed"
            advice = "Check the endpoint's certificate and the CA bundle."
        elif isinstance(exc, botocore_errors.ConnectTimeoutError):
            reason = f"connecting to {endpoint} timed out after {connect_timeout} s"
            advice = "Check the network path to the endpoint, then retry."
        elif isinstance(exc, botocore_errors.ReadTimeoutError):
            reason = f"{endpoint} sent no response within {read_timeout} s"
            advice = "Retry later, or raise read_timeout if KMS responds slowly from this host."
        elif isinstance(exc, (botocore_errors.ConnectionError, botocore_errors.HTTPClientError)):
            reason = f"{endpoint} could not be reached or closed the connection"
            advice = "Check the network and endpoint_url, then retry."
        elif isinstance(
            exc,
            (
                botocore_errors.NoCredentialsError,
                botocore_errors.PartialCredentialsError,
                botocore_errors.CredentialRetrievalError,
            ),
        ):
            retryable = False
            reason = "no complete AWS credentials were found"
            advice = (
                "Configure credentials in the environment, the shared credentials file or an "
                "instance role, or pass a session that has them."
            )
        else:
            retryable = False
            reason = "botocore could not send the request"
            advice = "See the chained exception for the cause."
        return KeyUnavailable(
            f"AWS KMS {operation} with key {key_id!r} failed because {reason} "
            f"({type(exc).__name__}). {advice}",
            provider=PROVIDER_ID,
            key_id=key_id,
            retryable=retryable,
        )


def _client_error(exc: ClientError, code: str, operation: str, key_id: str) -> KeyUnavailable:
    """Describe an error that the KMS API returned, naming the error code and HTTP status."""
    metadata = exc.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode", 0)
    attempts = metadata.get("RetryAttempts", 0) + 1
    retryable = True
    if code in _THROTTLING_CODES or status == 429:
        reason = f"KMS throttled the request after {attempts} attempt(s)"
        advice = "Retry later, or request a higher KMS request quota for the account."
    elif status >= 500:
        reason = f"KMS reported a server error after {attempts} attempt(s)"
        advice = "Retry later."
    else:
        retryable = False
        reason, advice = _PERMANENT_ERRORS.get(
            code, ("KMS rejected the request", "Check the key and the caller's permissions.")
        )
    return KeyUnavailable(
        f"AWS KMS {operation} with key {key_id!r} failed because {reason} ({code}, HTTP "
        f"{status}). {advice}",
        provider=PROVIDER_ID,
        key_id=key_id,
        retryable=retryable,
    )


def _build_client(
    *,
    session: Session | None,
    endpoint_url: str | None,
    region_name: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
) -> KMSClient:
    try:
        import boto3.session  # noqa: PLC0415  (an optional dependency)
        from botocore.config import Config  # noqa: PLC0415
        from botocore.exceptions import NoRegionError  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise ImportError(
            "AwsKmsProvider needs boto3, which is not installed. "
            "Install it with: pip install 'jivs[aws]'"
        ) from exc

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    if session is None:
        # A session of its own, because boto3's default session is not safe
        # to build clients from in several threads at once.
        session = boto3.session.Session()
    try:
        return session.client(
            "kms", endpoint_url=endpoint_url, region_name=region_name, config=config
        )
    except NoRegionError:
        raise ConfigurationError(
            "no AWS region is configured for the KMS client",
            setting="region_name",
            expected="a region such as 'eu-central-1', from region_name, the session, "
            "AWS_REGION or AWS_DEFAULT_REGION",
        ) from None
    except ValueError as exc:
        # botocore raises ValueError for an endpoint URL it cannot parse.
        raise ConfigurationError(
            f"invalid endpoint_url {_display_url(endpoint_url)!r}: {exc}",
            setting="endpoint_url",
            expected="an http:// or https:// URL, or None for the region's KMS endpoint",
            value=_display_url(endpoint_url),
        ) from None


def _checked_key_id(key_id: object) -> str:
    if (
        not isinstance(key_id, str)
        or not key_id
        or len(key_id) > _MAX_KEY_ID_LENGTH
        or key_id != key_id.strip()
    ):
        raise ConfigurationError(
            f"invalid key_id {key_id!r}: expected a non-empty KMS key identifier without "
            f"surrounding spaces, at most {_MAX_KEY_ID_LENGTH} characters",
            setting="key_id",
            expected="a key id, key ARN, alias name ('alias/...') or alias ARN",
            value=key_id,
        )
    return key_id


def _check_timeout(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"invalid {name} {value!r}: expected a positive number of seconds",
            setting=name,
            expected="a positive number of seconds",
            value=value,
        )


def _kms_context(context: Mapping[str, str]) -> dict[str, str]:
    """Return ``context`` as the dict KMS takes, after the checks every provider applies."""
    # canonical_context rejects non-str keys and values and contexts over
    # 8,192 bytes, which also keeps the context within KMS's own limit.
    canonical_context(context)
    return dict(context)


def _display_url(url: str | None) -> str | None:
    """Return ``url`` without a user name or password, which may be credentials."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:
        return "(an unparsable URL)"
    return urlunsplit(parts._replace(netloc=netloc))


def _raise_not_wrapped_key(value: object) -> NoReturn:
    raise ConfigurationError(
        f"invalid wrapped key: expected a WrappedKey, got {type(value).__name__}",
        setting="wrapped",
        expected="a WrappedKey",
    )
