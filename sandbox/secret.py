"""Secret key: made once per data dir, readable by its owner only, never in git.

Flask signs session cookies with this key. Anyone who has it can forge a
session, so it is random (``secrets``), created on first start, and written
with file mode 0600 (on Windows, the file lives in the user's own folder).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create(path: Path) -> str:
    """Return the key stored at ``path``, creating it on first use."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    # O_EXCL: if two processes start at once, only one writes; the other reads its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key
