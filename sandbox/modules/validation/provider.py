"""The validation module's plug into the note store: check while on, let in while off."""

from __future__ import annotations

from typing import Any

from sandbox import notes

from .relaxed import let_in


class NoteValidation:
    """Provides ``note_validation`` (sandbox/services.py) to the note store."""

    def validate(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Check by the note models (sandbox/notes.py): the same ones the document shows."""
        return notes.checked(data, partial=partial)

    def relaxed(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Store what was sent, as far as the storage can hold it (see relaxed.py)."""
        return let_in(data, partial=partial)
