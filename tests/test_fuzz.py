"""Fuzzing the decoder: whatever bytes arrive, `load_image` returns an RGB uint8 array
or raises `AurumError` with a known code. Anything else (a Pillow exception, a numpy
error, a wrong dtype) would reach the user as a traceback or crash the engine later.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from aurum.errors import ERROR_CODES, AurumError
from aurum.measure.imaging import MIN_SIDE, load_image

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore:.*EXIF.*:UserWarning")]

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _seed(fmt: str, mode: str = "RGB", size: tuple[int, int] = (48, 40), **kw) -> bytes:
    """A small valid file with some structure (a gradient and a block) to mutate."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.dstack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256]).astype(np.uint8)
    rgb[h // 4:h // 2, w // 4:w // 2] = (200, 30, 90)
    buf = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buf, fmt, **kw)
    return buf.getvalue()


SEEDS = {
    "jpeg": _seed("JPEG", quality=80),
    "jpeg_progressive": _seed("JPEG", quality=80, progressive=True),
    "png": _seed("PNG"),
    "png_palette": _seed("PNG", "P"),
    "png_rgba": _seed("PNG", "RGBA"),
    "gif": _seed("GIF", "P"),
    "webp": _seed("WEBP", quality=80),
    "bmp": _seed("BMP"),
    "tiff": _seed("TIFF"),
}


def _check(data: bytes) -> None:
    try:
        out = load_image(data)
    except AurumError as exc:
        assert exc.code in ERROR_CODES, exc.code
        assert exc.message.strip()
        return
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert min(out.shape[:2]) >= MIN_SIDE
    assert out.flags["C_CONTIGUOUS"]


def test_seeds_decode():
    """The mutation seeds are themselves valid: otherwise the fuzz below would only
    ever exercise the error path."""
    for name, data in SEEDS.items():
        out = load_image(data)
        assert out.shape == (40, 48, 3), name


@settings(FUZZ)
@given(st.binary(min_size=0, max_size=4096))
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"\xff\xd8\xff")
@example(b"GIF89a")
@example(b"BM" + b"\x00" * 60)
@example(b"II*\x00" + b"\x00" * 60)
@example(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
def test_arbitrary_bytes(data: bytes):
    _check(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid file with a few bytes flipped, a range zeroed, a cut or a splice: the
    damage a broken upload or a hostile file carries, mostly past the magic number so
    the real decoders run."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "zero", "cut", "insert", "dup"]))
        n = len(data)
        if n < 2:
            break
        at = draw(st.integers(0, n - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif kind == "zero":
            end = min(n, at + draw(st.integers(1, 64)))
            data[at:end] = bytes(end - at)
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            end = min(n, at + draw(st.integers(1, 64)))
            data[at:at] = data[at:end]
    return bytes(data)


@settings(FUZZ)
@given(mutated())
def test_mutated_valid_files(data: bytes):
    _check(data)


@settings(FUZZ)
@given(st.sampled_from(["PNG", "GIF", "BMP", "TIFF"]), st.integers(1, 70000),
       st.integers(1, 70000))
def test_declared_sizes(fmt: str, width: int, height: int):
    """Headers claiming any size up to 70000 x 70000 are refused or decoded; none
    allocates more than the 40 MP limit."""
    import struct
    import zlib

    if fmt == "PNG":
        def chunk(kind: bytes, body: bytes) -> bytes:
            return (struct.pack(">I", len(body)) + kind + body
                    + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
        data = (b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)), 9))
                + chunk(b"IEND", b""))
    elif fmt == "GIF":
        data = bytearray(SEEDS["gif"])
        data[6:10] = struct.pack("<HH", min(width, 65535), min(height, 65535))
        data = bytes(data)
    elif fmt == "BMP":
        data = bytearray(SEEDS["bmp"])
        data[18:26] = struct.pack("<ii", width, height)
        data = bytes(data)
    else:
        data = bytearray(SEEDS["tiff"])
        data = bytes(data)  # TIFF sizes live in IFD tags: covered by the mutation fuzz
    try:
        out = load_image(data)
    except AurumError as exc:
        assert exc.code in ERROR_CODES
        return
    assert out.shape[0] * out.shape[1] <= 40_000_000
    assert out.dtype == np.uint8 and out.shape[2] == 3
