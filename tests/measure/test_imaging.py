"""The JPEG fast path hands the engine exactly the pixels Pillow's path would.

`imaging._decode_jpeg` decodes JPEG uploads with OpenCV instead of Pillow (half the
time on a phone photo). Every score, the model and the reference population were
built from Pillow's pixels, so the two must agree bit for bit, on every JPEG flavour a
camera or editor writes, and anything the fast path does not handle must still reach
Pillow (which owns the error messages). Committed fixtures only: no shared data.
"""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from aurum.errors import AurumError
from aurum.measure import imaging
from tests.conftest import FIXTURE_FACE, STORED_AS


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


def test_bytes_after_the_image_are_ignored_as_pillow_ignores_them(upright: Image.Image):
    """Some cameras append data after the end-of-image marker; both decoders stop there."""
    for tail in (b"TRAILER" * 20, b"\0" * 100, b"\xff\xd8garbage"):
        data = _jpeg(upright, quality=90) + tail
        fast = _fast(data)
        assert fast is not None
        assert np.array_equal(fast, _pillow(data))


def _old_path(data: bytes, monkeypatch: pytest.MonkeyPatch) -> np.ndarray | str:
    """`load_image` as it was before the fast path: an array or the error code."""
    with monkeypatch.context() as m:
        m.setattr(imaging, "_decode_jpeg", lambda d, i: None)
        try:
            return imaging.load_image(data)
        except AurumError as exc:
            return exc.code


def _new_path(data: bytes) -> np.ndarray | str:
    try:
        return imaging.load_image(data)
    except AurumError as exc:
        return exc.code


def _same_outcome(old: np.ndarray | str, new: np.ndarray | str) -> bool:
    if isinstance(old, str) or isinstance(new, str):
        return old == new
    return old.shape == new.shape and bool(np.array_equal(old, new))


DAMAGE = ["marker FFD8 in the scan", "marker FFC0 in the scan", "marker FFC4 in the scan",
          "marker FFDB in the scan", "marker FFDA in the scan",
          "cut short, another JPEG appended", "stray start-of-image before the end",
          "second frame header before the end", "restart markers out of order",
          "arithmetic-coded frame header"]


def _damaged(upright: Image.Image, case: str) -> bytes:
    good = _jpeg(upright, quality=90)
    sos = good.index(b"\xff\xda")
    mid = sos + (len(good) - sos) // 2
    if case.startswith("marker FF"):
        code = int(case[9:11], 16)
        return good[:mid] + bytes([0xFF, code]) + good[mid + 2:]
    if case == "cut short, another JPEG appended":
        return good[: len(good) * 2 // 3] + good
    if case == "stray start-of-image before the end":
        return good[:-2] + b"\xff\xd8\xff\xd9"
    if case == "second frame header before the end":
        sof = good.index(b"\xff\xc0")
        return good[:-2] + good[sof:sof + 19] + b"\xff\xd9"
    if case == "restart markers out of order":
        rst = _jpeg(upright, quality=75, restart_marker_blocks=7)
        at = rst.index(b"\xff\xd1")  # the second restart marker, renumbered
        return rst[:at] + b"\xff\xd5" + rst[at + 2:]
    assert case == "arithmetic-coded frame header"
    sof = good.index(b"\xff\xc0")
    return good[:sof] + b"\xff\xc9" + good[sof + 2:]


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_jpegs_get_what_pillow_gave(upright: Image.Image, case: str,
                                             monkeypatch: pytest.MonkeyPatch):
    """OpenCV ignores errors libjpeg raises once the last row is out; Pillow reports them.
    These files must not take the fast path, and the user gets exactly the old answer
    (for most of them `truncated_image`, never a part-grey photo scored as a face)."""
    data = _damaged(upright, case)
    assert not imaging._well_formed_jpeg(data)
    assert _fast(data) is None
    old, new = _old_path(data, monkeypatch), _new_path(data)
    assert _same_outcome(old, new), (case, old if isinstance(old, str) else "array",
                                     new if isinstance(new, str) else "array")


def test_cut_short_jpeg_is_refused(upright: Image.Image):
    data = _jpeg(upright, quality=90)
    for cut in (len(data) * 2 // 3, len(data) - 2, data.index(b"\xff\xda") + 40):
        assert _fast(data[:cut]) is None
        with pytest.raises(AurumError) as err:
            imaging.load_image(data[:cut])
        assert err.value.code == "truncated_image"


@pytest.mark.parametrize("factor", ["4:4:0", "4:1:1"])
def test_opencv_written_subsamplings(upright: Image.Image, factor: str):
    """Chroma layouts Pillow cannot write; the most likely to differ between the two
    bundled libjpeg-turbo builds."""
    code = {"4:4:0": 0x121111, "4:1:1": 0x411111}[factor]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, code])
    assert ok
    data = buf.tobytes()
    fast = _fast(data)
    assert fast is not None
    assert np.array_equal(fast, _pillow(data))


def _exif_orientation(kind: int, payload: bytes) -> bytes:
    """A raw big-endian EXIF block whose one tag is Orientation, stored with any TIFF
    type (Pillow's writer only stores a SHORT), for malformed values cameras do write."""
    count = {2: len(payload), 3: 1, 5: 1}[kind]
    inline = payload if len(payload) <= 4 else struct.pack(">I", 26)
    ifd = struct.pack(">H", 1) + struct.pack(">HHI", 0x0112, kind, count) + inline.ljust(4, b"\0")
    body = b"MM\0*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)
    if len(payload) > 4:
        body += payload  # at offset 26
    return b"Exif\0\0" + body


ODD_ORIENTATIONS = {
    "text '6'": (2, b"6\0"),
    "13/2": (5, struct.pack(">II", 13, 2)),
    "0": (3, struct.pack(">HH", 0, 0)),
    "9": (3, struct.pack(">HH", 9, 0)),
}


@pytest.mark.parametrize("name", sorted(ODD_ORIENTATIONS))
def test_odd_orientation_values_turn_as_pillow_turns(upright: Image.Image, name: str,
                                                     monkeypatch: pytest.MonkeyPatch):
    kind, payload = ODD_ORIENTATIONS[name]
    buf = io.BytesIO()
    upright.save(buf, "JPEG", quality=90, exif=_exif_orientation(kind, payload))
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif().get(0x0112) not in (None, 1)  # the odd value was read back
    old, new = _old_path(data, monkeypatch), _new_path(data)
    assert _same_outcome(old, new), name


def test_load_image_takes_the_fast_path(upright: Image.Image, monkeypatch: pytest.MonkeyPatch):
    """The tests above call `_decode_jpeg` directly; this one checks `load_image` uses it
    for a JPEG and a phone's MPO file, and not for a PNG."""
    taken: list[bool] = []
    real = imaging._decode_jpeg

    def spy(data: bytes, img: Image.Image) -> np.ndarray | None:
        out = real(data, img)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(imaging, "_decode_jpeg", spy)
    imaging.load_image(_jpeg(upright, 6, quality=90))
    buf = io.BytesIO()
    upright.save(buf, "MPO", save_all=True, append_images=[upright], quality=90)
    imaging.load_image(buf.getvalue())
    png = io.BytesIO()
    upright.save(png, "PNG")
    imaging.load_image(png.getvalue())
    assert taken == [True, True]


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_other_colour_modes_stay_on_pillows_path(upright: Image.Image, mode: str):
    buf = io.BytesIO()
    upright.convert(mode).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    got = imaging.load_image(data)
    assert got.shape == (517, 401, 3)
    assert np.array_equal(got, _pillow(data))
