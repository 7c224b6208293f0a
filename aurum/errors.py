"""Typed errors: every failure a user can cause has a stable code and a plain message."""

from __future__ import annotations


class AurumError(Exception):
    """An error the user can act on, never a traceback.

    `code` is stable (tests, API clients and the UI switch on it); `message` is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# The codes, in one place so the UI and the docs can list them.
ERROR_CODES: dict[str, str] = {
    "empty_input": "The file is empty.",
    "not_an_image": "The file is not an image Aurum can read.",
    "truncated_image": "The image file is cut short or damaged.",
    "image_too_large": "The image has too many pixels (decompression-bomb guard).",
    "image_too_small": "The image is too small to hold a face we can measure.",
    "unsupported_input": "That kind of input cannot be read as an image.",
    "file_not_found": "No file at that path.",
    "no_face": "No face was found in the image.",
    "face_too_small": "The face is too small or too close to the edge to measure.",
    "apparent_minor": "The face may be under 18: Aurum rates adults only, so no score is "
                      "given (an automatic check of the photo, not a statement of age).",
    "age_gate_unavailable": "The adults-only check could not run, so no score is given.",
    "bad_config": "The configuration is not valid.",
    "bad_photo_count": "Compare takes 2 to 12 photos.",
    "nothing_to_rank": "Compare could rank none of the photos (each one says why).",
    "internal_error": "Something failed on our side (logged without the image); try again.",
}

# The adults-only gate's codes (aurum.analysers.age_gate): a face stopped by one of them
# gets no score of any kind, and nothing measured of it is kept.
GATE_CODES: frozenset[str] = frozenset({"apparent_minor", "age_gate_unavailable"})

class FeatureError(ValueError):
    """A face measure could not be taken on this face (degenerate landmarks, a hidden
    region): the model that needed it reports itself unavailable, never a made-up value."""
