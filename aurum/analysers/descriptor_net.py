"""The same face-recognition ResNet on OpenCV's dnn module, read straight from dlib's
weights file.

Why: the prebuilt dlib runs the network without BLAS (about 80-100 ms a face on the
2-core machine). OpenCV's dnn kernels run the same arithmetic in about 8 ms, and
OpenCV is already in the process (MediaPipe pulls it): no second runtime to import.
(The previous runtime, torch, took 13 ms a face, 1-2 s to import and about 190 MB of
memory; measured in bench/README.md.)

This module reads `dlib_face_recognition_resnet_model_v1.dat` (the pinned file, same
SHA-256) and writes the network dlib's example defines (29 convolutions, 4 down-
sampling residual levels, global average pool, 128-D linear output) as an ONNX graph
in memory, which `cv2.dnn` loads from the bytes. There is no converted copy of the
weights to ship, download or keep in sync, and nothing is written to disk. The face
chip still comes from dlib (`get_face_chip`), so alignment is identical;
`tests/analysers/test_descriptor.py` checks that the two runtimes agree within 1e-4 on shared
faces.

Format notes (dlib's own serialisation, read from its documentation and headers):
integers are a length byte (low nibble = byte count, 0x80 = negative) then
little-endian bytes; strings are an integer length then the characters; a tensor is
version 2, four integer dimensions, then little-endian IEEE float32 values; a layer
starts with its version string ("con_4", "affine_", "fc_2"...) and its parameter
tensor follows. Layers are stored from the input upwards.

The ONNX graph is protobuf, written with `aurum.analysers.onnx_writer` (shared with
the faceres port), so the `onnx` package is not a dependency.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers import onnx_writer
from aurum.analysers.onnx_writer import ints_attr as _ints_attr
from aurum.analysers.onnx_writer import node as _node
from aurum.analysers.onnx_writer import tensor as _tensor


class FormatError(ValueError):
    """The weights file is not the network this module expects."""


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def integer(self) -> int:
        if self.pos >= len(self.data):
            raise FormatError("the file ends inside a layer")
        head = self.data[self.pos]
        size, negative = head & 0x0F, bool(head & 0x80)
        if size > 8:
            raise FormatError(f"bad integer at byte {self.pos}")
        raw = self.data[self.pos + 1:self.pos + 1 + size]
        self.pos += 1 + size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def float_details(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0 ** exponent

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise FormatError(f"unexpected tensor version at byte {self.pos}")
        dims = [self.integer() for _ in range(4)]
        n = int(np.prod(dims))
        if n < 0 or self.pos + 4 * n > len(self.data):
            raise FormatError(f"a tensor of {dims} runs past the end of the file")
        values = np.frombuffer(self.data, dtype="<f4", count=n, offset=self.pos)
        self.pos += 4 * n
        return values.reshape(dims).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise FormatError(f"unexpected alias-tensor version at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _find_all(data: bytes, tag: bytes) -> list[int]:
    """Where each layer of one kind starts: after its version string as dlib writes it
    (a one-byte integer 0x01, the length, the characters). Searching for it skips the
    relu, tag and add_prev records between the layers, which carry no parameters; a
    chance match inside float data would break the layer counts checked below."""
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
        n_filters, nr, nc = r.integer(), r.integer(), r.integer()
        stride_y, stride_x, pad_y, pad_x = r.integer(), r.integer(), r.integer(), r.integer()
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
    # Newer dlib versions write the same fully connected layer as "fc_3".
    fcs = _find_all(data, b"fc_2") + _find_all(data, b"fc_3")
    if len(fcs) != 1:
        raise FormatError(f"expected one fully connected layer, found {len(fcs)}")
    r = _Reader(data, fcs[0])
    n_out, n_in = r.integer(), r.integer()
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


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class _Graph:
    """The ONNX nodes and initialisers of the network, in the order they are made (each
    name numbered by one counter, so a rebuild gives the same bytes)."""

    def __init__(self, w: dict[str, Any]) -> None:
        self.w = w
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def conv_affine(self, x: str, i: int, hw: int) -> tuple[str, int]:
        """Convolution `i` with its frozen batch norm folded in; the output's size."""
        conv, affine = self.w["convs"][i], self.w["affines"][i]
        gamma, beta = affine["gamma"], affine["beta"]
        weight = (conv["weight"] * gamma[:, None, None, None]).astype(np.float32)
        bias = (conv["bias"] * gamma + beta).astype(np.float32)
        wn, bn, out = self.name("w"), self.name("b"), self.name("conv")
        self.inits.extend([_tensor(wn, weight), _tensor(bn, bias)])
        k = weight.shape[2]
        (sy, sx), (py, px) = conv["stride"], conv["padding"]
        self.nodes.append(_node("Conv", [x, wn, bn], out, (
            _ints_attr("kernel_shape", weight.shape[2:]), _ints_attr("strides", (sy, sx)),
            _ints_attr("pads", (py, px, py, px)))))
        return out, _out_size(hw, k, sy, py)

    def relu(self, x: str) -> str:
        out = self.name("relu")
        self.nodes.append(_node("Relu", [x], out))
        return out

    def pad(self, x: str, channels: int, hw: int) -> str:
        """Zero channels after the last one, zero rows and columns at the bottom right."""
        pn, out = self.name("pads"), self.name("pad")
        self.inits.append(_tensor(pn, np.array([0, 0, 0, 0, 0, channels, hw, hw], np.int64)))
        self.nodes.append(_node("Pad", [x, pn], out))
        return out

    def pool(self, op: str, x: str, k: int) -> str:
        # No pads: dlib's max_pool<3,3,2,2> and avg_pool<2,2,2,2> pad 0 when the
        # stride is not 1.
        out = self.name("maxpool" if op == "MaxPool" else "avgpool")
        self.nodes.append(_node(op, [x], out, (_ints_attr("kernel_shape", (k, k)),
                                               _ints_attr("strides", (2, 2)))))
        return out

    def block(self, x: str, hw: int, channels: int, i: int, filters: int, down: bool
              ) -> tuple[str, int]:
        """One residual block from convolution `i`: two convolutions plus the shortcut
        (average-pooled when it down-samples), padded to the larger shape as dlib's
        add_prev does."""
        first = self.w["convs"][i]
        # Which blocks down-sample comes from BLOCKS: the file must agree with it.
        if (tuple(first["stride"]) != ((2, 2) if down else (1, 1))
                or first["weight"].shape[0] != filters):
            raise FormatError(f"convolution {i} does not match the expected network")
        y, hw_y = self.conv_affine(x, i, hw)
        y, hw_y = self.conv_affine(self.relu(y), i + 1, hw_y)
        skip, hw_s = x, hw
        if down:
            skip, hw_s = self.pool("AveragePool", x, 2), hw // 2
        hw = max(hw_y, hw_s)
        if filters != channels or hw_s != hw:
            skip = self.pad(skip, filters - channels, hw - hw_s)
        if hw_y != hw:
            y = self.pad(y, 0, hw - hw_y)
        out = self.name("add")
        self.nodes.append(_node("Add", [y, skip], out))
        return self.relu(out), hw


