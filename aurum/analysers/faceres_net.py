"""The faceres network (HSE-asavchenko's MobileNet, converted to TF.js by Vladimir
Mandic) on OpenCV's dnn module, read straight from the upstream TF.js files.

Why this way: the dlib ResNet's port (`descriptor_net`) showed that OpenCV's dnn
kernels, already in the process for MediaPipe, run a face network fast with no second
runtime. Here the upstream `faceres.json` (the graph) and `faceres.bin` (its weights)
ship verbatim, pinned by SHA-256, and this module turns them into an ONNX graph in
memory at load: there is no converted copy to keep in sync with its source, and the
files in the repository are the ones in the npm tarball, checkable by anyone.

TF.js graph-model format (tfjs-converter): `modelTopology.node` lists the graph's
nodes (TensorFlow GraphDef as JSON; attributes such as padding are base64 strings);
`weightsManifest[0].weights` lists the constants in the order their bytes follow each
other in the .bin. Here every float constant is stored as IEEE float16
(`quantization.dtype` "float16", `original_dtype` "float32"): each one is read as
little-endian float16 and widened to float32, which is exact. The one int32 constant
(the Mean's axes) is 4 bytes a value.

Conversion (NHWC TensorFlow ops to NCHW ONNX): Conv2D and DepthwiseConv2dNative become
Conv (HWIO kernels transposed to OIHW; depthwise as a grouped convolution); TF's SAME
padding becomes explicit pads (the extra pixel at the bottom and right, as TensorFlow
puts it). The batch norm's Mul and Add by constants that follow a convolution are
folded into its weights and bias (float32 arithmetic; the outputs move by about 1e-6).
Relu, then Minimum by 6, then Maximum by 0, is Clip(0, 6). Mean over height and width
is GlobalAveragePool; _FusedMatMul (BiasAdd, optionally Relu) is Gemm (+ Relu).
Any other op, or a pattern this reading does not expect, raises `FormatError`:
the graph is never half converted.

Speed (issue 33, measured 2026-12-06 with `bench/faceres.py --layers`): OpenCV fuses each
Clip into its convolution (the ReLU6 layers take 0 ms), so a pass is 27 convolutions and
the head; 1 thread runs it in 15.5-16 ms, the 1 x 1 convolutions at about 50 GMAC/s, the
peak of OpenCV's AVX2 kernel on this CPU. Writing the 7 x 7 ones as MatMul or Gemm was
slower (1.9 and 1.6 ms against 1.5). What the graph cannot change is how well the two
threads help: 1.7x when the VM's two vCPUs sit on separate cores (9 ms a pass), 1.15x
when they do not (13.5-14 ms), the state flipping from minute to minute.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers import onnx_writer as ow

SIZE = 224
# The graph's outputs we read, and the names they get in the ONNX graph.
OUTPUTS = {"global_pooling/Mean": "descriptor", "age_pred/Softmax": "age",
           "gender_pred/Sigmoid": "sex"}


class FormatError(ValueError):
    """The files are not the TF.js graph this module expects."""


def read_tfjs(graph_json: Path, weights_bin: Path) -> tuple[list[dict[str, Any]],
                                                            dict[str, np.ndarray]]:
    """The graph's nodes and its constants (float32, or int32 for integer tensors)."""
    try:
        doc = json.loads(Path(graph_json).read_text())
        nodes = doc["modelTopology"]["node"]
        manifest = doc["weightsManifest"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"not a TF.js graph model ({type(exc).__name__})") from exc
    if len(manifest) != 1 or manifest[0].get("paths") != ["faceres.bin"]:
        raise FormatError("expected one weights file, faceres.bin")
    data = Path(weights_bin).read_bytes()
    consts: dict[str, np.ndarray] = {}
    pos = 0
    for w in manifest[0]["weights"]:
        shape = [int(d) for d in w["shape"]]
        n = int(np.prod(shape)) if shape else 1
        quant = (w.get("quantization") or {}).get("dtype")
        if w["dtype"] == "float32" and quant == "float16":
            dtype, out = np.dtype("<f2"), np.float32
        elif w["dtype"] == "float32" and quant is None:
            dtype, out = np.dtype("<f4"), np.float32
        elif w["dtype"] == "int32" and quant is None:
            dtype, out = np.dtype("<i4"), np.int32
        else:
            raise FormatError(f"unsupported weight encoding {w['dtype']}/{quant}")
        if pos + n * dtype.itemsize > len(data):
            raise FormatError(f"{w['name']} runs past the end of the weights file")
        arr = np.frombuffer(data, dtype=dtype, count=n, offset=pos)
        consts[w["name"]] = arr.astype(out).reshape(shape)
        pos += n * dtype.itemsize
    if pos != len(data):
        raise FormatError(f"the weights file has {len(data) - pos} bytes the manifest "
                          f"does not describe")
    return nodes, consts


