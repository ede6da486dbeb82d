"""Key provider backed by the Transit secrets engine of HashiCorp Vault or OpenBao.

Data keys are wrapped under a Transit key of type ``aes256-gcm96`` created
with ``derived=true``. Transit derives a separate AES key from the key
version and the request's ``context`` parameter (HKDF-SHA256, reported as
``kdf`` when the key is read), so a wrapped key decrypts only under the
context it was wrapped with. The provider sends the base64 of
:func:`~jivs_security.crypto._context.canonical_context` as that parameter on
every encrypt, decrypt, rewrap and data key call.

Transit's ``associated_data`` parameter would bind the context too, but the
rewrap endpoint has no such parameter. A ciphertext bound that way therefore
cannot move to a new key version without being decrypted outside Vault: on
OpenBao 2.7.2, rewrap of such a ciphertext fails authentication. With a
derived key, rewrap takes the context, and the data key never leaves Vault
in plaintext.

A key created without ``derived=true`` ignores ``context`` without an error,
which would silently drop the binding. The provider therefore reads the key
once before its first use and rejects any key that is not a derived
``aes256-gcm96`` key.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import math
import os
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit, urlunsplit

import hvac
import requests

from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._provider import WrappedKey
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

__all__ = ["TransitKeyVersions", "VaultTransitProvider"]

logger = logging.getLogger("jivs_security.crypto")

PROVIDER_ID = "vault-transit"
KEY_TYPE = "aes256-gcm96"
DATA_KEY_BYTES = 32

# Transit's own pattern for key names: letters, digits, "_", "-" and ".",
# starting and ending with a letter, digit or "_". A valid name therefore
# needs no quoting in a URL path and never contains the ":v" of a key id.
_KEY_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_MOUNT_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")

# A Transit ciphertext has the form "vault:v<version>:<base64>", and OpenBao
# kept the "vault" prefix. A wrapped 32-byte key is 89 characters long, so
# the length limit only stops oversized input from being sent to the server.
_CIPHERTEXT = re.compile(r"vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}")
_MAX_CIPHERTEXT_CHARS = 1024

# Transit returns HTTP 400 both for a ciphertext that does not authenticate
# and for the two key states below, so only the error text distinguishes them.
# NOTE: these are the messages of OpenBao 2.7.2. If a server words them
# differently, those two states raise DecryptionFailed instead.
_KEY_NOT_FOUND = "encryption key not found"
_VERSION_RETIRED = "disallowed by policy"

# Vault's error text is shown in messages, cut to this many characters.
_MAX_SERVER_MESSAGE = 300


class TransitKeyVersions(NamedTuple):
    """The versions of a Transit key: the one that encrypts and the oldest that decrypts."""

    latest_version: int
    min_decryption_version: int


class VaultTransitProvider:
    """A :class:`~jivs_security.crypto.KeyProvider` that wraps data keys with Vault Transit.

    Pass either ``client``, an :class:`hvac.Client` that is already
    authenticated, or ``url`` and ``token``, from which the provider builds
    a client with TLS certificate verification on (``verify`` may name a CA
    bundle file or directory instead) and redirects off. Plain ``http://``
    is accepted only for a loopback address; for anything else, such as a
    service mesh that encrypts traffic itself, pass a client.

    ``timeout`` (seconds) bounds connecting and each wait for data on every
    request, also through a supplied client. It does not cap a whole
    request whose response arrives slowly in parts. Wrapped keys name the key
    and version as ``"<key_name>:v<N>"``. The token needs these capabilities
    on ``<mount_point>/``: ``read`` on ``keys/<key_name>`` and ``update`` on
    ``datakey/plaintext/<key_name>``, ``encrypt/<key_name>``,
    ``decrypt/<key_name>`` and ``rewrap/<key_name>``. :meth:`ensure_key`,
    :meth:`rotate` and :meth:`set_min_decryption_version` also need
    ``update`` on ``keys/<key_name>``, ``keys/<key_name>/rotate`` and
    ``keys/<key_name>/config``.

    Failures to reach Vault or use the key raise
    :class:`~jivs_security.errors.KeyUnavailable`, with ``retryable`` true
    for refused connections, timeouts, and HTTP 412, 429 and 5xx responses. A
    wrapped key that does not authenticate under the given context raises
    :class:`~jivs_security.errors.DecryptionFailed`. The token never appears
    in ``repr``, messages or logs.
    """

    def __init__(
        self,
        client: hvac.Client | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        key_name: str,
        mount_point: str = "transit",
        timeout: float = 5.0,
        verify: bool | str = True,
    ) -> None:
        self._key_name = _check_key_name(key_name)
        self._mount_point = _check_mount_point(mount_point)
        self._timeout = _check_timeout(timeout)
        if client is None:
            self._client = _build_client(url, token, self._timeout, verify)
            self._owns_client = True
        else:
            _check_supplied_client(client, url, token, verify)
            self._client = client
            self._owns_client = False
        self._url = _display_url(self._client.url)
        # Set once the key was read and found to be a derived aes256-gcm96
        # key. Transit cannot turn derivation off later, so one check is
        # enough unless the key is deleted and created again under the name.
        self._key_checked = False

    def __repr__(self) -> str:
        return (
            f"VaultTransitProvider(url={self._url!r}, mount_point={self._mount_point!r}, "
            f"key_name={self._key_name!r}, timeout={self._timeout})"
        )

    @property
    def provider_id(self) -> str:
        """The provider kind written into each wrapped key: ``"vault-transit"``."""
        return PROVIDER_ID

    @property
    def key_name(self) -> str:
        """The name of the Transit key that wraps data keys."""
        return self._key_name

    @property
    def mount_point(self) -> str:
        """The path where the Transit secrets engine is mounted, without slashes at the ends."""
        return self._mount_point

    @property
    def client(self) -> hvac.Client:
        """The hvac client that sends the requests."""
        return self._client

    # Key management.

    def ensure_key(self) -> bool:
        """Create the Transit key if it is missing, and return whether this call created it.

        The key is created as ``aes256-gcm96`` with ``derived=true`` and
        ``exportable=false``. An existing key of another type, or one created
        without ``derived=true``, raises :class:`KeyUnavailable` (not
        retryable), because Transit would ignore the encryption context.
        """
        status, info = self._send("read key", "get", f"keys/{self._key_name}", None, self._key_name)
        created = False
        if status == 404:
            self._call(
                "create key",
                "post",
                f"keys/{self._key_name}",
                {"type": KEY_TYPE, "derived": True, "exportable": False},
                key_id=self._key_name,
            )
            created = True
            # Creating a key that another process created meanwhile is a
            # no-op in Transit, so the key is read again to check what exists.
            info = self._read_key()
        elif not 200 <= status < 300:
            raise self._status_error("read key", status, info, self._key_name)
        else:
            info = _data(info)
        self._check_key_info(info)
        self._key_checked = True
        if created:
            logger.info(
                "created Transit key %s at %s/ on %s", self._key_name, self._mount_point, self._url
            )
        return created

    def key_versions(self) -> TransitKeyVersions:
        """Read the key's latest version and its minimum decryption version."""
        info = self._read_key()
        latest = _as_version(info.get("latest_version"))
        minimum = _as_version(info.get("min_decryption_version"))
        if latest is None or minimum is None:
            raise self._unexpected_response("read key", self._key_name)
        return TransitKeyVersions(latest_version=latest, min_decryption_version=minimum)

    def rotate(self) -> int:
        """Add a key version, which wraps every later data key, and return its number.

        Data keys wrapped under older versions still unwrap until
        :meth:`set_min_decryption_version` retires them. Move them to the new
        version with :meth:`rewrap`.
        """
        data = self._call(
            "rotate", "post", f"keys/{self._key_name}/rotate", None, key_id=self._key_name
        )
        # Recent servers return the key's new state. Older ones return HTTP
        # 204 without a body, and the key is then read separately.
        latest = _as_version(data.get("latest_version"))
        if latest is None:
            latest = self.key_versions().latest_version
        logger.info(
            "rotated Transit key %s at %s/ to version %d", self._key_name, self._mount_point, latest
        )
        return latest

    def set_min_decryption_version(self, version: int) -> None:
        """Retire every key version below ``version``: data keys wrapped under them stop unwrapping.

        Rewrap what must stay readable first. Lowering the value again makes
        the retired versions usable, unless they were trimmed on the server.
        """
        if _as_version(version) is None:
            raise ConfigurationError(
                f"min_decryption_version must be an int of at least 1, got {version!r}",
                setting="min_decryption_version",
                expected="an int from 1 to the key's latest version",
                value=version,
            )
        latest = self.key_versions().latest_version
        if version > latest:
            raise ConfigurationError(
                f"min_decryption_version {version} is above the latest version {latest} of "
                f"Transit key {self._key_name!r}. Pass at most {latest}, or rotate the key first.",
                setting="min_decryption_version",
                expected=f"an int from 1 to {latest}",
                value=version,
            )
        self._call(
            "configure key",
            "post",
            f"keys/{self._key_name}/config",
            {"min_decryption_version": version},
            key_id=self._key_name,
        )
        logger.info(
            "set min_decryption_version of Transit key %s at %s/ to %d",
            self._key_name,
            self._mount_point,
            version,
        )

    # The KeyProvider protocol.

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Return a new 32-byte data key and its wrapped form, from one Transit request.

        ``datakey/plaintext`` returns both forms at once; ``datakey/wrapped``
        followed by ``decrypt`` would need two requests and still carry the
        plaintext over the connection.
        """
        encoded_context = _encode_context(context)
        self._require_derived_key()
        data = self._call(
            "generate",
            "post",
            f"datakey/plaintext/{self._key_name}",
            {"context": encoded_context, "bits": DATA_KEY_BYTES * 8},
            key_id=self._key_name,
        )
        data_key = _decode_base64(data.get("plaintext"))
        wrapped = self._wrapped_from(data, "generate")
        if data_key is None or len(data_key) != DATA_KEY_BYTES:
            raise self._unexpected_response("generate", self._key_name)
        logger.debug("generated a data key under Transit key %s", wrapped.key_id)
        return data_key, wrapped

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        """Encrypt ``data_key`` under the latest version of the Transit key."""
        if not isinstance(data_key, bytes | bytearray):
            raise _invalid_data_key(type(data_key).__name__)
        if len(data_key) != DATA_KEY_BYTES:
            raise _invalid_data_key(f"{len(data_key)} bytes")
        encoded_context = _encode_context(context)
        self._require_derived_key()
        data = self._call(
            "wrap",
            "post",
            f"encrypt/{self._key_name}",
            {"plaintext": base64.b64encode(data_key).decode("ascii"), "context": encoded_context},
            key_id=self._key_name,
        )
        wrapped = self._wrapped_from(data, "wrap")
        logger.debug("wrapped a data key under Transit key %s", wrapped.key_id)
        return wrapped

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        """Decrypt a data key wrapped by this Transit key, under the same ``context``."""
        encoded_context = _encode_context(context)
        ciphertext = self._ciphertext_of(wrapped)
        self._require_derived_key()
        data = self._call(
            "unwrap",
            "post",
            f"decrypt/{self._key_name}",
            {"ciphertext": ciphertext, "context": encoded_context},
            key_id=wrapped.key_id,
            ciphertext_input=True,
        )
        data_key = _decode_base64(data.get("plaintext"))
        if data_key is None:
            raise self._unexpected_response("unwrap", wrapped.key_id)
        if len(data_key) != DATA_KEY_BYTES:
            # The ciphertext authenticated but contains something other than
            # a data key, so it was not written by a provider of this kind.
            raise DecryptionFailed()
        logger.debug("unwrapped a data key under Transit key %s", wrapped.key_id)
        return data_key

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        """Re-encrypt ``wrapped`` under the latest key version inside Vault.

        The data key is decrypted and encrypted again on the server and is
        not part of the response.
        """
        encoded_context = _encode_context(context)
        ciphertext = self._ciphertext_of(wrapped)
        self._require_derived_key()
        data = self._call(
            "rewrap",
            "post",
            f"rewrap/{self._key_name}",
            {"ciphertext": ciphertext, "context": encoded_context},
            key_id=wrapped.key_id,
            ciphertext_input=True,
        )
        rewrapped = self._wrapped_from(data, "rewrap")
        logger.debug("rewrapped a data key from %s to %s", wrapped.key_id, rewrapped.key_id)
        return rewrapped

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        """Return whether ``wrapped`` comes from this provider kind and names this key.

        The mount point and server are not part of the key id, so a key of
        the same name on another mount or server also matches. Unwrapping
        such a key raises :class:`DecryptionFailed`.
        """
        if wrapped.provider_id != PROVIDER_ID:
            return False
        name, separator, version = wrapped.key_id.rpartition(":v")
        return (
            bool(separator) and version.isascii() and version.isdigit() and name == self._key_name
        )

    # Lifecycle.

    def close(self) -> None:
        """Close the HTTP session if the provider built the client, but never a supplied client."""
        if self._owns_client:
            self._client.adapter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Requests and their errors.

    def _require_derived_key(self) -> None:
        if not self._key_checked:
            self._check_key_info(self._read_key())
            self._key_checked = True

    def _read_key(self) -> dict[str, Any]:
        return self._call("read key", "get", f"keys/{self._key_name}", None, key_id=self._key_name)

    def _check_key_info(self, info: Mapping[str, Any]) -> None:
        key_type = info.get("type")
        if key_type != KEY_TYPE:
            problem = f"is of type {key_type!r}, not {KEY_TYPE!r}"
        elif info.get("derived") is not True:
            problem = (
                "was created without derived=true, so Transit would ignore the encryption "
                "context and wrapped keys would not be bound to it"
            )
        else:
            return
        raise KeyUnavailable(
            f"Transit key {self._key_name!r} at {self._mount_point}/ {problem}. Transit cannot "
            "change this for an existing key: use another key_name and call ensure_key() to "
            "create a derived aes256-gcm96 key.",
            provider=PROVIDER_ID,
            key_id=self._key_name,
            retryable=False,
        )

    def _ciphertext_of(self, wrapped: WrappedKey) -> str:
        """Return the Vault ciphertext of ``wrapped`` after checking that it names this key."""
        if not self.can_unwrap(wrapped):
            raise KeyUnavailable(
                f"This provider uses Transit key {self._key_name!r} and cannot unwrap a data key "
                f"from provider {wrapped.provider_id!r} with key id {wrapped.key_id!r}. Use a "
                "provider configured for that key.",
                provider=PROVIDER_ID,
                key_id=wrapped.key_id,
                retryable=False,
            )
        try:
            ciphertext = wrapped.ciphertext.decode("ascii")
        except UnicodeDecodeError:
            raise DecryptionFailed() from None
        match = _CIPHERTEXT.fullmatch(ciphertext)
        # The version in the key id must be the one inside the ciphertext,
        # so a key id edited to name another version does not pass.
        if (
            len(ciphertext) > _MAX_CIPHERTEXT_CHARS
            or match is None
            or wrapped.key_id != f"{self._key_name}:v{match.group(1)}"
        ):
            raise DecryptionFailed()
        return ciphertext

    def _wrapped_from(self, data: Mapping[str, Any], operation: str) -> WrappedKey:
        ciphertext = data.get("ciphertext")
        match = _CIPHERTEXT.fullmatch(ciphertext) if isinstance(ciphertext, str) else None
        if match is None:
            raise self._unexpected_response(operation, self._key_name)
        return WrappedKey(
            provider_id=PROVIDER_ID,
            key_id=f"{self._key_name}:v{match.group(1)}",
            ciphertext=match.group(0).encode("ascii"),
        )

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None,
        *,
        key_id: str,
        ciphertext_input: bool = False,
    ) -> dict[str, Any]:
        """Send one request and return the ``data`` of a successful response.

        With ``ciphertext_input``, an HTTP 400 other than a missing key or a
        retired version means the ciphertext did not authenticate or was
        malformed, and raises :class:`DecryptionFailed`.
        """
        status, body = self._send(operation, method, path, payload, key_id)
        if 200 <= status < 300:
            return _data(body)
        if ciphertext_input and status == 400:
            text = _server_errors(body)
            if _KEY_NOT_FOUND not in text and _VERSION_RETIRED not in text:
                raise DecryptionFailed()
        raise self._status_error(operation, status, body, key_id)

    def _send(
        self,
        operation: str,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None,
        key_id: str,
    ) -> tuple[int, Mapping[str, Any]]:
        """Send one request through the client's adapter, and return the status and JSON body.

        Every request goes through ``client.adapter`` rather than hvac's
        Transit methods, because those take no per-request options: with a
        supplied client, its own timeout (30 s by default in hvac) would
        apply instead of ``timeout``. The adapter still adds the token,
        the namespace and the ``X-Vault-Request`` header.
        """
        url = f"/v1/{self._mount_point}/{path}"
        failure: KeyUnavailable | None = None
        try:
            result = self._client.adapter.request(
                method, url, json=payload, timeout=self._timeout, raise_exception=False
            )
        except requests.exceptions.SSLError:
            failure = self._unavailable(
                operation,
                key_id,
                f"the TLS connection to {self._url} failed, most likely because the server "
                "certificate could not be verified. Pass verify= the CA bundle that signed it.",
                retryable=False,
            )
        except requests.exceptions.Timeout:
            failure = self._unavailable(
                operation,
                key_id,
                f"the request to {self._url} timed out after {self._timeout} s. Retry later.",
                retryable=True,
            )
        except requests.exceptions.ConnectionError:
            failure = self._unavailable(
                operation,
                key_id,
                f"could not connect to Vault at {self._url}. Check that it runs and is "
                "reachable, then retry.",
                retryable=True,
            )
        except requests.exceptions.RequestException as exc:
            failure = self._unavailable(
                operation,
                key_id,
                f"the request to {self._url} failed ({type(exc).__name__}).",
                retryable=False,
            )
        # Raised outside the except clauses, so the error carries no link to
        # the requests exception, whose request object contains the token.
        if failure is not None:
            raise failure

        # hvac's default JSONAdapter returns the decoded body of an HTTP 200
        # response and the Response object for anything else. A RawAdapter
        # always returns the Response object.
        if isinstance(result, requests.Response):
            return result.status_code, _json_body(result)
        if isinstance(result, Mapping):
            return 200, result
        raise self._unexpected_response(operation, key_id)

    def _status_error(
        self, operation: str, status: int, body: Mapping[str, Any], key_id: str
    ) -> KeyUnavailable:
        server_text = self._redact(_server_errors(body)) or "no error message"
        if status in (401, 403):
            advice = (
                f"Check that the token is valid and that its policy allows this request on "
                f"{self._mount_point}/."
            )
        elif status == 404 or _KEY_NOT_FOUND in server_text:
            advice = (
                f"Check key_name and mount_point, or create the key with ensure_key() "
                f"(mount {self._mount_point}/ on {self._url})."
            )
        elif _VERSION_RETIRED in server_text:
            advice = (
                "The key version that wrapped it is below min_decryption_version. Lower "
                "it with set_min_decryption_version() to read this data key."
            )
        elif 300 <= status < 400:
            advice = (
                "The server returned a redirect, which is not followed because the token "
                "header would go along. Set url to the active node or its load balancer."
            )
        else:
            advice = "Retry later." if _is_retryable(status) else "Check the request and key."
        return self._unavailable(
            operation,
            key_id,
            f"Vault returned HTTP {status} ({server_text}). {advice}",
            retryable=_is_retryable(status),
        )

    def _unexpected_response(self, operation: str, key_id: str) -> KeyUnavailable:
        return self._unavailable(
            operation,
            key_id,
            f"the response from {self._url} is not a Transit response of the expected form. "
            "Check that url points at Vault or OpenBao.",
            retryable=False,
        )

    def _unavailable(
        self, operation: str, key_id: str, reason: str, *, retryable: bool
    ) -> KeyUnavailable:
        return KeyUnavailable(
            f"Vault Transit {operation} with key {key_id!r} at {self._mount_point}/ failed: "
            f"{reason}",
            provider=PROVIDER_ID,
            key_id=key_id,
            retryable=retryable,
        )

    def _redact(self, text: str) -> str:
        """Remove the token from text that came from the server, in case it echoes a header."""
        token = self._client.token
        if token:
            text = text.replace(token, "[redacted]")
        return text


def _build_client(
    url: str | None, token: str | None, timeout: float, verify: bool | str
) -> hvac.Client:
    if url is None:
        raise ConfigurationError(
            "url is required when no client is given: pass the address of the Vault server.",
            setting="url",
            expected="an https:// URL, or http:// to a loopback address",
        )
    _check_url(url)
    if not isinstance(token, str) or not token or token != token.strip() or "\n" in token:
        # The value is withheld because it is, or may be, the token.
        raise ConfigurationError(
            "token is missing or invalid when no client is given: pass a Vault token without "
            "whitespace, or pass an hvac.Client that authenticated another way.",
            setting="token",
            expected="a non-empty str without whitespace",
        )
    _check_verify(verify)
    if verify is False:
        logger.warning("TLS certificate verification is off for Vault at %s", _display_url(url))
    # requests sends custom headers, the token header included, on to any
    # host a redirect names (it strips only Authorization), so redirects are
    # off. The type stub declares timeout an int; requests accepts float
    # seconds, and every request passes its own timeout anyway.
    return hvac.Client(
        url=url,
        token=token,
        verify=verify,
        timeout=timeout,  # type: ignore[arg-type]
        allow_redirects=False,
    )


def _check_supplied_client(
    client: object, url: str | None, token: str | None, verify: bool | str
) -> None:
    if not isinstance(client, hvac.Client):
        raise ConfigurationError(
            f"client must be an hvac.Client, got {type(client).__name__}",
            setting="client",
            expected="an hvac.Client, or None together with url and token",
        )
    if url is not None or token is not None or verify is not True:
        raise ConfigurationError(
            "pass either client or url and token, not both: a supplied hvac.Client carries its "
            "own address, token and TLS settings.",
            setting="client",
            expected="client alone, or url and token (and verify) without client",
        )


def _check_url(url: object) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"url must be an http:// or https:// URL with a host, got {url!r}",
            setting="url",
            expected="an https:// URL, or http:// to a loopback address",
            value=url,
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        # The value is withheld because the user part may hold a password.
        raise ConfigurationError(
            "url must not contain a user name, password, query or fragment: pass the token "
            "with token= and the bare server address as url.",
            setting="url",
            expected="scheme, host, optional port and optional path only",
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"url {url!r} uses plain http to a host that is not loopback, so the token would "
            "cross the network unencrypted. Use https://, or pass an hvac.Client if the "
            "connection is encrypted another way.",
            setting="url",
            expected="an https:// URL, or http:// to a loopback address",
            value=url,
        )


def _check_verify(verify: object) -> None:
    if isinstance(verify, bool):
        return
    if isinstance(verify, str) and os.path.exists(verify):
        return
    raise ConfigurationError(
        f"verify must be True, False or the path of a CA bundle file or directory, got "
        f"{verify!r}, which is not an existing path",
        setting="verify",
        expected="True, False, or an existing CA bundle path",
        value=verify,
    )


def _check_key_name(key_name: object) -> str:
    if not isinstance(key_name, str) or not _KEY_NAME.fullmatch(key_name):
        raise ConfigurationError(
            f"key_name {key_name!r} is not a valid Transit key name",
            setting="key_name",
            expected="letters, digits, '_', '-' and '.', starting and ending with a letter, "
            "digit or '_'",
            value=key_name,
        )
    return key_name


def _check_mount_point(mount_point: object) -> str:
    stripped = mount_point.strip("/") if isinstance(mount_point, str) else ""
    segments = stripped.split("/")
    if not stripped or not all(
        _MOUNT_SEGMENT.fullmatch(segment) and segment.strip(".") for segment in segments
    ):
        raise ConfigurationError(
            f"mount_point {mount_point!r} is not a valid mount path",
            setting="mount_point",
            expected="path segments of letters, digits, '_', '-' and '.', such as 'transit'",
            value=mount_point,
        )
    return stripped


def _check_timeout(timeout: object) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigurationError(
            f"timeout must be a positive number of seconds, got {timeout!r}",
            setting="timeout",
            expected="a finite number of seconds above 0",
            value=timeout,
        )
    return float(timeout)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _display_url(url: str) -> str:
    """Return ``url`` without any user name or password, for messages and ``repr``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _invalid_data_key(received: str) -> ConfigurationError:
    # The value is withheld because it is key material.
    return ConfigurationError(
        f"data key must be {DATA_KEY_BYTES} bytes, got {received}",
        setting="data_key",
        expected=f"bytes of length {DATA_KEY_BYTES}",
    )


def _encode_context(context: Mapping[str, str]) -> str:
    return base64.b64encode(canonical_context(context)).decode("ascii")


def _decode_base64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _as_version(value: object) -> int | None:
    """Return ``value`` if it is a key version number (an int of at least 1), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


def _is_retryable(status: int) -> bool:
    # Vault returns 412 when a standby has not yet caught up with a write,
    # 429 for a rate limit, and 5xx for a sealed, standby or failing server.
    # 501 means the server was never initialised, which retrying cannot fix.
    return status in (412, 429) or (status >= 500 and status != 501)


def _json_body(response: requests.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _data(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return dict(data) if isinstance(data, Mapping) else {}


def _server_errors(body: Mapping[str, Any]) -> str:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return ""
    text = "; ".join(str(error) for error in errors)
    return text[:_MAX_SERVER_MESSAGE]
