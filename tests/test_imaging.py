"""The JPEG fast path hands the engine exactly the pixels Pillow's path would.

`imaging._decode_jpeg` decodes JPEG uploads with OpenCV instead of Pillow (half the
time on a phone photo). Every score, the model and the reference population were
built from Pillow's pixels, so the two must agree bit for bit, on every JPEG flavour a
camera or editor writes, and anything the fast path does not handle must still reach
Pillow (which owns the error messages). Committed fixtures only: no shared data.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from aurum import imaging
from aurum.errors import AurumError
from tests.conftest import FIXTURE_FACE

# Upright picture -> what a camera stores under each EXIF orientation tag.
STORED_AS = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_270}


@pytest.fixture(scope="module")
def upright() -> Image.Image:
    """Odd width and height, not square: 4:2:0 edge blocks and a missed turn both show."""
    with Image.open(FIXTURE_FACE) as im:
        rgb = im.convert("RGB")
    return rgb.crop((3, 5, 3 + 401, 5 + 517))


def _jpeg(img: Image.Image, orientation: int = 1, **kw: object) -> bytes:
    transpose = STORED_AS[orientation]
    stored = img if transpose is None else img.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif.tobytes(), **kw)
    return buf.getvalue()


def _pillow(data: bytes) -> np.ndarray:
    """What `load_image` returned before the fast path: Pillow decodes and turns."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def _fast(data: bytes) -> np.ndarray | None:
    with Image.open(io.BytesIO(data)) as im:
        return imaging._decode_jpeg(data, im)


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_fast_path_gives_pillows_pixels(upright: Image.Image, orientation: int,
                                        subsampling: int, progressive: bool):
    data = _jpeg(upright, orientation, quality=90, subsampling=subsampling,
                 progressive=progressive)
    fast = _fast(data)
    assert fast is not None  # the path under test really ran
    expected = _pillow(data)
    assert fast.shape == (517, 401, 3) and fast.dtype == np.uint8
    assert fast.flags["C_CONTIGUOUS"]
    assert np.array_equal(fast, expected)
    assert np.array_equal(imaging.load_image(data), expected)


def test_restart_markers_and_low_quality(upright: Image.Image):
    for kw in ({"quality": 10}, {"quality": 100, "subsampling": 0},
               {"quality": 75, "restart_marker_blocks": 7}):
        data = _jpeg(upright, **kw)
        fast = _fast(data)
        assert fast is not None, kw
        assert np.array_equal(fast, _pillow(data)), kw


def test_multi_picture_file_uses_the_first_picture(upright: Image.Image):
    """Phones store MPO files: the main photo first, then e.g. a depth preview."""
    other = upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    upright.save(buf, "MPO", save_all=True, append_images=[other], quality=90)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "MPO" and im.n_frames == 2
    fast = _fast(data)
    assert fast is not None
    assert np.array_equal(fast, _pillow(data))  # Pillow's first frame
    gap = np.abs(fast.astype(int) - np.asarray(upright).astype(int)).mean()
    assert gap < 3.0, gap  # the main photo (JPEG noise only), not the mirrored second
    assert np.abs(fast.astype(int) - np.asarray(other).astype(int)).mean() > 3 * gap


def test_bytes_after_the_image_go_to_pillow(upright: Image.Image):
    """Some cameras append data after the end-of-image marker: not the fast path's
    business (it cannot tell that from a cut-short file), but the photo still loads."""
    data = _jpeg(upright, quality=90) + b"TRAILER" * 20
    assert _fast(data) is None
    assert np.array_equal(imaging.load_image(data), _pillow(data))
    assert _fast(_jpeg(upright, quality=90) + b"\0" * 100) is not None  # zero padding


def test_cut_short_jpeg_is_refused_not_greyed(upright: Image.Image):
    """libjpeg-turbo fills a truncated JPEG with grey and only warns; Pillow refuses it.
    The user must get the refusal."""
    data = _jpeg(upright, quality=90)
    cut = data[: len(data) * 2 // 3]
    assert _fast(cut) is None
    with pytest.raises(AurumError) as err:
        imaging.load_image(cut)
    assert err.value.code == "truncated_image"


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_other_colour_modes_stay_on_pillows_path(upright: Image.Image, mode: str):
    buf = io.BytesIO()
    upright.convert(mode).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    got = imaging.load_image(data)
    assert got.shape == (517, 401, 3)
    assert np.array_equal(got, _pillow(data))
