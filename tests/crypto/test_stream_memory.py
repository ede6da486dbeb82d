"""Streaming keeps memory flat: a 1 GiB file round-trips in a child process under 64 MiB.

The child process runs only the encryption and decryption, so its peak
resident set size measures the interpreter, the imports and the stream
buffers. It is read from ``VmHWM`` in ``/proc/self/status``, which starts
afresh at ``exec``; ``ru_maxrss`` would carry over the test runner's peak
from the ``fork``. The
files live on disk and are hashed in 1 MiB chunks, so no step of the test
reads a whole file into memory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jivs_security.crypto._cipher import DEFAULT_SEGMENT_BYTES

FILE_BYTES = 1 << 30
CHUNK_BYTES = 1 << 20
TAG = 16
MAX_PEAK_KIB = 64 * 1024

TESTS_DIR = Path(__file__).resolve().parents[1]

# Runs in the child: encrypt the source file, decrypt the result, and print
# the header size and the peak RSS in KiB.
CHILD_SCRIPT = """
import sys

from crypto_support import FakeKeyProvider
from jivs_security.crypto._cipher import EnvelopeCipher

source, sealed, opened = sys.argv[1:4]
cipher = EnvelopeCipher(FakeKeyProvider())
with open(source, "rb") as reader, open(sealed, "wb") as writer:
    cipher.encrypt_stream(reader, writer, context={"file": "large"})
with open(sealed, "rb") as reader, open(opened, "wb") as writer:
    cipher.decrypt_stream(reader, writer, context={"file": "large"})
with open(sealed, "rb") as reader:
    header_size = EnvelopeCipher.inspect(reader.read(4096)).header_size
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(header_size, peak)
"""


def write_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path`` in 1 MiB chunks; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as writer:
        for _ in range(size // CHUNK_BYTES):
            chunk = os.urandom(CHUNK_BYTES)
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads VmHWM from Linux's /proc")
def test_one_gib_round_trip_flat_memory(tmp_path: Path) -> None:
    """A 1 GiB file encrypts and decrypts as streams with a peak RSS under 64 MiB."""
    source, sealed, opened = tmp_path / "source", tmp_path / "sealed", tmp_path / "opened"
    expected_digest = write_random_file(source, FILE_BYTES)
    inherited = os.environ.get("PYTHONPATH")
    search_path = os.pathsep.join([str(TESTS_DIR), inherited] if inherited else [str(TESTS_DIR)])
    environment = {**os.environ, "PYTHONPATH": search_path}

    try:
        completed = subprocess.run(
            [sys.executable, "-c", CHILD_SCRIPT, str(source), str(sealed), str(opened)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=100,
            check=True,
        )
        header_size, peak_kib = (int(field) for field in completed.stdout.split())
        segments = FILE_BYTES // DEFAULT_SEGMENT_BYTES
        sealed_size = sealed.stat().st_size
        opened_digest = file_sha256(opened)
    finally:
        for path in (source, sealed, opened):
            path.unlink(missing_ok=True)

    assert peak_kib < MAX_PEAK_KIB
    assert sealed_size == header_size + FILE_BYTES + TAG * segments
    assert opened_digest == expected_digest
