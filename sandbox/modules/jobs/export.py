"""The slow task: an archive of every note you may see, written to the outbox.

Honest work, no ``sleep``: each note becomes a Markdown file compressed with LZMA (the
algorithm of ``.xz`` files, the strongest a zip file offers, and slow: every file gets
a compressor of its own with a dictionary of several megabytes), plus a manifest with
each file's SHA-256. A few milliseconds per note: seconds for a couple of thousand.

The archive goes to the ``outbox/`` folder of the data dir, never over the network. It is
written under a temporary name and renamed when complete, so nobody ever sees half an
archive, and a job's archive has a name of its own (``job-7.zip``): a job that runs twice
(a retry, a redelivery after a crash) writes the same file again instead of a second one.
That is what makes it *idempotent*, safe to run more than once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app

from sandbox import db, notes
from sandbox.record import event

OUTBOX = "outbox"
KEEP = 20  # archives kept per workspace: the oldest go, so a loop of exports cannot fill the disk


class Interrupted(Exception):
    """The server is stopping: the export stops between two notes, to run again later."""


class ExportFailed(Exception):
    """An export that failed on purpose (``fail_times``), to watch the queue retry it."""


def outbox(workspace: str) -> Path:
    """Return the workspace's outbox folder in the data dir."""
    return Path(current_app.instance_path) / OUTBOX / workspace


def as_markdown(note: dict[str, Any]) -> str:
    """Write one note as a Markdown file."""
    tags = ", ".join(note["tags"]) or "none"
    return f"# {note['title']}\n\nTags: {tags}  \nUpdated: {note['updated_at']}\n\n{note['body']}\n"


def build(name: str, stopping: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Write ``<name>.zip`` of the asker's notes to the outbox; return what it holds.

    ``stopping()`` is asked between notes: when the server stops, the export ends early
    (raising :class:`Interrupted`) rather than holding the shutdown up.
    """
    started = time.perf_counter()
    folder = outbox(db.workspace())
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}.zip"
    partial = folder / f".{name}.{threading.get_ident()}.partial"
    manifest: list[dict[str, Any]] = []
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_LZMA) as archive:
            for note in notes.visible_notes():  # yours only, decrypted: the note store's rules
                if stopping():
                    raise Interrupted(f"the server stopped after {len(manifest)} notes")
                text = as_markdown(note).encode("utf-8")
                path = f"notes/{note['id']}.md"
                archive.writestr(path, text)
                digest = hashlib.sha256(text).hexdigest()
                manifest.append({"path": path, "bytes": len(text), "sha256": digest})
            archive.writestr("manifest.json", json.dumps({"files": manifest}, indent=1))
        os.replace(partial, final)  # atomic: the old archive or the new one, never half of one
    finally:
        partial.unlink(missing_ok=True)
    size = final.stat().st_size
    _keep_newest(folder)
    took = round((time.perf_counter() - started) * 1000, 1)
    result = {
        "file": f"{OUTBOX}/{db.workspace()}/{final.name}",
        "notes": len(manifest),
        "bytes": size,
        "took_ms": took,
    }
    event(
        "jobs",
        f"exported {len(manifest)} notes to {result['file']} ({result['bytes']:,} bytes) in "
        f"{took:,.0f} ms on thread {threading.current_thread().name}",
        exported=len(manifest),
        took_ms=took,
    )
    return result


def _keep_newest(folder: Path) -> None:
    dated = []
    for archive in folder.glob("*.zip"):
        try:
            dated.append((archive.stat().st_mtime, archive))
        except FileNotFoundError:  # another export's tidy-up took it a moment ago
            continue
    for _, old in sorted(dated, reverse=True)[KEEP:]:
        old.unlink(missing_ok=True)


def forget(workspace: str) -> None:
    """Delete a workspace's archives (on reset)."""
    folder = outbox(workspace)
    for archive in folder.glob("*.zip"):
        archive.unlink(missing_ok=True)
