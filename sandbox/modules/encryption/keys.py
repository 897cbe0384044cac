"""The encryption keys: a file in the data dir per workspace, readable by its owner only.

``encryption.key`` holds Fernet keys, one a line, newest first. The newest one
encrypts; every one in the file may decrypt (``MultiFernet``). Holding two keys
for a moment is what lets a rotation re-encrypt every note without a single
instant where some note cannot be read.

Whoever has this file can read every note body, and whoever loses it loses them:
it is made once (mode 0600, like the secret key), never sent over the network
(only its *fingerprint*, a hash, is shown), and only ever replaced whole.

In class mode every student's workspace has a key of its own, in
``keys/<workspace>.key`` (the folder mode 0700): a key unlocks one workspace's notes
and no other's, so a classmate who rotates, loses or leaks theirs changes nothing of
yours. The server's own workspace (``local``) keeps ``encryption.key``, where it
always was.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from flask import Flask, current_app, g

from sandbox import db
from sandbox.errors import SandboxError
from sandbox.workspaces import WORKSPACE_ID, PerWorkspace

KEY_FILE = "encryption.key"
KEYS_DIR = "keys"  # the keys of the other workspaces (class mode), one file each
# After a rotation, how long this process may still *decrypt* with the key it dropped.
RETIRED_SECONDS = 60.0
HEADER = (
    "# Fernet keys for the note bodies, newest first: the first encrypts, any may decrypt.\n"
    "# Whoever has this file can read every note; whoever loses it loses them. Never commit it.\n"
)
# 32 random bytes in URL-safe base64: 16 for the HMAC key, 16 for the AES key.
_KEY_LINE = re.compile(r"^[A-Za-z0-9_-]{43}=$")


class KeyMissing(SandboxError):
    """The key file is gone while notes encrypted with it remain."""

    # 500: nothing in the request is wrong and resending it cannot help; the server lost
    # something it needs. Saying exactly what is missing is what makes it a useful 500.
    status = 500
    title = "Encryption key missing"


class KeyFileBroken(SandboxError):
    """The key file exists but does not hold Fernet keys."""

    status = 500
    title = "Encryption key file unreadable"


def fingerprint(key: bytes) -> str:
    """Return a short name for a key: a hash of it, which reveals nothing of the key."""
    return hashlib.sha256(b"sandbox.encryption.fingerprint:" + key).hexdigest()[:16]


def write_atomically(path: Path, text: str) -> None:
    """Replace a file in one step, mode 0600: a crash leaves the old file or the new, never half."""
    # The temporary file is in the same folder: os.replace is atomic only within one file
    # system. mkstemp creates it with mode 0600, so the key is never readable by others.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on the disk before it takes the old file's place
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename itself durable too
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def key_file(workspace: str, own_workspace: str) -> str:
    """Return where a workspace's key file is, relative to the data dir."""
    if workspace == own_workspace:
        return KEY_FILE  # the server's own workspace: the file every data dir always had
    # The name becomes a file name: only the server's own short ids (no "../", no "/").
    if not WORKSPACE_ID.fullmatch(workspace):
        raise ValueError(f"not a workspace id: {workspace!r}")
    return f"{KEYS_DIR}/{workspace}.key"


