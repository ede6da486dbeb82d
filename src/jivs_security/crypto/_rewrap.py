"""Bulk rewrap: move many stored messages to the current key versions, resumably.

After a key-encryption key (KEK) is rotated, stored messages still carry
data keys wrapped under the old version. :class:`BulkRewrap` runs
:meth:`EnvelopeCipher.rewrap` over the caller's messages, hands each new
message to a callback that stores it, and records each finished item id in
an optional checkpoint file, so that an interrupted run resumes where it
stopped. The :class:`RewrapReport` counts the KEK versions that still
protect the messages, which shows when an old version can be retired.

Checkpoint file
===============

The checkpoint is UTF-8 text. Its first line is the marker
``jivs-security rewrap checkpoint v1``, and each further line is the id of
one item whose new message ``write`` has stored, in the order they were
stored. Every line ends with ``"\\n"``. The file is created with mode 0600,
only ever appended to, and locked against a second run while a run uses it.

Each id is appended as soon as ``write`` returns, and the file is flushed
to disk with ``fsync`` after every ``checkpoint_every`` ids and at the end
of the run. A crash of the process loses at most the id of the item in
progress. A crash of the machine can lose the ids appended since the last
``fsync`` and can leave a partial last line. The partial line is dropped
when the file is opened again, and lines that are not valid ids (such as
zero bytes that a file system left after a crash) are skipped, so the
items they named are rewrapped and written again.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

if sys.platform != "win32":
    import fcntl

__all__ = [
    "CHECKPOINT_MARKER",
    "DEFAULT_CHECKPOINT_EVERY",
    "BulkRewrap",
    "KeyVersion",
    "RewrapFailure",
    "RewrapReport",
    "key_versions_in_use",
]

logger = logging.getLogger("jivs_security.crypto")

#: A (provider id, key id) pair, as in :attr:`MessageInfo.key_ids`.
KeyVersion = tuple[str, str]

#: The first line of every checkpoint file, without its line feed.
CHECKPOINT_MARKER: Final = "jivs-security rewrap checkpoint v1"
_MARKER_LINE: Final = CHECKPOINT_MARKER.encode("ascii") + b"\n"

# Each fsync waits for the disk, and each item already costs an unwrap and
# a rewrap call to the key service. With one fsync per 100 items, the disk
# waits should be a small share of a run (an estimate, not a measurement),
# and a machine crash repeats at most 100 items.
DEFAULT_CHECKPOINT_EVERY: Final = 100

# Past this many failed items, no WARNING line is logged per item. The
# report still lists every failure, and the closing log line counts them.
_MAX_LOGGED_FAILURES: Final = 100

# Characters an item id must not contain. A line feed would split its
# checkpoint line, and a carriage return would change the id in tools that
# read lines of text. Zero bytes are what a crash can leave in a file.
_FORBIDDEN_IN_IDS: Final = ("\n", "\r", "\0")


@dataclass(frozen=True, slots=True)
class RewrapFailure:
    """An item that could not be rewrapped: it was neither written nor checkpointed.

    ``error_type`` is the class name of the error, ``"KeyUnavailable"`` or
    ``"DecryptionFailed"``. ``retryable`` is the ``retryable`` flag of a
    :class:`~jivs_security.errors.KeyUnavailable` and false for
    :class:`~jivs_security.errors.DecryptionFailed`. ``provider`` and
    ``key_id`` name the key that was unavailable, and are ``None`` for
    DecryptionFailed. ``message`` is the error's message, which names no
    secret.
    """

    item_id: str
    error_type: str
    retryable: bool
    message: str
    provider: str | None = None
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class RewrapReport:
    """The outcome of one :meth:`BulkRewrap.run`.

    Every item of the run is counted once: as ``rewrapped`` (written now),
    ``skipped`` (its id was in the checkpoint already, or came earlier in
    the same run) or failed (listed in ``failures``). ``complete`` is false
    when the run stopped early at ``max_failures``.

    ``key_versions_before`` counts the (provider id, key id) pairs of the
    messages as they were handed in. ``key_versions_after`` counts them in
    the messages as stored after the run, which is the new message for a
    rewrapped item and the message handed in for a skipped or failed one. A
    message counts once for each of its wrapped keys. A failed message whose header cannot
    be parsed is in neither counter, and items that the run never saw are
    not counted at all.
    """

    rewrapped: int
    skipped: int
    failures: tuple[RewrapFailure, ...]
    key_versions_before: Counter[KeyVersion]
    key_versions_after: Counter[KeyVersion]
    complete: bool

    @property
    def failed(self) -> int:
        """The number of items that could not be rewrapped."""
        return len(self.failures)

    def still_in_use(self, provider_id: str) -> set[str]:
        """Return the key ids of ``provider_id`` that still protect a message of this run.

        A KEK version that is not in the set protects none of the messages
        that the run saw, failed ones included, so it can be retired once
        every stored message went through this or an earlier run. When in
        doubt, count the stored messages with :func:`key_versions_in_use`.
        """
        return {
            key_id
            for (provider, key_id), count in self.key_versions_after.items()
            if provider == provider_id and count > 0
        }


def key_versions_in_use(blobs: Iterable[bytes]) -> Counter[KeyVersion]:
    """Count the (provider id, key id) pairs in the headers of ``blobs``, without any key.

    Only headers are read, with :meth:`EnvelopeCipher.inspect`, so no key
    service is called. A message counts once for each of its wrapped keys.
    A blob whose header cannot be parsed raises
    :class:`~jivs_security.errors.DecryptionFailed`. Headers are not
    authenticated until a message is decrypted, so the counts are for
    planning key retirement, not for access decisions.
    """
    counts: Counter[KeyVersion] = Counter()
    for blob in blobs:
        counts.update(EnvelopeCipher.inspect(blob).key_ids)
    return counts


class BulkRewrap:
    """Rewraps many stored messages under each provider's current KEK version, resumably.

    :meth:`run` takes ``(item_id, blob)`` pairs, rewraps each blob with
    :meth:`EnvelopeCipher.rewrap` (the header changes and the body is
    copied byte for byte, without being verified), and calls
    ``write(item_id, new_blob)`` to store the result. Only wrapped keys of
    ``cipher``'s providers move: rewrap neither adds nor removes a wrapped
    key, so a provider added to the cipher since a message was encrypted
    gets no wrapped key in it.

    With ``checkpoint``, the id of every stored item is appended to that
    file (its format is in the module documentation), and a later run with
    the same file skips those ids. Failed items are not recorded, so
    running the same items again retries exactly the failed and unfinished
    ones. Use a new checkpoint file for each rotation, because the file
    records ids only: a reused file would skip every item it lists.

    ``write`` must be idempotent: a crash after ``write`` stored an item but
    before its id reached the checkpoint makes the next run rewrap and
    write that item again. An exception from ``write`` stops the run and
    propagates, after every id stored so far has been flushed to the
    checkpoint.

    A :class:`~jivs_security.errors.KeyUnavailable` or
    :class:`~jivs_security.errors.DecryptionFailed` from one item does not
    stop the run: the item is listed in the report and is not written. With
    ``max_failures``, the run stops after that many failed items, which
    saves waiting out each item's time-out while a key service is down.
    Any other error propagates.

    Item ids appear in the checkpoint and in log lines, so they must not be
    personal data: use record keys, not e-mail addresses or names. An id is
    a non-empty ``str`` without line feeds, carriage returns or zero bytes.
    """

    def __init__(
        self,
        cipher: EnvelopeCipher,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        max_failures: int | None = None,
    ) -> None:
        if not isinstance(cipher, EnvelopeCipher):
            raise ConfigurationError(
                f"cipher must be an EnvelopeCipher, got {type(cipher).__name__}",
                setting="cipher",
                expected="an EnvelopeCipher holding the providers to rewrap with",
                value=type(cipher).__name__,
            )
        if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
            raise ConfigurationError(
                f"checkpoint must be a path or None, got {type(checkpoint).__name__}",
                setting="checkpoint",
                expected="a str or os.PathLike file path, or None to run without a checkpoint",
                value=type(checkpoint).__name__,
            )
        self._cipher = cipher
        self._checkpoint_path = None if checkpoint is None else Path(checkpoint)
        self._checkpoint_every = _positive_int(checkpoint_every, "checkpoint_every", "ids")
        self._max_failures = (
            None if max_failures is None else _positive_int(max_failures, "max_failures", "items")
        )

    def __repr__(self) -> str:
        return (
            f"BulkRewrap(cipher={self._cipher!r}, checkpoint={self._checkpoint_path}, "
            f"checkpoint_every={self._checkpoint_every}, max_failures={self._max_failures})"
        )

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint file, or ``None`` when runs are not resumable."""
        return self._checkpoint_path

    def run(
        self, items: Iterable[tuple[str, bytes]], write: Callable[[str, bytes], None]
    ) -> RewrapReport:
        """Rewrap every item not done yet, store it with ``write`` and return the report.

        Raises :class:`~jivs_security.errors.ConfigurationError` for an
        invalid item id, and for a checkpoint file that cannot be opened,
        is not a checkpoint, or is in use by another run.
        """
        if not callable(write):
            raise ConfigurationError(
                f"write must be callable, got {type(write).__name__}",
                setting="write",
                expected="a function write(item_id, new_blob) that stores the new message",
                value=type(write).__name__,
            )
        checkpoint = None
        if self._checkpoint_path is not None:
            checkpoint = _Checkpoint.open(self._checkpoint_path, self._checkpoint_every)
        progress = _Progress(set() if checkpoint is None else checkpoint.done)
        logger.info(
            "bulk rewrap started checkpoint=%s already_done=%d",
            self._checkpoint_path,
            len(progress.done),
        )

        complete = False
        try:
            for item_id, blob in items:
                _check_item_id(item_id)
                if item_id in progress.done:
                    self._skip(item_id, blob, progress)
                else:
                    self._rewrap(item_id, blob, write, checkpoint, progress)
                if self._max_failures is not None and len(progress.failures) >= self._max_failures:
                    break
            else:
                complete = True
        except BaseException as exc:
            logger.warning(
                "bulk rewrap stopped by %s rewrapped=%d skipped=%d failed=%d. %s",
                type(exc).__name__,
                progress.rewrapped,
                progress.skipped,
                len(progress.failures),
                "Run it again without a checkpoint to rewrap every item again"
                if checkpoint is None
                else "Run it again with the same checkpoint to resume",
            )
            raise
        finally:
            if checkpoint is not None:
                checkpoint.close()

        logger.info(
            "bulk rewrap finished rewrapped=%d skipped=%d failed=%d complete=%s",
            progress.rewrapped,
            progress.skipped,
            len(progress.failures),
            complete,
        )
        return RewrapReport(
            rewrapped=progress.rewrapped,
            skipped=progress.skipped,
            failures=tuple(progress.failures),
            key_versions_before=progress.before,
            key_versions_after=progress.after,
            complete=complete,
        )

    def _rewrap(
        self,
        item_id: str,
        blob: bytes,
        write: Callable[[str, bytes], None],
        checkpoint: _Checkpoint | None,
        progress: _Progress,
    ) -> None:
        try:
            new_blob = self._cipher.rewrap(blob)
        except (KeyUnavailable, DecryptionFailed) as error:
            self._fail(item_id, blob, error, progress)
            return
        old_keys = EnvelopeCipher.inspect(blob).key_ids
        new_keys = EnvelopeCipher.inspect(new_blob).key_ids

        write(item_id, new_blob)
        if checkpoint is not None:
            checkpoint.record(item_id)
        progress.done.add(item_id)
        progress.rewrapped += 1
        progress.before.update(old_keys)
        progress.after.update(new_keys)

    def _skip(self, item_id: str, blob: bytes, progress: _Progress) -> None:
        # A skipped message is still counted, because the KEK may have been
        # rotated again since the run that rewrapped it.
        try:
            keys = EnvelopeCipher.inspect(blob).key_ids
        except DecryptionFailed as error:
            self._fail(item_id, blob, error, progress)
            return
        progress.skipped += 1
        progress.before.update(keys)
        progress.after.update(keys)

    def _fail(
        self,
        item_id: str,
        blob: bytes,
        error: KeyUnavailable | DecryptionFailed,
        progress: _Progress,
    ) -> None:
        # The message stays stored as it was, so its key versions are still in use.
        try:
            keys = EnvelopeCipher.inspect(blob).key_ids
        except DecryptionFailed:
            keys = ()
        progress.before.update(keys)
        progress.after.update(keys)

        if isinstance(error, KeyUnavailable):
            failure = RewrapFailure(
                item_id=item_id,
                error_type=type(error).__name__,
                retryable=error.retryable,
                message=str(error),
                provider=error.provider,
                key_id=error.key_id,
            )
        else:
            failure = RewrapFailure(item_id, type(error).__name__, False, str(error))
        progress.failures.append(failure)

        count = len(progress.failures)
        if count <= _MAX_LOGGED_FAILURES:
            logger.warning(
                "bulk rewrap failed item_id=%s error=%s retryable=%s provider=%s key_id=%s",
                item_id,
                failure.error_type,
                failure.retryable,
                failure.provider,
                failure.key_id,
            )
        if count == _MAX_LOGGED_FAILURES:
            logger.warning(
                "bulk rewrap logged %d failed items. Further failures are listed in the "
                "report only",
                count,
            )


