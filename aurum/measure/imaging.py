"""Decode anything a user might upload into one RGB uint8 array, or a typed error.

Every path into the engine (CLI, app, API, tests) comes through `load_image`, so
EXIF orientation, odd colour modes and hostile files are handled once.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from aurum.errors import AurumError

MAX_PIXELS = 40_000_000  # about 7700 x 5200; larger is refused before decoding
MAX_BYTES = 60 * 1024 * 1024
MIN_SIDE = 32

# We enforce our own pixel limit before decoding; Pillow's own guard only warns
# below twice its limit, so we make its warning an error as well.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
READS = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF"  # named in the not_an_image message


def _register_heif() -> str:
    """Phones save HEIC (iPhones by default): pillow-heif (BSD-3, bundles libheif) reads
    it as a Pillow format, so every path in (upload, API, CLI, build) gets it here,
    once. libheif applies the file's rotation and mirror (`irot`/`imir`) as it decodes
    and pillow-heif then sets the EXIF orientation tag to 1, so the EXIF turn below never
    turns it twice. Thumbnails, depth maps and auxiliary images are not loaded: only
    the primary image is scored."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError as exc:  # HEIC then gets not_an_image; everything else works
        return f"unavailable: {exc}"
    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return "ready"


HEIF_STATUS = _register_heif()


@dataclass(frozen=True)
class Refused:
    """An upload refused by its size on disk, never read: the app hands this to the
    engine instead of the bytes, so an oversized file gets the same `image_too_large`
    answer (JSON, UI panel) without entering the server's memory."""

    size: int


def too_large(size: int) -> AurumError:
    return AurumError("image_too_large", f"The file is {size / 1e6:.1f} MB; the limit is "
                      f"{MAX_BYTES / 1e6:.1f} MB.")


def load_image(source: Any, *, bgr: bool = False) -> np.ndarray:
    """Return an RGB uint8 array (H, W, 3) from a path, bytes, PIL image or array.

    `bgr=True` says a 3/4-channel array is in OpenCV's BGR(A) order.
    """
    if isinstance(source, Refused):
        raise too_large(source.size)
    if isinstance(source, np.ndarray):
        return _check_size(_from_array(source, bgr=bgr))
    if isinstance(source, Image.Image):
        return _check_size(_from_pil(source))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise AurumError("file_not_found", f"No file at '{path}'.")
        size = path.stat().st_size
        if size == 0:
            raise AurumError("empty_input", "The file is empty.")
        if size > MAX_BYTES:
            raise too_large(size)
        return load_image(path.read_bytes())
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise AurumError("empty_input", "The file is empty.")
        if len(data) > MAX_BYTES:
            raise AurumError("image_too_large", "The file is larger than the upload limit.")
        return _check_size(_from_bytes(data))
    if source is None:
        raise AurumError("empty_input", "No image was given.")
    raise AurumError("unsupported_input", f"Cannot read a {type(source).__name__} as an image.")