def onnx_graph(w: dict[str, Any], size: int) -> bytes:
    """The network as ONNX bytes for a (1, 3, size, size) input already shifted by the
    channel means and divided by 256 (`OpenCVResNet._blob`).

    dlib's affine layer (a frozen batch norm) is folded into its convolution: the
    descriptors move by about 1e-6. dlib's add_prev adds tensors of different shapes
    (the larger size of each dimension, zeros beyond the smaller one): in the down-
    sampling blocks the shortcut is padded with zero channels, and whichever branch is
    smaller in height and width (dlib's strided convolution and 2x2 average pool round
    odd sizes differently) is padded at the bottom and right, as dlib lays it out.
    """
    g = _Graph(w)
    x, hw = g.conv_affine("data", 0, size)
    x = g.pool("MaxPool", g.relu(x), 3)
    hw, channels, i = _out_size(hw, 3, 2, 0), int(w["convs"][0]["weight"].shape[0]), 1
    for filters, down in BLOCKS:
        x, hw = g.block(x, hw, channels, i, filters, down)
        i, channels = i + 2, filters
    return _head_and_model(g.nodes, g.inits, x, (g.name("gap"), g.name("flat")), w["fc"],
                           size)


def _head_and_model(nodes: list[bytes], inits: list[bytes], x: str, names: tuple[str, str],
                    fc: Any, size: int) -> bytes:
    """The descriptor head (global average pool, flatten, the fully connected matrix)
    after the residual blocks, and the whole graph serialised as an ONNX model."""
    pooled, flat = names
    nodes.append(_node("GlobalAveragePool", [x], pooled))
    nodes.append(_node("Flatten", [pooled], flat))
    inits.append(_tensor("fc", np.asarray(fc, dtype=np.float32)))
    nodes.append(_node("MatMul", [flat, "fc"], "descriptor"))
    n_out = int(np.asarray(fc).shape[1])
    return onnx_writer.model(nodes, inits, "dlib_resnet_v1", [("data", (1, 3, size, size))],
                             [("descriptor", (1, n_out))])


class OpenCVResNet:
    """The descriptor network on OpenCV's dnn kernels (CPU, float32)."""

    def __init__(self, weights: Path, size: int) -> None:
        import cv2

        w = read_weights(weights)
        self.means = np.asarray(w["means"], dtype=np.float32).reshape(1, 3, 1, 1)
        self.size = size  # the graph's padding is worked out for this chip size
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_graph(w, self.size),
                                                         dtype=np.uint8))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        # A cv2.dnn.Net keeps its activations between calls: one forward at a time.
        self._lock = threading.Lock()

    def _blob(self, chip: np.ndarray) -> np.ndarray:
        x = np.asarray(chip, dtype=np.float32).transpose(2, 0, 1)[None]
        return np.ascontiguousarray((x - self.means) / 256.0)

    def forward(self, chip: np.ndarray) -> np.ndarray:
        """128-D descriptor of one `size` x `size` RGB uint8 chip."""
        if np.shape(chip) != (self.size, self.size, 3):
            raise ValueError(f"the chip must be {self.size} x {self.size} x 3, "
                             f"not {np.shape(chip)}")
        blob = self._blob(chip)
        with self._lock:
            self.net.setInput(blob)
            return np.array(self.net.forward(), dtype=np.float64).reshape(-1)

    def forward_batch(self, chips: list[np.ndarray]) -> np.ndarray:
        """(n, 128) descriptors of n chips (one forward each: n is 1 or 2)."""
        return np.stack([self.forward(c) for c in chips])
