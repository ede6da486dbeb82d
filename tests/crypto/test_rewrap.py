"""BulkRewrap and key_versions_in_use: rotation, resuming, failures, the checkpoint file, logs.

Most tests rewrap 50 messages under a LocalKeyProvider whose keyset file
lives in ``tmp_path``, after rotating it to version 2. Messages use the
smallest segment size, 1,024 bytes, so they have from one to three
segments. Tests that need a key service which fails use
:class:`crypto_support.FakeKeyProvider`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crypto_support import Failure, FakeKeyProvider, flip, message_regions, secret_forms
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._local import LocalKeyProvider
from jivs_security.crypto._rewrap import (
    CHECKPOINT_MARKER,
    BulkRewrap,
    RewrapReport,
    key_versions_in_use,
)
from jivs_security.errors import ConfigurationError, DecryptionFailed

SEGMENT = 1024
ITEM_COUNT = 50
LOCAL = "local"

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and flock")


def context_of(item_id: str) -> dict[str, str]:
    """Return the encryption context of an item, which binds the message to its record."""
    return {"table": "invoices", "record": item_id}


def plaintext_of(number: int) -> bytes:
    """Return the plaintext of item ``number``: 0 to 2,999 bytes, so one to three segments."""
    return bytes((number + offset) % 251 for offset in range(number * 61 % 3000))


class Storage:
    """Messages by item id, as an application keeps them, counting the writes of each id."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = dict(blobs)
        self.writes: Counter[str] = Counter()

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Yield each id with the message stored now, read when the run reaches it."""
        for item_id in list(self.blobs):
            yield item_id, self.blobs[item_id]

    def write(self, item_id: str, blob: bytes) -> None:
        """Store a new message for ``item_id``."""
        self.blobs[item_id] = blob
        self.writes[item_id] += 1

    def failing_after(self, count: int, error: BaseException) -> Callable[[str, bytes], None]:
        """Return a write callback that stores ``count`` messages, then raises ``error``."""

        def write(item_id: str, blob: bytes) -> None:
            if self.writes.total() >= count:
                raise error
            self.write(item_id, blob)

        return write


def key_id_of(keyset: LocalKeyProvider, version: int) -> str:
    """Return the key id of ``version`` of the keyset."""
    return next(info.key_id for info in keyset.versions() if info.version == version)


def rotate(keyset: LocalKeyProvider) -> int:
    """Add a KEK version and make it primary; return its number."""
    version = keyset.add_version()
    keyset.promote(version)
    return version


def checkpoint_ids(path: Path) -> list[str]:
    """Return the id lines of a checkpoint file, after its marker line."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[0] == CHECKPOINT_MARKER
    return lines[1:-1]


def body_of(blob: bytes) -> bytes:
    """Return the bytes of a message after its header."""
    return blob[EnvelopeCipher.inspect(blob).header_size :]


@pytest.fixture
def keyset(tmp_path: Path) -> LocalKeyProvider:
    """A new local keyset file with version 1 primary."""
    return LocalKeyProvider.create(tmp_path / "keyset.json")


@pytest.fixture
def cipher(keyset: LocalKeyProvider) -> EnvelopeCipher:
    """A cipher over the local keyset with 1,024-byte segments."""
    return EnvelopeCipher(keyset, segment_size=SEGMENT)


@pytest.fixture
def originals(cipher: EnvelopeCipher) -> dict[str, bytes]:
    """Fifty messages encrypted under version 1, by item id."""
    return {
        f"record-{number}": cipher.encrypt(
            plaintext_of(number), context=context_of(f"record-{number}")
        )
        for number in range(ITEM_COUNT)
    }


@pytest.fixture
def storage(originals: dict[str, bytes], keyset: LocalKeyProvider) -> Storage:
    """The fifty messages in storage, with the keyset rotated to version 2 afterwards."""
    rotate(keyset)
    return Storage(originals)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """The path of the run's checkpoint file, which does not exist yet."""
    return tmp_path / "rewrap.checkpoint"


# Rotation.