def _from_bytes(data: bytes) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise AurumError("image_too_large", f"The image is {w}x{h} pixels; the limit is "
                                 f"{MAX_PIXELS / 1e6:.0f} megapixels.")
            if img.format in ("JPEG", "MPO") and img.mode == "RGB":
                fast = _decode_jpeg(data, img)
                if fast is not None:
                    return fast
            if img.format != "HEIF":  # a HEIF opens on its primary image: keep it
                img.seek(0)  # first frame of an animation
            img.load()
    except AurumError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AurumError("image_too_large", "The image has too many pixels to decode "
                         "safely.") from exc
    except UnidentifiedImageError as exc:
        raise _heif_failure(data) or AurumError(
            "not_an_image", f"The file is not an image Aurum can read ({READS}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc).lower()
        # libheif says "Unexpected end of file" for a cut-short HEIC.
        code = "truncated_image" if ("truncat" in text or "broken" in text or "premature" in text
                                     or "eof" in text or "end of file" in text
                                     ) else "not_an_image"
        raise AurumError(code, "The image file is damaged or cut short and cannot be "
                         "decoded.") from exc
    except Exception as exc:  # any decoder failure must reach the user as a code
        raise AurumError("not_an_image", f"The image could not be decoded ({type(exc).__name__})."
                         ) from exc
    return _from_pil(img)


def _heif_failure(data: bytes) -> AurumError | None:
    """Why a file that starts as a HEIF container did not open, as a code: Pillow hides
    the plugin's error behind "cannot identify", and a phone's HEIC cut short (its EXIF
    block sits after the picture) fails right there, not at decoding."""
    if HEIF_STATUS != "ready":
        return None
    import pillow_heif

    try:
        if not pillow_heif.is_supported(data):
            return None
        pillow_heif.open_heif(io.BytesIO(data))
    except Exception as exc:  # libheif's own words say whether it was cut short
        if "end of file" in str(exc).lower():
            return AurumError("truncated_image", "The HEIC/HEIF file is cut short and cannot "
                              "be decoded.")
    return AurumError("not_an_image", "The HEIC/HEIF file is damaged and cannot be decoded.")


# EXIF orientation -> the turn that makes the picture upright, as ImageOps.exif_transpose
# does it (PIL's ROTATE_90 is counter-clockwise). Looked up with the tag's raw value, as
# exif_transpose does, so a malformed value ("6", 6.5) turns nothing on either path.
_ORIENT: dict[Any, Any] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}
# Markers a plain Huffman-coded JPEG may hold between its start and its end-of-image
# marker, besides one frame header and the scans: tables, restart interval, comments,
# application segments (EXIF, ICC, XMP, MPF).
_SEGMENTS = frozenset([0xC4, 0xDB, 0xDD, 0xFE, *range(0xE0, 0xF0)])
_FRAMES = frozenset([0xC0, 0xC1, 0xC2])  # baseline, extended, progressive (Huffman)
_IN_SCAN = re.compile(rb"\xff[^\x00\xff]")  # a marker inside entropy-coded data


def _scan_components(data: bytes, pos: int, end: int, frame: int, components: bytes,
                     covered: set[int]) -> set[int] | None:
    """The component ids of a well-formed start-of-scan header at `pos` (its length
    field), or None: a progressive scan is a DC scan or an AC scan of one component, a
    sequential one covers each component in exactly one full scan."""
    length = end - pos
    ns = data[pos + 2] if length > 2 else 0
    if not frame or not 1 <= ns <= 4 or length != 6 + 2 * ns:
        return None
    ids = set(data[pos + 3:pos + 3 + 2 * ns:2])
    ss, se, a = data[end - 3], data[end - 2], data[end - 1]
    if len(ids) != ns or not ids <= set(components):
        return None
    if frame == 0xC2:
        if se > 63 or ss > se or (ss == 0) != (se == 0) or (ss and ns != 1) \
                or a >> 4 > 13 or a & 15 > 13:
            return None
    elif ss != 0 or se != 63 or a != 0 or ids & covered:
        return None
    return ids


def _skip_coded_data(data: bytes, pos: int) -> int | None:
    """Where the entropy-coded data starting at `pos` ends (the next marker that is not
    a restart), or None when it never ends or its restart markers skip a count (0-7,
    in order)."""
    rst = 0
    while True:
        m = _IN_SCAN.search(data, pos)
        if m is None:
            return None
        marker = data[m.start() + 1]
        if not 0xD0 <= marker <= 0xD7:
            return m.start()
        if marker != 0xD0 + rst:
            return None
        rst, pos = (rst + 1) % 8, m.end()