def _attr_ints(n: dict[str, Any], key: str) -> list[int]:
    return [int(v) for v in n.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_str(n: dict[str, Any], key: str) -> str:
    raw = n.get("attr", {}).get(key, {}).get("s", "")
    return base64.b64decode(raw).decode() if raw else ""


def _same_pads(size: int, k: int, s: int) -> tuple[int, int, int]:
    """TensorFlow's SAME padding: (before, after, output size)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2, out


@dataclass
class _Conv:
    """A convolution not yet written: the batch norm that follows folds into it."""

    x: str
    weight: np.ndarray  # OIHW float32
    bias: np.ndarray
    group: int
    stride: int
    pads: tuple[int, int, int, int]


@dataclass
class _Clip:
    x: str
    lo: float = 0.0
    hi: float = float("inf")


@dataclass
class _Builder:
    """Turns the TF.js nodes into ONNX nodes; `values` maps a TF tensor to its ONNX
    name (written) or a pending `_Conv` / `_Clip` (folded into what follows)."""

    consts: dict[str, np.ndarray]
    uses: dict[str, int]
    nodes: list[bytes] = field(default_factory=list)
    inits: list[bytes] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    hw: dict[str, int] = field(default_factory=dict)  # spatial size of NCHW tensors
    count: int = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, arr: np.ndarray) -> str:
        name = self.fresh("c")
        self.inits.append(ow.tensor(name, np.asarray(arr)))
        return name

    def get(self, tf_name: str) -> str:
        """The ONNX name of a TF tensor, writing a pending convolution or clip."""
        v = self.values[tf_name]
        if isinstance(v, _Conv):
            out = self.fresh("conv")
            k = v.weight.shape[2:]
            self.nodes.append(ow.node("Conv", [v.x, self.const(v.weight),
                                               self.const(v.bias)], out, (
                ow.ints_attr("kernel_shape", k), ow.ints_attr("strides", (v.stride,) * 2),
                ow.ints_attr("pads", v.pads), ow.int_attr("group", v.group))))
            v = out
        elif isinstance(v, _Clip):
            out = self.fresh("clip")
            lo, hi = np.float32(v.lo), np.float32(min(v.hi, np.finfo(np.float32).max))
            self.nodes.append(ow.node("Clip", [v.x, self.const(np.array(lo)),
                                               self.const(np.array(hi))], out))
            v = out
        self.values[tf_name] = v
        return v

    def scalar(self, name: str) -> float:
        c = self.consts.get(name)
        if c is None or c.size != 1:
            raise FormatError(f"{name} is not a constant scalar")
        return float(c.reshape(()))

    def conv(self, n: dict[str, Any], depthwise: bool) -> None:
        x_name, w_name = n["input"][:2]
        if _attr_str(n, "data_format") not in ("", "NHWC") or _attr_str(n, "padding") != "SAME":
            raise FormatError(f"{n['name']}: only NHWC with SAME padding is read")
        strides, dil = _attr_ints(n, "strides"), _attr_ints(n, "dilations") or [1] * 4
        if strides[1] != strides[2] or set(dil) != {1}:
            raise FormatError(f"{n['name']}: unexpected strides or dilations")
        w = self.consts[w_name]
        weight = w.transpose(2, 3, 0, 1) if depthwise else w.transpose(3, 2, 0, 1)
        group = w.shape[2] if depthwise else 1
        if depthwise and w.shape[3] != 1:
            raise FormatError(f"{n['name']}: depthwise multiplier is not 1")
        x = self.get(x_name)
        before, after, out = _same_pads(self.hw[x_name], w.shape[0], strides[1])
        self.values[n["name"]] = _Conv(x, np.ascontiguousarray(weight, np.float32),
                                       np.zeros(weight.shape[0], np.float32), group,
                                       strides[1], (before, before, after, after))
        self.hw[n["name"]] = out

    def affine(self, n: dict[str, Any]) -> None:
        """Mul or Add by a per-channel constant: folded into a pending convolution."""
        a, c = n["input"]
        v = self.values.get(a)
        if not isinstance(v, _Conv) or self.uses[a] != 1 or c not in self.consts:
            raise FormatError(f"{n['name']}: {n['op']} is read only after a convolution")
        k = self.consts[c].astype(np.float32).reshape(-1)
        if n["op"] == "Mul":
            v.weight = (v.weight * k[:, None, None, None]).astype(np.float32)
            v.bias = (v.bias * k).astype(np.float32)
        else:
            v.bias = (v.bias + k).astype(np.float32)
        self.values[n["name"]], self.hw[n["name"]] = v, self.hw[a]

    def clip(self, n: dict[str, Any]) -> None:
        a = n["input"][0]
        if n["op"] == "Relu":
            self.values[n["name"]] = _Clip(self.get(a))
        else:
            v = self.values.get(a)
            if not isinstance(v, _Clip) or self.uses[a] != 1:
                raise FormatError(f"{n['name']}: {n['op']} is read only after Relu")
            k = self.scalar(n["input"][1])
            if n["op"] == "Minimum":
                v = _Clip(v.x, v.lo, min(v.hi, k))
            elif k > v.hi:  # max(min(y, hi), k) is a clip only when k <= hi
                raise FormatError(f"{n['name']}: Maximum above the Minimum")
            else:
                v = _Clip(v.x, max(v.lo, k), v.hi)
            self.values[n["name"]] = v
        self.hw[n["name"]] = self.hw[a]

    def head(self, n: dict[str, Any]) -> None:
        """Mean over height and width, the fused dense layers, sigmoid and softmax."""
        op, name = n["op"], n["name"]
        if op == "Mean":
            axes = self.consts[n["input"][1]].tolist()
            if sorted(axes) != [1, 2] or n["attr"].get("keep_dims", {}).get("b"):
                raise FormatError(f"{name}: only a mean over height and width is read")
            pooled, out = self.fresh("gap"), self.fresh("flat")
            self.nodes.append(ow.node("GlobalAveragePool", [self.get(n["input"][0])], pooled))
            self.nodes.append(ow.node("Flatten", [pooled], out))
        elif op == "_FusedMatMul":
            fused = [base64.b64decode(s).decode()
                     for s in n["attr"]["fused_ops"]["list"]["s"]]
            if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]) or any(
                    n["attr"].get(t, {}).get("b") for t in ("transpose_a", "transpose_b")):
                raise FormatError(f"{name}: unexpected fused matmul {fused}")
            x, w, b = n["input"][:3]
            out = self.fresh("gemm")
            self.nodes.append(ow.node("Gemm", [self.get(x), self.const(self.consts[w]),
                                               self.const(self.consts[b])], out))
            if fused[-1] == "Relu":
                relu = self.fresh("relu")
                self.nodes.append(ow.node("Relu", [out], relu))
                out = relu
        else:  # Sigmoid, Softmax (over the last axis of a 2-D tensor, as in TF)
            out = self.fresh(op.lower())
            self.nodes.append(ow.node(op, [self.get(n["input"][0])], out))
        self.values[name] = out


def onnx_graph(nodes: list[dict[str, Any]], consts: dict[str, np.ndarray],
               size: int = SIZE) -> bytes:
    """The TF.js graph as ONNX bytes: input "input" (1, 3, size, size), RGB 0-255;
    outputs "descriptor" (1, 1024), "age" (1, 100) and "sex" (1, 1)."""
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.get("input", []):
            uses[i] = uses.get(i, 0) + 1
    b = _Builder(consts, uses)
    for n in nodes:
        op = n["op"]
        if op == "Const":
            if n["name"] not in consts:
                raise FormatError(f"constant {n['name']} has no weights")
        elif op == "Placeholder":
            b.values[n["name"]], b.hw[n["name"]] = "input", size
        elif op in ("Conv2D", "DepthwiseConv2dNative"):
            b.conv(n, op == "DepthwiseConv2dNative")
        elif op in ("Mul", "Add"):
            b.affine(n)
        elif op in ("Relu", "Minimum", "Maximum"):
            b.clip(n)
        elif op in ("Mean", "_FusedMatMul", "Sigmoid", "Softmax"):
            b.head(n)
        else:
            raise FormatError(f"op {op} ({n['name']}) is not read by this converter")
    for tf_name, onnx_name in OUTPUTS.items():
        if tf_name not in b.values:
            raise FormatError(f"the graph has no {tf_name}")
        b.nodes.append(ow.node("Identity", [b.get(tf_name)], onnx_name))
    outputs = [("descriptor", (1, 1024)), ("age", (1, 100)), ("sex", (1, 1))]
    return ow.model(b.nodes, b.inits, "faceres", [("input", (1, 3, size, size))], outputs)


@dataclass(frozen=True)
class RawOutputs:
    """One forward pass: the 1024-D descriptor, the age head's 100 probabilities
    (years 0-99) and the sex head's sigmoid."""

    descriptor: np.ndarray
    age_probs: np.ndarray
    sex: float

    def __repr__(self) -> str:  # the descriptor is an identity template
        return "RawOutputs(<faceres outputs, withheld>)"

    __str__ = __repr__


class OpenCVFaceres:
    """The faceres graph on OpenCV's dnn kernels (CPU, float32)."""

    def __init__(self, graph_json: Path, weights_bin: Path) -> None:
        import cv2

        nodes, consts = read_tfjs(graph_json, weights_bin)
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_graph(nodes, consts),
                                                         dtype=np.uint8))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._names = list(OUTPUTS.values())
        # A cv2.dnn.Net keeps its activations between calls: one forward at a time.
        self._lock = threading.Lock()

    def forward(self, chip: np.ndarray) -> RawOutputs:
        """The outputs for one 224 x 224 RGB chip (uint8, or float 0-255)."""
        if np.shape(chip) != (SIZE, SIZE, 3):
            raise ValueError(f"the chip must be {SIZE} x {SIZE} x 3, not {np.shape(chip)}")
        blob = np.ascontiguousarray(np.asarray(chip, np.float32).transpose(2, 0, 1)[None])
        with self._lock:
            self.net.setInput(blob, "input")
            desc, age, sex = self.net.forward(self._names)
        return RawOutputs(np.array(desc, np.float64).reshape(-1),
                          np.array(age, np.float64).reshape(-1),
                          float(np.asarray(sex).reshape(-1)[0]))