def test_run_rewraps_every_item(cipher: EnvelopeCipher, storage: Storage) -> None:
    """A run rewraps and writes each of the fifty messages once."""
    report = BulkRewrap(cipher).run(storage.items(), storage.write)

    assert report.rewrapped == ITEM_COUNT
    assert report.skipped == 0
    assert report.failed == 0
    assert report.complete is True
    assert storage.writes == Counter(storage.blobs.keys())


def test_rewrapped_messages_decrypt(cipher: EnvelopeCipher, storage: Storage) -> None:
    """Every rewrapped message decrypts to its original plaintext."""
    BulkRewrap(cipher).run(storage.items(), storage.write)

    for number in range(ITEM_COUNT):
        item_id = f"record-{number}"
        plaintext = cipher.decrypt(storage.blobs[item_id], context=context_of(item_id))
        assert plaintext == plaintext_of(number), item_id


def test_rewrap_keeps_bodies_identical(
    cipher: EnvelopeCipher, storage: Storage, originals: dict[str, bytes]
) -> None:
    """The bytes after the header are the same before and after the rewrap."""
    BulkRewrap(cipher).run(storage.items(), storage.write)

    for item_id, original in originals.items():
        assert storage.blobs[item_id] != original, item_id
        assert body_of(storage.blobs[item_id]) == body_of(original), item_id


def test_report_counts_key_versions(
    cipher: EnvelopeCipher, storage: Storage, keyset: LocalKeyProvider
) -> None:
    """Before counts version 1 for every message, after counts only version 2."""
    report = BulkRewrap(cipher).run(storage.items(), storage.write)

    assert report.key_versions_before == Counter({(LOCAL, key_id_of(keyset, 1)): ITEM_COUNT})
    assert report.key_versions_after == Counter({(LOCAL, key_id_of(keyset, 2)): ITEM_COUNT})


def test_still_in_use_names_new_version(
    cipher: EnvelopeCipher, storage: Storage, keyset: LocalKeyProvider
) -> None:
    """still_in_use lists only version 2 for the local provider and nothing for another."""
    report = BulkRewrap(cipher).run(storage.items(), storage.write)

    assert report.still_in_use(LOCAL) == {key_id_of(keyset, 2)}
    assert report.still_in_use("vault-transit") == set()


def test_retired_version_after_rewrap(
    cipher: EnvelopeCipher, storage: Storage, keyset: LocalKeyProvider
) -> None:
    """Once the rewrap is done, retiring version 1 leaves every message readable."""
    BulkRewrap(cipher).run(storage.items(), storage.write)

    keyset.retire(1)

    reopened = EnvelopeCipher(LocalKeyProvider.open(keyset.path))
    for number in range(ITEM_COUNT):
        item_id = f"record-{number}"
        plaintext = reopened.decrypt(storage.blobs[item_id], context=context_of(item_id))
        assert plaintext == plaintext_of(number), item_id


def test_unrewrapped_message_lost_on_retirement(
    cipher: EnvelopeCipher, originals: dict[str, bytes], keyset: LocalKeyProvider
) -> None:
    """Retiring version 1 without a rewrap makes a message unreadable."""
    rotate(keyset)

    keyset.retire(1)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(originals["record-0"], context=context_of("record-0"))


def test_empty_items_report(cipher: EnvelopeCipher) -> None:
    """A run over no items reports nothing done and is complete."""
    report = BulkRewrap(cipher).run([], lambda item_id, blob: None)

    assert report == RewrapReport(0, 0, (), Counter(), Counter(), complete=True)


# Resuming.


@pytest.mark.parametrize("error", [RuntimeError("storage is down"), KeyboardInterrupt()])
def test_interrupted_run_resumes(
    cipher: EnvelopeCipher,
    storage: Storage,
    checkpoint: Path,
    keyset: LocalKeyProvider,
    error: BaseException,
) -> None:
    """A run stopped after 20 writes resumes: each item is written once, the rest skipped."""
    with pytest.raises(type(error)):
        BulkRewrap(cipher, checkpoint=checkpoint).run(
            storage.items(), storage.failing_after(20, error)
        )
    stored_first = set(storage.writes)

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert len(stored_first) == 20
    assert report.skipped == 20
    assert report.rewrapped == ITEM_COUNT - 20
    assert report.failed == 0
    assert set(storage.writes) == set(storage.blobs)
    assert max(storage.writes.values()) == 1
    assert report.key_versions_after == Counter({(LOCAL, key_id_of(keyset, 2)): ITEM_COUNT})