@dataclass(slots=True)
class _Progress:
    """The counts of a run so far; ``done`` is shared with the checkpoint's ids."""

    done: set[str]
    rewrapped: int = 0
    skipped: int = 0
    failures: list[RewrapFailure] = field(default_factory=list)
    before: Counter[KeyVersion] = field(default_factory=Counter)
    after: Counter[KeyVersion] = field(default_factory=Counter)


class _Checkpoint:
    """An open, locked checkpoint file: the ids it lists, and appends of new ones."""

    def __init__(self, path: Path, descriptor: int, done: set[str], flush_every: int) -> None:
        self.path = path
        self.done = done
        self._descriptor = descriptor
        self._flush_every = flush_every
        self._unflushed = 0

    @classmethod
    def open(cls, path: Path, flush_every: int) -> _Checkpoint:
        """Open or create the checkpoint at ``path``, lock it and read the ids it lists."""
        descriptor, created = _open_checkpoint_file(path)
        try:
            _lock(descriptor, path)
            if created:
                _write_all(descriptor, _MARKER_LINE, path)
                os.fsync(descriptor)
                _fsync_directory(path.parent)
            done = _read_ids(descriptor, path)
        except BaseException:
            os.close(descriptor)
            raise
        return cls(path, descriptor, done, flush_every)

    def record(self, item_id: str) -> None:
        """Append ``item_id``, flushing the file to disk after every ``flush_every`` ids."""
        _write_all(self._descriptor, item_id.encode("utf-8") + b"\n", self.path)
        self._unflushed += 1
        if self._unflushed >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Flush the ids appended since the last flush to disk."""
        if self._unflushed:
            os.fsync(self._descriptor)
            self._unflushed = 0

    def close(self) -> None:
        """Flush, then close the file, which also releases the lock."""
        try:
            self.flush()
        finally:
            os.close(self._descriptor)


def _open_checkpoint_file(path: Path) -> tuple[int, bool]:
    """Return a descriptor for appending to ``path`` and whether the file was created."""
    # O_NOFOLLOW rejects a symbolic link planted in place of the file, so the
    # ids are never appended to a file that the link points at.
    flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    created = True
    try:
        try:
            descriptor = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            created = False
            descriptor = os.open(path, flags)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot open checkpoint file {path}: {exc.strerror or type(exc).__name__}. Pass a "
            "path in an existing, writable directory that is not a symbolic link",
            setting="checkpoint",
            expected="the path of a checkpoint file, or of a file to create",
            value=str(path),
        ) from None

    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ConfigurationError(
            f"checkpoint file {path} is not a regular file. Pass the path of a file",
            setting="checkpoint",
            expected="the path of a regular file",
            value=str(path),
        )
    return descriptor, created


def _lock(descriptor: int, path: Path) -> None:
    """Take an exclusive lock on the checkpoint, so two runs never append to it at once."""
    if sys.platform == "win32":
        # NOTE: Windows has no flock, so two runs on one checkpoint file are
        # not kept apart there.
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigurationError(
            f"checkpoint file {path} is in use by another rewrap run. Wait for that run to "
            "finish, or pass another checkpoint path",
            setting="checkpoint",
            expected="a checkpoint file that no other run holds",
            value=str(path),
        ) from None


def _read_ids(descriptor: int, path: Path) -> set[str]:
    """Return the ids the checkpoint lists, after dropping a partial last line."""
    os.lseek(descriptor, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(descriptor, 1 << 20):
        chunks.append(chunk)
    data = b"".join(chunks)

    if not data.startswith(_MARKER_LINE):
        # A crash right after the file was created can leave it empty, cut
        # inside the marker, or filled with zero bytes. No id was recorded yet.
        if _MARKER_LINE.startswith(data.rstrip(b"\0")):
            os.ftruncate(descriptor, 0)
            _write_all(descriptor, _MARKER_LINE, path)
            os.fsync(descriptor)
            return set()
        raise ConfigurationError(
            f"{path} is not a rewrap checkpoint: its first line is not {CHECKPOINT_MARKER!r}. "
            "Pass the path of a checkpoint file, or a path that does not exist yet to start "
            "a new one",
            setting="checkpoint",
            expected="a file written by BulkRewrap, or a path that does not exist yet",
            value=str(path),
        )

    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning(
            "checkpoint file %s ends in a partial line of %d bytes, which was dropped. The "
            "item it named is rewrapped again",
            path,
            len(data) - end,
        )
        # Later ids must start on a line of their own, not extend the fragment.
        os.ftruncate(descriptor, end)
        os.fsync(descriptor)

    done: set[str] = set()
    unreadable = 0
    for line in data[len(_MARKER_LINE) : end].split(b"\n")[:-1]:
        try:
            item_id = line.decode("utf-8")
        except UnicodeDecodeError:
            unreadable += 1
            continue
        if not item_id or any(character in item_id for character in _FORBIDDEN_IN_IDS):
            unreadable += 1
            continue
        done.add(item_id)
    if unreadable:
        logger.warning(
            "checkpoint file %s has %d lines that are not item ids, which were skipped. The "
            "items they named are rewrapped again",
            path,
            unreadable,
        )
    return done


def _write_all(descriptor: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(descriptor, view) :]
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot append to checkpoint file {path}: {exc.strerror}"
        ) from exc


def _fsync_directory(directory: Path) -> None:
    """Flush a new directory entry to disk, where the platform and file system allow it."""
    if os.name != "posix":
        return
    try:
        handle = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
    except OSError as exc:
        logger.warning("cannot flush directory %s to disk: %s", directory, exc.strerror)


def _check_item_id(item_id: object) -> None:
    problem = None
    if not isinstance(item_id, str):
        problem = f"is a {type(item_id).__name__}, not a str"
    elif not item_id:
        problem = "is empty"
    elif any(character in item_id for character in _FORBIDDEN_IN_IDS):
        problem = "contains a line feed, carriage return or zero byte"
    else:
        try:
            item_id.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not valid Unicode"
    if problem is not None:
        raise ConfigurationError(
            f"item id {item_id!r} {problem}. Use record keys that are non-empty strings of "
            "one line",
            setting="items",
            expected="(item_id, blob) pairs whose item_id is a non-empty str without line "
            "feeds, carriage returns or zero bytes",
            value=item_id,
        )


def _positive_int(value: int, setting: str, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"{setting} must be a whole number of at least 1 ({unit}), got {value!r}",
            setting=setting,
            expected=f"an int of at least 1 ({unit})",
            value=value,
        )
    return value
