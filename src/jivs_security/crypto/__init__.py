"""Envelope encryption over pluggable key services, with streaming and crypto-shredding.

::

    provider = LocalKeyProvider.create("keyset.json")       # or Vault Transit, AWS KMS
    cipher = EnvelopeCipher(provider)
    blob = cipher.encrypt(data, context={"table": "users"})
    cipher.decrypt(blob, context={"table": "users"})

    keys = SubjectKeys(SqlSubjectRegistry(engine), provider)
    sealed = keys.encrypt_for("user-42", data)
    keys.shred("user-42")                                   # the data is now unreadable

The byte layout of messages is in ``docs/crypto-format.md``.
:class:`VaultTransitProvider` needs the ``vault`` extra and
:class:`AwsKmsProvider` the ``aws`` extra; both are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import EnvelopeCipher, MessageInfo
from jivs_security.crypto._local import (
    SCRYPT_OWASP_MINIMUM,
    KeyVersionInfo,
    KeyVersionState,
    LocalKeyProvider,
    ScryptParameters,
)
from jivs_security.crypto._provider import KeyProvider, WrappedKey
from jivs_security.crypto._rewrap import (
    BulkRewrap,
    RewrapFailure,
    RewrapReport,
    key_versions_in_use,
)
from jivs_security.crypto._shredding import SubjectKeys
from jivs_security.crypto._subject_sql import SqlSubjectRegistry
from jivs_security.crypto._subject_store import (
    MemorySubjectRegistry,
    RedisSubjectRegistry,
    SubjectKeyRecord,
    SubjectKeyRegistry,
)
from jivs_security.errors import (
    DecryptionFailed,
    KeyUnavailable,
    SubjectKeyNotFound,
    SubjectShredded,
)

if TYPE_CHECKING:
    from jivs_security.crypto._aws import AwsKmsProvider
    from jivs_security.crypto._vault import TransitKeyVersions, VaultTransitProvider

__all__ = [
    "SCRYPT_OWASP_MINIMUM",
    "AwsKmsProvider",
    "BulkRewrap",
    "DataKeyCache",
    "DecryptionFailed",
    "EnvelopeCipher",
    "KeyProvider",
    "KeyUnavailable",
    "KeyVersionInfo",
    "KeyVersionState",
    "LocalKeyProvider",
    "MemorySubjectRegistry",
    "MessageInfo",
    "RedisSubjectRegistry",
    "RewrapFailure",
    "RewrapReport",
    "ScryptParameters",
    "SqlSubjectRegistry",
    "SubjectKeyNotFound",
    "SubjectKeyRecord",
    "SubjectKeyRegistry",
    "SubjectKeys",
    "SubjectShredded",
    "TransitKeyVersions",
    "VaultTransitProvider",
    "WrappedKey",
    "key_versions_in_use",
]

# Providers whose client libraries are optional extras, imported when first
# named so that importing this package never requires hvac or boto3.
_LAZY = {
    "AwsKmsProvider": "jivs_security.crypto._aws",
    "TransitKeyVersions": "jivs_security.crypto._vault",
    "VaultTransitProvider": "jivs_security.crypto._vault",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module_name), name)