def test_interrupted_checkpoint_lists_stored(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path
) -> None:
    """After an interruption, the checkpoint lists exactly the stored ids, in order."""
    with pytest.raises(RuntimeError):
        BulkRewrap(cipher, checkpoint=checkpoint).run(
            storage.items(), storage.failing_after(7, RuntimeError("storage is down"))
        )

    assert checkpoint_ids(checkpoint) == [f"record-{number}" for number in range(7)]


def test_lost_checkpoint_line_repeats_item(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path
) -> None:
    """An item stored but missing from the checkpoint is written again, which write tolerates."""
    with pytest.raises(RuntimeError):
        BulkRewrap(cipher, checkpoint=checkpoint).run(
            storage.items(), storage.failing_after(5, RuntimeError("storage is down"))
        )
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.skipped == 4
    assert storage.writes["record-4"] == 2
    assert cipher.decrypt(storage.blobs["record-4"], context=context_of("record-4")) == (
        plaintext_of(4)
    )


def test_partial_last_line_dropped(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path
) -> None:
    """A cut last line is not taken as an id, and later ids start on a line of their own."""
    with pytest.raises(RuntimeError):
        BulkRewrap(cipher, checkpoint=checkpoint).run(
            storage.items(), storage.failing_after(3, RuntimeError("storage is down"))
        )
    # "record-4" is also the start of "record-41", which a crash may have cut.
    with checkpoint.open("ab") as file:
        file.write(b"record-4")

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.skipped == 3
    assert report.rewrapped == ITEM_COUNT - 3
    assert storage.writes["record-4"] == 1
    assert sorted(checkpoint_ids(checkpoint)) == sorted(storage.blobs)


