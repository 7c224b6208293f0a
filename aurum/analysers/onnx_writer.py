"""A minimal ONNX writer: the few protobuf wire-format rules an inference graph needs.

Why: the two face networks (dlib's ResNet in `descriptor_net`, faceres in
`faceres_net`) are read from their upstream weight files and handed to OpenCV's dnn
module as ONNX bytes built in memory. Writing those bytes here (varint keys,
length-delimited fields; field numbers from onnx.proto) keeps the `onnx` package out of
the dependencies, and both ports share this one copy.

Graphs use opset 13 with IR version 7 (ONNX 1.8): Pad and Clip take their limits as
inputs (opset >= 11), and OpenCV 4.11's importer reads every op used here at this opset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT, INT64 = 1, 7  # onnx TensorProto.DataType
_ATTR_INT, _ATTR_INTS = 2, 7  # onnx AttributeProto.AttributeType
OPSET = 13


def varint(n: int) -> bytes:
    """Protobuf base-128 varint (negative numbers as their 64-bit two's complement)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | 0x80 if n else low)
        if not n:
            return bytes(out)


def int_field(field: int, n: int) -> bytes:
    return varint(field << 3) + varint(n)


def bytes_field(field: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return varint((field << 3) | 2) + varint(len(raw)) + raw


def tensor(name: str, arr: np.ndarray) -> bytes:
    """A TensorProto (float32 or int64), values as little-endian raw_data."""
    arr = np.ascontiguousarray(arr)
    dtype = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}[arr.dtype]
    return (b"".join(int_field(1, d) for d in arr.shape) + int_field(2, dtype)
            + bytes_field(8, name) + bytes_field(9, arr.astype(arr.dtype.newbyteorder("<"))
                                                 .tobytes()))


def ints_attr(name: str, values: Any) -> bytes:
    return (bytes_field(1, name) + b"".join(int_field(8, int(v)) for v in values)
            + int_field(20, _ATTR_INTS))


def int_attr(name: str, value: int) -> bytes:
    return bytes_field(1, name) + int_field(3, int(value)) + int_field(20, _ATTR_INT)


def node(op: str, inputs: list[str], output: str, attrs: tuple[bytes, ...] = ()) -> bytes:
    """A NodeProto with one output; the node is named after it (field 3)."""
    return (b"".join(bytes_field(1, i) for i in inputs) + bytes_field(2, output)
            + bytes_field(3, output) + bytes_field(4, op)
            + b"".join(bytes_field(5, a) for a in attrs))


def value_info(name: str, shape: tuple[int, ...]) -> bytes:
    """A float tensor's ValueInfoProto with a fixed shape."""
    dims = b"".join(bytes_field(1, int_field(1, d)) for d in shape)
    tensor_type = int_field(1, FLOAT) + bytes_field(2, dims)
    return bytes_field(1, name) + bytes_field(2, bytes_field(1, tensor_type))


def model(nodes: list[bytes], inits: list[bytes], graph_name: str,
          inputs: list[tuple[str, tuple[int, ...]]],
          outputs: list[tuple[str, tuple[int, ...]]]) -> bytes:
    """The serialised ModelProto: one graph of `nodes` and initialisers `inits`."""
    graph = (b"".join(bytes_field(1, n) for n in nodes) + bytes_field(2, graph_name)
             + b"".join(bytes_field(5, t) for t in inits)
             + b"".join(bytes_field(11, value_info(n, s)) for n, s in inputs)
             + b"".join(bytes_field(12, value_info(n, s)) for n, s in outputs))
    opset = bytes_field(1, "") + int_field(2, OPSET)
    return (int_field(1, 7) + bytes_field(2, "aurum") + bytes_field(7, graph)
            + bytes_field(8, opset))
