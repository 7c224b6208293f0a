"""What a pinned face network says about itself: dlib's descriptor and faceres each
load weights checked against a SHA-256 once, on first use, and report the same three
states and the same card, so both speak from here and cannot drift apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

# Both networks' outputs identify a person; the card says how they are kept.
PRIVACY = "identity template: memory only, never stored, logged or returned"


class PinnedNetwork:
    """The status line and card of a face network with SHA-256-pinned weights.

    A subclass sets `LICENCES` and `SHA256` (file name -> value), keeps `_error` (the
    load's failure, None until one) and defines `ready`, `ready_status()` (what runs,
    once loaded) and `chip_text()` (the input it is given, in words)."""

    LICENCES: ClassVar[Mapping[str, str]]
    SHA256: ClassVar[Mapping[str, str]]
    _error: str | None

    @property
    def ready(self) -> bool:
        raise NotImplementedError

    def ready_status(self) -> str:
        raise NotImplementedError

    def chip_text(self) -> str:
        raise NotImplementedError

    def status(self) -> str:
        """One line for the Status tab and /health: ready (and on what), why not, or not
        loaded yet (the networks load on first use)."""
        if self.ready:
            return f"ready: {self.ready_status()}"
        if self._error:
            return f"unavailable: {self._error}"
        return "not loaded yet (loads on first use)"

    def info(self) -> dict[str, Any]:
        """For the Status tab and the model card: what it is, licences, checksums."""
        return {"status": self.status(), "licences": dict(self.LICENCES),
                "weights_sha256": dict(self.SHA256), "chip": self.chip_text(),
                "privacy": PRIVACY}