def test_unreadable_lines_skipped(
    cipher: EnvelopeCipher,
    storage: Storage,
    checkpoint: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lines of zero bytes or invalid UTF-8 are skipped with a warning, not taken as ids."""
    checkpoint.write_bytes(
        CHECKPOINT_MARKER.encode() + b"\nrecord-0\n\0\0\0\0\n\xff\xfe\nrecord-1\n"
    )
    checkpoint.chmod(0o600)

    with caplog.at_level(logging.WARNING, logger="jivs_security.crypto"):
        report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.skipped == 2
    assert report.rewrapped == ITEM_COUNT - 2
    assert "2 lines that are not item ids" in caplog.text


@pytest.mark.parametrize("content", [b"", b"jivs-security rew", b"\0" * 64])
def test_torn_new_checkpoint_restarted(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path, content: bytes
) -> None:
    """A file left empty, cut in its marker or zeroed by a crash at creation starts afresh."""
    checkpoint.write_bytes(content)

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.rewrapped == ITEM_COUNT
    assert len(checkpoint_ids(checkpoint)) == ITEM_COUNT


def test_duplicate_id_skipped(cipher: EnvelopeCipher, storage: Storage) -> None:
    """An id that comes twice in one run is written once and then skipped."""
    items = [*storage.items(), ("record-3", storage.blobs["record-3"])]

    report = BulkRewrap(cipher).run(items, storage.write)

    assert report.rewrapped == ITEM_COUNT
    assert report.skipped == 1
    assert storage.writes["record-3"] == 1


def test_skipped_item_counts_given_blob(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path, keyset: LocalKeyProvider
) -> None:
    """A skipped item counts the key versions of the message handed in, even a stale one."""
    with pytest.raises(RuntimeError):
        BulkRewrap(cipher, checkpoint=checkpoint).run(
            storage.items(), storage.failing_after(1, RuntimeError("storage is down"))
        )
    stale = Storage(storage.blobs | {"record-0": cipher.encrypt(b"old", context={})})
    rotate(keyset)

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(stale.items(), stale.write)

    assert report.skipped == 1
    assert report.still_in_use(LOCAL) == {key_id_of(keyset, 2), key_id_of(keyset, 3)}


def test_run_without_checkpoint_writes_no_file(
    cipher: EnvelopeCipher, storage: Storage, tmp_path: Path
) -> None:
    """Without a checkpoint, a run creates no file."""
    before = sorted(tmp_path.iterdir())

    BulkRewrap(cipher).run(storage.items(), storage.write)

    assert sorted(tmp_path.iterdir()) == before


# The checkpoint file.


def test_checkpoint_format(cipher: EnvelopeCipher, storage: Storage, checkpoint: Path) -> None:
    """The file is the marker line, then one id per line in the order written."""
    BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    expected = [CHECKPOINT_MARKER, *storage.blobs, ""]
    assert checkpoint.read_text(encoding="utf-8").split("\n") == expected


@posix_only
def test_checkpoint_mode_owner_only(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path
) -> None:
    """A new checkpoint file has mode 0600 whatever the umask."""
    previous = os.umask(0)
    try:
        BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)
    finally:
        os.umask(previous)

    assert checkpoint.stat().st_mode & 0o777 == 0o600


# Pairs of checkpoint_every and the fsync calls it makes for fifty ids.
BATCHES = [(10, 5), (20, 3), (100, 1)]


@pytest.mark.parametrize("batch", BATCHES, ids=[f"every-{every}" for every, _ in BATCHES])
def test_checkpoint_flushed_per_batch(
    cipher: EnvelopeCipher,
    storage: Storage,
    checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch: tuple[int, int],
) -> None:
    """Fifty ids are flushed with one fsync per full batch, plus one at the end for the rest."""
    BulkRewrap(cipher, checkpoint=checkpoint).run([], storage.write)
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(descriptor: int) -> None:
        calls.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    every, expected = batch

    BulkRewrap(cipher, checkpoint=checkpoint, checkpoint_every=every).run(
        storage.items(), storage.write
    )

    assert len(calls) == expected


def test_foreign_file_rejected(cipher: EnvelopeCipher, storage: Storage, tmp_path: Path) -> None:
    """A path to a file that is not a checkpoint raises and leaves the file unchanged."""
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"shopping list\nmilk\n")

    with pytest.raises(ConfigurationError, match="is not a rewrap checkpoint") as caught:
        BulkRewrap(cipher, checkpoint=notes).run(storage.items(), storage.write)

    assert caught.value.setting == "checkpoint"
    assert notes.read_bytes() == b"shopping list\nmilk\n"
    assert storage.writes.total() == 0


@posix_only
def test_symlink_checkpoint_rejected(
    cipher: EnvelopeCipher, storage: Storage, tmp_path: Path
) -> None:
    """A symbolic link in place of the checkpoint is not followed."""
    target = tmp_path / "target"
    target.write_bytes(CHECKPOINT_MARKER.encode() + b"\n")
    link = tmp_path / "link.checkpoint"
    link.symlink_to(target)

    with pytest.raises(ConfigurationError, match="cannot open checkpoint file"):
        BulkRewrap(cipher, checkpoint=link).run(storage.items(), storage.write)

    assert target.read_bytes() == CHECKPOINT_MARKER.encode() + b"\n"


def test_missing_directory_rejected(cipher: EnvelopeCipher, tmp_path: Path) -> None:
    """A checkpoint in a directory that does not exist raises, naming the path."""
    path = tmp_path / "absent" / "rewrap.checkpoint"

    with pytest.raises(ConfigurationError, match="cannot open checkpoint file") as caught:
        BulkRewrap(cipher, checkpoint=path).run([], lambda item_id, blob: None)

    assert caught.value.value == str(path)


@posix_only
def test_concurrent_run_rejected(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path
) -> None:
    """A second run raises while another run has the checkpoint open."""
    rejections: list[ConfigurationError] = []

    def write(item_id: str, blob: bytes) -> None:
        storage.write(item_id, blob)
        if storage.writes.total() == 1:
            try:
                BulkRewrap(cipher, checkpoint=checkpoint).run([], storage.write)
            except ConfigurationError as error:
                rejections.append(error)

    BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), write)

    assert len(rejections) == 1
    assert "in use by another rewrap run" in str(rejections[0])


def test_lock_released_after_run(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path
) -> None:
    """A finished run releases the checkpoint, so the next run can take it."""
    BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.skipped == ITEM_COUNT


# Failures.


@pytest.mark.parametrize("region", ["header tag", "key 0 ciphertext", "commitment"])
def test_tampered_message_reported(
    cipher: EnvelopeCipher, storage: Storage, checkpoint: Path, region: str
) -> None:
    """A message with a changed header fails with DecryptionFailed and is never written."""
    start = next(r.start for r in message_regions(storage.blobs["record-7"]) if r.name == region)
    tampered = flip(storage.blobs["record-7"], start, 0x01)
    storage.blobs["record-7"] = tampered

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.rewrapped == ITEM_COUNT - 1
    assert report.failed == 1
    assert report.failures[0].item_id == "record-7"
    assert report.failures[0].error_type == "DecryptionFailed"
    assert report.failures[0].retryable is False
    assert "record-7" not in storage.writes
    assert storage.blobs["record-7"] == tampered
    assert "record-7" not in checkpoint_ids(checkpoint)


def test_failed_item_keeps_version_in_use(
    cipher: EnvelopeCipher, storage: Storage, keyset: LocalKeyProvider
) -> None:
    """A message that failed still needs version 1, so still_in_use keeps naming it."""
    tampered = bytearray(storage.blobs["record-7"])
    tampered[EnvelopeCipher.inspect(bytes(tampered)).header_size - 1] ^= 0x01
    storage.blobs["record-7"] = bytes(tampered)

    report = BulkRewrap(cipher).run(storage.items(), storage.write)

    assert report.still_in_use(LOCAL) == {key_id_of(keyset, 1), key_id_of(keyset, 2)}
    assert report.key_versions_after[(LOCAL, key_id_of(keyset, 1))] == 1


def test_garbage_blob_reported(cipher: EnvelopeCipher, storage: Storage) -> None:
    """A blob that is no message at all fails and counts towards no key version."""
    storage.blobs["record-9"] = b"not an envelope"

    report = BulkRewrap(cipher).run(storage.items(), storage.write)

    assert report.failed == 1
    assert report.failures[0].error_type == "DecryptionFailed"
    assert report.key_versions_before.total() == ITEM_COUNT - 1


def test_provider_down_reports_retryable() -> None:
    """With the key service down, every item fails as retryable and nothing is written."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider)
    storage = Storage({f"record-{n}": cipher.encrypt(b"data") for n in range(10)})
    provider.rotate()
    provider.fail(Failure.UNAVAILABLE)

    report = BulkRewrap(cipher).run(storage.items(), storage.write)

    assert report.failed == 10
    assert all(failure.retryable for failure in report.failures)
    assert {failure.error_type for failure in report.failures} == {"KeyUnavailable"}
    assert {failure.provider for failure in report.failures} == {"fake"}
    assert {failure.key_id for failure in report.failures} == {"primary/v1"}
    assert storage.writes.total() == 0
    assert report.still_in_use("fake") == {"primary/v1"}


def test_rerun_retries_failed_items(checkpoint: Path) -> None:
    """Failed items are not checkpointed, so a rerun after recovery rewraps them."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider)
    storage = Storage({f"record-{n}": cipher.encrypt(b"data") for n in range(10)})
    provider.rotate()
    provider.fail(Failure.UNAVAILABLE)
    BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)
    provider.recover()

    report = BulkRewrap(cipher, checkpoint=checkpoint).run(storage.items(), storage.write)

    assert report.rewrapped == 10
    assert report.skipped == 0
    assert report.still_in_use("fake") == {"primary/v2"}


def test_unretryable_failure_flagged() -> None:
    """A KeyUnavailable marked not retryable is reported as not retryable."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider)
    blob = cipher.encrypt(b"data")
    provider.fail(Failure.UNAVAILABLE)
    provider.retryable = False

    report = BulkRewrap(cipher).run([("record-0", blob)], lambda item_id, new: None)

    assert report.failures[0].retryable is False


def test_max_failures_stops_run() -> None:
    """With max_failures=3, the run stops after the third failure and is not complete."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider)
    storage = Storage({f"record-{n}": cipher.encrypt(b"data") for n in range(10)})
    provider.fail(Failure.UNAVAILABLE)
    consumed: list[str] = []

    def items() -> Iterator[tuple[str, bytes]]:
        for item_id, blob in storage.items():
            consumed.append(item_id)
            yield item_id, blob

    report = BulkRewrap(cipher, max_failures=3).run(items(), storage.write)

    assert report.failed == 3
    assert report.complete is False
    assert len(consumed) == 3


def test_other_errors_propagate(cipher: EnvelopeCipher, checkpoint: Path) -> None:
    """An error other than KeyUnavailable or DecryptionFailed stops the run."""
    items: list[tuple[str, bytes]] = [("record-0", None)]  # type: ignore[list-item]

    with pytest.raises(TypeError):
        BulkRewrap(cipher, checkpoint=checkpoint).run(items, lambda item_id, blob: None)


# Arguments.


@pytest.mark.parametrize("item_id", ["", "a\nb", "a\rb", "a\0b", "\ud800", 7, None])
def test_invalid_item_id_rejected(cipher: EnvelopeCipher, item_id: object) -> None:
    """An id that is not a one-line non-empty str raises before anything is rewrapped."""
    blob = cipher.encrypt(b"data")
    items = [(item_id, blob)]

    with pytest.raises(ConfigurationError, match="item id") as caught:
        BulkRewrap(cipher).run(items, lambda item_id, blob: None)  # type: ignore[arg-type]

    assert caught.value.value == item_id


@pytest.mark.parametrize("setting", ["checkpoint_every", "max_failures"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10"])
def test_invalid_counts_rejected(cipher: EnvelopeCipher, setting: str, value: object) -> None:
    """checkpoint_every and max_failures must be ints of at least 1."""
    with pytest.raises(ConfigurationError, match=setting) as caught:
        BulkRewrap(cipher, **{setting: value})  # type: ignore[arg-type]

    assert caught.value.setting == setting


def test_non_cipher_rejected(keyset: LocalKeyProvider) -> None:
    """BulkRewrap takes an EnvelopeCipher, not a key provider."""
    with pytest.raises(ConfigurationError, match="must be an EnvelopeCipher"):
        BulkRewrap(keyset)  # type: ignore[arg-type]


def test_invalid_checkpoint_type_rejected(cipher: EnvelopeCipher) -> None:
    """A checkpoint that is neither a path nor None raises."""
    with pytest.raises(ConfigurationError, match="checkpoint must be a path"):
        BulkRewrap(cipher, checkpoint=3)  # type: ignore[arg-type]


def test_uncallable_write_rejected(cipher: EnvelopeCipher) -> None:
    """write must be callable."""
    with pytest.raises(ConfigurationError, match="write must be callable"):
        BulkRewrap(cipher).run([], "store")  # type: ignore[arg-type]


# Logs and secrets.


def bulk_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """Return the messages of the bulk rewrap's own log records at ``level``."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == level and record.getMessage().startswith("bulk rewrap")
    ]