def _well_formed_jpeg(data: bytes) -> bool:
    """True when the first picture's markers are exactly those of a complete, plain
    Huffman-coded JPEG, up to its end-of-image marker (what follows it, such as an MPO
    file's second picture or a camera's trailer, is ignored by both decoders).

    Why: OpenCV reports success once the last row is out and ignores any error libjpeg
    raises while finishing the file; Pillow reports it (`truncated_image`). So a damaged
    upload (a cut-short file with another one appended, a stray start-of-image, frame or
    scan marker, an out-of-order restart marker) must not reach OpenCV. Arithmetic-coded,
    lossless and hierarchical JPEGs, and DNL markers, also stay with Pillow. The walk
    checks each frame and scan header's length and fields and, for a sequential frame,
    that its scans cover each component once; the scans' bytes are searched with a
    regex (about 0.5 ms a megabyte). Falling back is always safe.
    """
    n = len(data)
    if not data.startswith(b"\xff\xd8"):
        return False
    pos, frame, components, covered, scans = 2, 0, b"", set(), 0
    while True:
        if pos >= n or data[pos] != 0xFF:
            return False
        while pos < n and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= n:
            return False
        code = data[pos]
        pos += 1
        if code == 0xD9:  # end of image
            return scans > 0 and (frame == 0xC2 or len(covered) == len(components))
        if pos + 2 > n:
            return False
        length = (data[pos] << 8) | data[pos + 1]
        end = pos + length
        if length < 2 or end > n:
            return False
        if code in _FRAMES:
            nf = data[pos + 7] if length > 7 else 0
            if frame or nf not in (1, 3) or length != 8 + 3 * nf:
                return False
            frame, components = code, data[pos + 8:end:3]
        elif code == 0xDA:  # start of scan: check its header, then skip the coded data
            ids = _scan_components(data, pos, end, frame, components, covered)
            nxt = None if ids is None else _skip_coded_data(data, end)
            if ids is None or nxt is None:
                return False
            covered |= ids
            scans += 1
            pos = nxt
            continue
        elif code not in _SEGMENTS:
            return False
        pos = end


def _decode_jpeg(data: bytes, img: Image.Image) -> np.ndarray | None:
    """The same pixels as Pillow's path, in half the time on a phone photo, or None.

    Pillow keeps RGB as 4 bytes a pixel, so handing a decoded photo to numpy repacks
    it, nearly as slowly as it decodes (30-46 ms against 40-54 for 12 megapixels here),
    and its EXIF turn is slower than OpenCV's (23 ms against 20): a 2 MB phone photo
    stored on its side loads in 61 ms here against 137 on Pillow's path. OpenCV decodes
    with the same libjpeg-turbo code (the same integer IDCT and upsampling;
    tests/measure/test_imaging.py checks the pixels are identical) straight into an array.
    Anything unusual stays on Pillow's path, which owns the error messages: a file
    that is not a well-formed plain JPEG (`_well_formed_jpeg`), an EXIF block Pillow's
    turn could not rewrite (it then keeps the photo as stored), a size that disagrees
    with the header Pillow read, or a failed decode.
    """
    if not _well_formed_jpeg(data):
        return None
    try:
        exif = img.getexif()
        orientation = exif.get(0x0112, 1)
        if orientation != 1:
            exif.tobytes()  # what exif_transpose does after turning; it may raise
    except Exception:
        return None
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    flags = (cv2.IMREAD_COLOR if rgb_flag is None else rgb_flag) | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        return None
    if arr is None or arr.shape != (img.height, img.width, 3) or arr.dtype != np.uint8:
        return None
    if rgb_flag is None:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    try:
        turn = _ORIENT.get(orientation)
    except TypeError:  # an unhashable value: exif_transpose's lookup would fail too
        return None
    return arr if turn is None else np.ascontiguousarray(turn(arr))


def _from_pil(img: Image.Image) -> np.ndarray:
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise AurumError("image_too_large", f"The image is {w}x{h} pixels; the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels.")
    try:
        # exif_transpose copies the whole image even when there is nothing to turn.
        if img.getexif().get(0x0112, 1) != 1:
            img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not cost the user their photo
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0), 0, 255)
        return np.ascontiguousarray(np.repeat(arr.astype(np.uint8)[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _from_array(arr: np.ndarray, *, bgr: bool) -> np.ndarray:
    if arr.size == 0:
        raise AurumError("empty_input", "The image array is empty.")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise AurumError("unsupported_input", f"An image array must be HxW, HxWx3 or HxWx4; got "
                         f"shape {arr.shape}.")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise AurumError("image_too_large", "The image has too many pixels.")
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = (arr.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float64))
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        out = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        out = np.clip(arr.astype(np.int64) * (255 if arr.dtype == np.bool_ else 1), 0, 255
                      ).astype(np.uint8)
    else:
        raise AurumError("unsupported_input", f"Cannot read an array of {arr.dtype}.")
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    if out.shape[2] == 4:
        alpha = out[:, :, 3:4].astype(np.float32) / 255.0
        out = (out[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha) + 0.5).astype(
            np.uint8)
    if bgr:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def _check_size(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise AurumError("image_too_small", f"The image is {w}x{h} pixels; a face needs at least "
                         f"{MIN_SIDE} pixels on each side (a few hundred is better).")
    return rgb