class KeyRing:
    """The Fernet keys of one workspace, read again whenever their file changes."""

    def __init__(self, data_dir: Path, name: str = KEY_FILE):
        self.name = name  # what the status shows: the file, relative to the data dir
        self.path = Path(data_dir) / name
        self._seen: tuple[int, int, int] | None = None  # the file's (inode, mtime, size)
        self._keys: list[bytes] = []
        self._fernet: MultiFernet | None = None
        self._retired: list[bytes] = []
        self._retired_until = 0.0
        self._lock = threading.Condition()
        # Requests that encrypted with a key and have not finished yet, by key fingerprint.
        self._writers: Counter[str] = Counter()

    def exists(self) -> bool:
        """Return whether the key file is there."""
        return self.path.is_file()

    def keys(self) -> list[bytes]:
        """Return the keys, newest first, or raise a problem naming what is wrong."""
        with self._lock:
            self._refresh()
            return list(self._keys)

    def fernet(self) -> MultiFernet:
        """Return a MultiFernet of every key: it encrypts with the first, decrypts with any."""
        with self._lock:
            self._refresh()
            assert self._fernet is not None
            return self._fernet

    def primary(self) -> str:
        """Return the fingerprint of the key that encrypts."""
        return fingerprint(self.keys()[0])

    def create(self) -> None:
        """Make the key file with one new random key, unless it exists."""
        text = HEADER + Fernet.generate_key().decode() + "\n"
        if self.name.startswith(KEYS_DIR + "/"):
            _private_folder(self.path.parent)  # a folder of keys only: its owner's alone
        try:
            # O_EXCL: if two processes get here at once, one writes and the other keeps its key.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def write(self, keys: list[bytes]) -> None:
        """Replace the key file with these keys, newest first, and use them at once."""
        with self._lock:
            dropped = [k for k in self._keys if k not in keys]
            write_atomically(self.path, HEADER + "".join(k.decode() + "\n" for k in keys))
            self._seen = None  # read it again now, before anyone encrypts with the old list
            self._refresh()
            if dropped:
                # A request that read its rows just before the rotation committed may still
                # hold old ciphertext: for a minute it may decrypt it here (never encrypt),
                # rather than be told, wrongly, that its note was tampered with.
                self._retired, self._retired_until = dropped, time.monotonic() + RETIRED_SECONDS
                self._fernet = MultiFernet([Fernet(k) for k in self._keys + dropped])

    def for_writing(self) -> MultiFernet:
        """Return the keys to encrypt with, noting that this request is writing with them.

        A rotation drops the old key only once every request that encrypted with it has
        finished (and its write is in the database, where the rotation re-encrypts it).
        """
        with self._lock:
            self._refresh()
            primary = fingerprint(self._keys[0])
            # Kept per ring: whatever workspace's ring this request wrote with is released.
            mine = g.setdefault("encryption_writing", {}).setdefault(self, set())
            if primary not in mine:
                mine.add(primary)
                self._writers[primary] += 1
            assert self._fernet is not None
            return self._fernet

    def release(self, fingerprints: set[str]) -> None:
        """Forget writes with these keys: the request that made them is over."""
        with self._lock:
            self._writers.subtract(fingerprints)
            self._lock.notify_all()

    def wait_for_writers(self, keep: str, timeout: float) -> bool:
        """Wait until no request is still writing with a key other than ``keep``."""
        with self._lock:
            return self._lock.wait_for(
                lambda: not any(n > 0 for fp, n in self._writers.items() if fp != keep),
                timeout=timeout,
            )

    def _refresh(self) -> None:
        # One stat per call, and the file is read again only when it changed (a rotation in
        # another process replaces it: a new inode). Called with the lock held.
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._seen, self._keys, self._fernet = None, [], None
            raise KeyMissing(
                f"The key file {self.path} is missing, so the encrypted note bodies cannot be "
                "read: without the key, ciphertext is just noise. Put the file back from your "
                "backup, or start over with POST /sandbox/reset (the notes are lost)."
            ) from None
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._retired and time.monotonic() > self._retired_until:
            self._retired, self._seen = [], None  # the minute is over: forget the old key
        if seen == self._seen:
            return
        if os.name == "posix" and info.st_mode & 0o077:
            os.chmod(self.path, 0o600)  # readable by others: take that back before using it
        lines = self.path.read_text(encoding="ascii", errors="replace").splitlines()
        keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        broken = [k for k in keys if not _KEY_LINE.match(k)]
        if broken or not keys:
            raise KeyFileBroken(
                f"The key file {self.path} should hold Fernet keys (44 characters of URL-safe "
                "base64, one a line), but it does not. Put back the file from your backup."
            )
        self._keys = [k.encode() for k in keys]
        self._fernet = MultiFernet([Fernet(k) for k in self._keys])
        self._seen = seen


def keys_in(text: str) -> list[bytes]:
    """Return the Fernet keys a key file's text holds, newest first (none if it is broken)."""
    lines = [line.strip() for line in text.splitlines()]
    found = [line for line in lines if line and not line.startswith("#")]
    return [k.encode() for k in found if _KEY_LINE.match(k)]


def _private_folder(folder: Path) -> None:
    """Make the folder of the workspaces' keys, or take back access others have to it."""
    folder.mkdir(mode=0o700, exist_ok=True)
    if os.name == "posix" and folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)


def rings(app: Flask) -> PerWorkspace[KeyRing]:
    """Return a key ring per workspace, each made on first use (its file is not yet)."""
    data_dir, own = Path(app.instance_path), app.config["SANDBOX_WORKSPACE"]
    return PerWorkspace(lambda workspace: KeyRing(data_dir, key_file(workspace, own)))


def ring(workspace: str | None = None) -> KeyRing:
    """Return the key ring of a workspace: this request's unless another is named."""
    return current_app.extensions["encryption.keys"].get(workspace or db.workspace())


def release(error: BaseException | None = None) -> None:
    """Forget the writes of the request (or command) that is ending, in every ring it used."""
    for used, fingerprints in g.pop("encryption_writing", {}).items():
        used.release(fingerprints)
