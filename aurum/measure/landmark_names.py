"""Names of MediaPipe face-mesh landmarks (478 points, refined irises), one module.

Every name means one thing: an `int` is one point, a `tuple` is a region (an
ordered outline or a set of points), and regions say so in their name (`_PATCH`,
`_CONTOUR`, `_OVAL`, `_LINE`). "L"/"R" are image left/right on a frontal face (the
subject's right/left). Indices were checked on images before being trusted; see
DESIGN.md for the public sources they come from.
"""

from __future__ import annotations

# ---------------------------------------------------------------- points
EYE_OUT_L, EYE_IN_L, EYE_OUT_R, EYE_IN_R = 33, 133, 263, 362  # eye corners (canthi)
LID_UP_L, LID_LO_L, LID_UP_R, LID_LO_R = 159, 145, 386, 374  # mid upper / lower eyelid
IRIS_L, IRIS_R = 468, 473  # iris centres (refined mesh only)
CHEEK_L, CHEEK_R = 234, 454  # zygion: the widest points of the cheekbones
JAW_L, JAW_R = 58, 288  # gonion region, for jaw width
GONION_L, GONION_R = 172, 397  # lower jaw corner, for the jaw angle
ALAR_L, ALAR_R = 102, 331  # nose wings
MOUTH_L, MOUTH_R = 61, 291  # mouth corners
LIP_TOP, STOMION_UP, STOMION_LO, LIP_BOTTOM = 0, 13, 14, 17  # lip midline, top to bottom
SUBNASALE, MENTON, FOREHEAD_TOP, GLABELLA = 2, 152, 10, 9
NOSE_TIP = 4

# ---------------------------------------------------------------- regions
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
MIDLINE: tuple[int, ...] = (
    10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17,
    18, 200, 199, 175, 152)
EYE_CONTOUR_L: tuple[int, ...] = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153,
                                  145, 144, 163, 7)
EYE_CONTOUR_R: tuple[int, ...] = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380,
                                  374, 373, 390, 249)
BROW_CONTOUR_L: tuple[int, ...] = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
BROW_CONTOUR_R: tuple[int, ...] = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
LIPS_OUTER_CONTOUR: tuple[int, ...] = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375,
                                       321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER_CONTOUR: tuple[int, ...] = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324,
                                       318, 402, 317, 14, 87, 178, 88, 95)
CHEEK_PATCH_L: tuple[int, ...] = (117, 118, 101, 36, 205, 187, 147, 123)  # skin below the eye
CHEEK_PATCH_R: tuple[int, ...] = (346, 347, 330, 266, 425, 411, 376, 352)
FOREHEAD_PATCH: tuple[int, ...] = (67, 109, 10, 338, 297, 299, 9, 69)

N_POINTS = 478


def point(name: str) -> int:
    """A point's index by name (`point("MENTON")`), refusing regions."""
    value = globals().get(name)
    if not isinstance(value, int) or isinstance(value, bool) or name == "N_POINTS":
        raise KeyError(f"{name!r} is not a landmark point")
    return value
