"""The same face-recognition ResNet in torch, read straight from dlib's weights file.

Why: the prebuilt dlib runs the network without BLAS (about 80-100 ms a face on the
2-core machine); torch's CPU convolutions run the same arithmetic faster. This module
reads `dlib_face_recognition_resnet_model_v1.dat` (the pinned file, same SHA-256), so
there is no converted copy of the weights to ship or to keep in sync, and builds the
network dlib's example defines (29 convolutions, 4 down-sampling residual levels,
global average pool, 128-D linear output). The face chip still comes from dlib
(`get_face_chip`), so alignment is identical; `tests/test_descriptor.py` checks that
the two runtimes agree within 1e-4 on shared faces.

Format notes (dlib's own serialisation, read from its documentation and headers):
integers are a length byte (low nibble = byte count, 0x80 = negative) then
little-endian bytes; strings are an integer length then the characters; a tensor is
version 2, four integer dimensions, then little-endian IEEE float32 values; a layer
starts with its version string ("con_4", "affine_", "fc_2"...) and its parameter
tensor follows. Layers are stored from the input upwards.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np


class FormatError(ValueError):
    """The weights file is not the network this module expects."""


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def int(self) -> int:
        head = self.data[self.pos]
        size, negative = head & 0x0F, bool(head & 0x80)
        if size > 8:
            raise FormatError(f"bad integer at byte {self.pos}")
        raw = self.data[self.pos + 1:self.pos + 1 + size]
        self.pos += 1 + size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def float_details(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0 ** exponent

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise FormatError(f"unexpected tensor version at byte {self.pos}")
        dims = [self.int() for _ in range(4)]
        n = int(np.prod(dims))
        values = np.frombuffer(self.data, dtype="<f4", count=n, offset=self.pos)
        self.pos += 4 * n
        return values.reshape(dims).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            raise FormatError(f"unexpected alias-tensor version at byte {self.pos}")
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]


def _find_all(data: bytes, tag: bytes) -> list[int]:
    key = bytes([1, len(tag)]) + tag
    out, i = [], data.find(key)
    while i >= 0:
        out.append(i + len(key))
        i = data.find(key, i + 1)
    return out


def read_weights(path: Path) -> dict[str, Any]:
    """Every parameter of the network, in order from the input: 29 convolutions
    (weights, biases, stride, padding), 29 affine layers (scale, shift), the input's
    channel means and the final 256 -> 128 matrix."""
    data = Path(path).read_bytes()
    convs = []
    for pos in _find_all(data, b"con_4"):
        r = _Reader(data, pos)
        params = r.tensor().ravel()
        n_filters, nr, nc = r.int(), r.int(), r.int()
        stride_y, stride_x, pad_y, pad_x = r.int(), r.int(), r.int(), r.int()
        fshape = r.alias()
        bshape = r.alias()
        nw = int(np.prod(fshape))
        if fshape[0] != n_filters or fshape[2:] != (nr, nc) or bshape[1] != n_filters:
            raise FormatError("convolution shapes do not match")
        convs.append({"weight": params[:nw].reshape(fshape), "bias": params[nw:nw + n_filters],
                      "stride": (stride_y, stride_x), "padding": (pad_y, pad_x)})
    affines = []
    for pos in _find_all(data, b"affine_"):
        r = _Reader(data, pos)
        params = r.tensor().ravel()
        gshape = r.alias()
        k = int(np.prod(gshape))
        affines.append({"gamma": params[:k], "beta": params[k:2 * k]})
    fcs = _find_all(data, b"fc_2") + _find_all(data, b"fc_3")
    if len(fcs) != 1:
        raise FormatError(f"expected one fully connected layer, found {len(fcs)}")
    r = _Reader(data, fcs[0])
    n_out, n_in = r.int(), r.int()
    fc = r.tensor().ravel()[:n_in * n_out].reshape(n_in, n_out)
    inputs = _find_all(data, b"input_rgb_image_sized")
    if len(inputs) != 1:
        raise FormatError("input layer not found")
    r = _Reader(data, inputs[0])
    means = [r.float_details() for _ in range(3)]
    if len(convs) != 29 or len(affines) != 29:
        raise FormatError(f"expected 29 convolutions and 29 affine layers, found "
                          f"{len(convs)} and {len(affines)}")
    return {"convs": convs, "affines": affines, "fc": fc, "means": means}


# The residual blocks from the input up: (filters, down-sampling?) as in dlib's
# dnn_face_recognition_ex: level4 = 3 x 32, level3 = down + 3 x 64, level2 = down + 2 x
# 128, level1 = down + 2 x 256, level0 = down 256.
BLOCKS = ([(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)]
          + [(128, False)] * 2 + [(256, True)] + [(256, False)] * 2 + [(256, True)])


def _pad_add(a: Any, b: Any) -> Any:
    """dlib's add_prev: shapes may differ; the result has the larger size of each
    dimension and the smaller tensor counts as zero beyond its extent."""
    import torch.nn.functional as F

    if a.shape == b.shape:
        return a + b
    k, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t: Any) -> Any:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, k - t.shape[1]))

    return grow(a) + grow(b)


class TorchResNet:
    """The descriptor network on torch's CPU kernels (eval mode, no autograd)."""

    def __init__(self, weights: Path, threads: int | None = None) -> None:
        import torch

        self.torch = torch
        w = read_weights(weights)
        t = torch.from_numpy
        self.convs = [(t(np.ascontiguousarray(c["weight"])), t(c["bias"].copy()), c["stride"],
                       c["padding"]) for c in w["convs"]]
        self.affines = [(t(a["gamma"].copy()).view(1, -1, 1, 1),
                         t(a["beta"].copy()).view(1, -1, 1, 1)) for a in w["affines"]]
        self.fc = t(np.ascontiguousarray(w["fc"]))
        self.means = torch.tensor(w["means"], dtype=torch.float32).view(1, 3, 1, 1)
        # One thread: on 2 shared cores, two requests in parallel beat one request on
        # two threads (measured: 2 threads were several times slower under load).
        # torch's thread count is process-wide.
        if threads:
            torch.set_num_threads(threads)
        self._lock = threading.Lock()

    def _conv_affine(self, x: Any, i: int) -> Any:
        import torch.nn.functional as F

        weight, bias, stride, padding = self.convs[i]
        gamma, beta = self.affines[i]
        return F.conv2d(x, weight, bias, stride=stride, padding=padding) * gamma + beta

    def forward(self, chip: np.ndarray) -> np.ndarray:
        """128-D descriptor of one 150 x 150 RGB uint8 chip."""
        return self.forward_batch([chip])[0]

    def forward_batch(self, chips: list[np.ndarray]) -> np.ndarray:
        """(n, 128) descriptors of n chips in one pass."""
        import torch.nn.functional as F

        torch = self.torch
        batch = np.stack([np.asarray(c, dtype=np.float32) for c in chips])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2)
        x = ((x - self.means) / 256.0).contiguous()
        with self._lock, torch.inference_mode():
            x = F.relu(self._conv_affine(x, 0))
            x = F.max_pool2d(x, 3, 2)
            i = 1
            for _, down in BLOCKS:
                y = F.relu(self._conv_affine(x, i))
                y = self._conv_affine(y, i + 1)
                i += 2
                skip = F.avg_pool2d(x, 2, 2) if down else x
                x = F.relu(_pad_add(y, skip))
            x = x.mean(dim=(2, 3))
            out = x @ self.fc
        return out.double().numpy()