def test_run_logs_start_and_end(
    cipher: EnvelopeCipher, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A run logs one INFO line at its start and one with the counts at its end."""
    with caplog.at_level(logging.INFO, logger="jivs_security.crypto"):
        BulkRewrap(cipher).run(storage.items(), storage.write)

    lines = bulk_records(caplog, logging.INFO)
    assert len(lines) == 2
    assert lines[0].startswith("bulk rewrap started")
    assert "rewrapped=50 skipped=0 failed=0" in lines[1]


def test_failure_logged_with_id(
    cipher: EnvelopeCipher, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed item gets one WARNING naming its id and error type."""
    storage.blobs["record-7"] = b"not an envelope"

    with caplog.at_level(logging.WARNING, logger="jivs_security.crypto"):
        BulkRewrap(cipher).run(storage.items(), storage.write)

    warnings = bulk_records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "item_id=record-7" in warnings[0]
    assert "error=DecryptionFailed" in warnings[0]


def test_repeated_failures_logged_up_to_limit(caplog: pytest.LogCaptureFixture) -> None:
    """Past 100 failed items, no WARNING per item is logged, and the report keeps them all."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider)
    blob = cipher.encrypt(b"data")
    provider.fail(Failure.UNAVAILABLE)
    items = [(f"record-{n}", blob) for n in range(130)]

    with caplog.at_level(logging.WARNING, logger="jivs_security.crypto"):
        report = BulkRewrap(cipher).run(items, lambda item_id, new: None)

    warnings = bulk_records(caplog, logging.WARNING)
    assert sum("item_id=" in line for line in warnings) == 100
    assert any("listed in the report only" in line for line in warnings)
    assert report.failed == 130


def test_interruption_logged(
    cipher: EnvelopeCipher, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A run stopped by an exception logs a WARNING with the error type and the counts."""
    with (
        caplog.at_level(logging.WARNING, logger="jivs_security.crypto"),
        pytest.raises(KeyboardInterrupt),
    ):
        BulkRewrap(cipher).run(storage.items(), storage.failing_after(4, KeyboardInterrupt()))

    warnings = bulk_records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "stopped by KeyboardInterrupt rewrapped=4" in warnings[0]


def test_no_key_material_in_logs_or_reprs(
    cipher: EnvelopeCipher,
    storage: Storage,
    keyset: LocalKeyProvider,
    checkpoint: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The KEKs of the keyset appear in no log line, report or repr."""
    storage.blobs["record-7"] = b"not an envelope"
    document = json.loads(keyset.path.read_text(encoding="utf-8"))
    keys = [entry["key"] for entry in document["versions"]]
    bulk = BulkRewrap(cipher, checkpoint=checkpoint)

    with caplog.at_level(logging.DEBUG):
        report = bulk.run(storage.items(), storage.write)

    texts = [caplog.text, repr(report), repr(bulk), checkpoint.read_text(encoding="utf-8")]
    assert len(keys) == 2
    for key in keys:
        for form in secret_forms(base64.b64decode(key)):
            for text in texts:
                assert form not in text


def test_repr_names_checkpoint(cipher: EnvelopeCipher, checkpoint: Path) -> None:
    """repr shows the cipher and the checkpoint path."""
    text = repr(BulkRewrap(cipher, checkpoint=checkpoint))

    assert str(checkpoint) in text
    assert "EnvelopeCipher(" in text


# key_versions_in_use.


def test_key_versions_in_use_counts_headers() -> None:
    """Messages are counted per wrapped key and version without any key-service call."""
    provider = FakeKeyProvider()
    backup = FakeKeyProvider("backup", provider_id="fake-backup")
    cipher = EnvelopeCipher(provider, backup)
    blobs = [cipher.encrypt(b"a"), cipher.encrypt(b"b")]
    provider.rotate()
    blobs.append(cipher.encrypt(b"c"))
    calls = provider.service_calls + backup.service_calls

    counts = key_versions_in_use(blobs)

    assert counts == Counter(
        {
            ("fake", "primary/v1"): 2,
            ("fake", "primary/v2"): 1,
            ("fake-backup", "backup/v1"): 3,
        }
    )
    assert provider.service_calls + backup.service_calls == calls


def test_key_versions_in_use_empty() -> None:
    """No messages count no key versions."""
    assert key_versions_in_use([]) == Counter()


def test_key_versions_in_use_rejects_garbage() -> None:
    """A blob whose header does not parse raises DecryptionFailed."""
    with pytest.raises(DecryptionFailed):
        key_versions_in_use([b"not an envelope"])
