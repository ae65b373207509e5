"""Reader for dlib's serialised ResNet face model and ONNX graph builder.

dlib (Boost licence) serialises a network layer by layer from the input up
(``add_layer`` writes its sub-network before its own details).  Integers use
dlib's variable-length format (first byte: byte count in the low nibble, sign
in bit 7, then little-endian magnitude); strings are an integer length plus the
bytes; tensors are ``int version=2, n, k, nr, nc`` followed by raw little-endian
float32 values (``dlib/cuda/tensor.h``).  We only need the parameter-carrying
layers (``con_4``, ``affine_``, ``fc_2``) in file order; the topology is the one
of dlib's public-domain ``examples/dnn_face_recognition_ex.cpp`` (``anet_type``),
which the reader cross-checks against the shapes it finds.

Quirk reproduced: dlib's ``add_prev`` zero-pads the smaller tensor (channels
and, at the 8→4 and 4→2 steps, spatial size) instead of failing, so the graph
inserts ``Pad`` before ``Add``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: (p - MEAN) / 256 is dlib's input_rgb_image normalisation for this model
DLIB_MEAN = (122.782, 117.001, 104.298)
DLIB_SCALE = 256.0


class DlibFormatError(ValueError):
    """The file is not a dlib ResNet face model this reader understands."""


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise DlibFormatError("truncated file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int(self) -> int:
        head = self.byte()
        size = head & 0x0F
        if size > 8:
            raise DlibFormatError("bad integer header")
        end = self.pos + size
        if end > len(self.data):
            raise DlibFormatError("truncated integer")
        value = int.from_bytes(self.data[self.pos:end], "little")
        self.pos = end
        return -value if head & 0x80 else value

    def string(self) -> str:
        n = self.int()
        if n < 0 or n > 256 or self.pos + n > len(self.data):
            raise DlibFormatError("bad string")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s.decode("latin-1")

    def tensor(self) -> FloatArray:
        if self.int() != 2:
            raise DlibFormatError("unsupported tensor version")
        dims = [self.int() for _ in range(4)]
        if any(d < 0 for d in dims):
            raise DlibFormatError("negative tensor dimension")
        count = dims[0] * dims[1] * dims[2] * dims[3]
        end = self.pos + 4 * count
        if end > len(self.data):
            raise DlibFormatError("truncated tensor")
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        self.pos = end
        return arr


@dataclass
class ConvParams:
    weight: FloatArray  # (out, in, kh, kw)
    bias: FloatArray
    stride: int
    padding: int


@dataclass
class DlibResNet:
    convs: list[ConvParams]  # batch-norm (affine) already folded in
    fc: FloatArray  # (in, out): y = x @ fc


def _find_layers(data: bytes) -> list[tuple[str, int]]:
    """Positions just after each parameter layer's version string, in file order."""
    found: list[tuple[str, int]] = []
    for name in ("con_4", "affine_", "fc_2"):
        marker = bytes([1, len(name)]) + name.encode()
        start = 0
        while (i := data.find(marker, start)) >= 0:
            found.append((name, i + len(marker)))
            start = i + 1
    found.sort(key=lambda t: t[1])
    return found


def read_dlib_resnet(path: Path) -> DlibResNet:
    return parse_dlib_resnet(path.read_bytes())


def parse_dlib_resnet(data: bytes) -> DlibResNet:
    """Parse the bytes of a dlib ResNet face model; any malformed input raises :class:`DlibFormatError`."""
    if not data.startswith(b"\x01\x01\x01\x0dloss_metric_"):
        raise DlibFormatError("not a dlib loss_metric network")
    layers = _find_layers(data)
    convs: list[ConvParams] = []
    fc: FloatArray | None = None
    pending: tuple[FloatArray, FloatArray, int, int] | None = None
    for name, pos in layers:
        r = _Reader(data, pos)
        if name == "con_4":
            if pending is not None:
                raise DlibFormatError("convolution without following affine layer")
            params = r.tensor()
            nf, nr, nc = r.int(), r.int(), r.int()
            sy, sx, py, px = r.int(), r.int(), r.int(), r.int()
            if sy != sx or py != px or nr != nc or nf <= 0 or nr <= 0 or sy <= 0 or py < 0:
                raise DlibFormatError("unexpected convolution geometry")
            k = (params.size - nf) // (nf * nr * nc)
            if k <= 0 or k * nf * nr * nc + nf != params.size:
                raise DlibFormatError("convolution parameter size mismatch")
            w = params[: k * nf * nr * nc].reshape(nf, k, nr, nc)
            b = params[k * nf * nr * nc:]
            pending = (w, b, sy, py)
        elif name == "affine_":
            if pending is None:
                raise DlibFormatError("affine layer without convolution")
            params = r.tensor()
            w, b, stride, pad = pending
            c = w.shape[0]
            if params.size != 2 * c:
                raise DlibFormatError("affine parameter size mismatch")
            gamma, beta = params[:c], params[c:]
            convs.append(ConvParams((w * gamma[:, None, None, None]).astype(np.float32),
                                    (b * gamma + beta).astype(np.float32), stride, pad))
            pending = None
        else:
            # fc_2: num_outputs, num_inputs, then the parameter tensor (num_inputs rows)
            n_out, n_in = r.int(), r.int()
            params = r.tensor()
            if n_out <= 0 or n_in <= 0 or params.size != n_out * n_in:
                raise DlibFormatError("fc parameter size mismatch (expected fc_no_bias)")
            fc = params.reshape(n_in, n_out)
    if fc is None or len(convs) != 29:
        raise DlibFormatError(f"expected 29 conv layers and one fc layer, found {len(convs)}")
    return DlibResNet(convs, fc)


# Residual stage plan of anet_type from the input up: (filters, downsample first, plain blocks).
_STAGES = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))


def build_onnx(net: DlibResNet, size: int = 150) -> Any:
    """Build an ONNX ModelProto: input ``chip`` float32 NCHW (already normalised) → ``embedding`` (1, 128)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = [0]

    def name(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr: npt.NDArray[Any], prefix: str) -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(arr, n))
        return n

    conv_iter = iter(net.convs)

    def conv(x: str, shape: tuple[int, int, int], relu: bool) -> tuple[str, tuple[int, int, int]]:
        p = next(conv_iter)
        c_out, c_in, k, _ = p.weight.shape
        if c_in != shape[0]:
            raise DlibFormatError("channel mismatch while building the graph")
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, const(p.weight, "w"), const(p.bias, "b")], [y],
                                      kernel_shape=[k, k], strides=[p.stride, p.stride],
                                      pads=[p.padding] * 4))
        hw = (shape[1] + 2 * p.padding - k) // p.stride + 1
        if relu:
            z = name("relu")
            nodes.append(helper.make_node("Relu", [y], [z]))
            y = z
        return y, (c_out, hw, hw)

    def pad_to(x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
        if shape == target:
            return x
        pads = np.array([0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]],
                        dtype=np.int64)
        y = name("pad")
        nodes.append(helper.make_node("Pad", [x, const(pads, "pads")], [y], mode="constant"))
        return y

    Shape = tuple[int, int, int]

    def add_relu(a: str, sa: Shape, b: str, sb: Shape) -> tuple[str, Shape]:
        target = (max(sa[0], sb[0]), max(sa[1], sb[1]), max(sa[2], sb[2]))
        s = name("add")
        nodes.append(helper.make_node("Add", [pad_to(a, sa, target), pad_to(b, sb, target)], [s]))
        r = name("relu")
        nodes.append(helper.make_node("Relu", [s], [r]))
        return r, target

    x, shape = conv("chip", (3, size, size), relu=True)
    mp = name("maxpool")
    nodes.append(helper.make_node("MaxPool", [x], [mp], kernel_shape=[3, 3], strides=[2, 2]))
    x, shape = mp, (shape[0], (shape[1] - 3) // 2 + 1, (shape[2] - 3) // 2 + 1)
    for filters, down, plain in _STAGES:
        if down:
            h, sh = conv(x, shape, relu=True)
            h, sh = conv(h, sh, relu=False)
            ap = name("avgpool")
            nodes.append(helper.make_node("AveragePool", [x], [ap], kernel_shape=[2, 2], strides=[2, 2]))
            ps = (shape[0], (shape[1] - 2) // 2 + 1, (shape[2] - 2) // 2 + 1)
            x, shape = add_relu(h, sh, ap, ps)
        for _ in range(plain):
            h, sh = conv(x, shape, relu=True)
            h, sh = conv(h, sh, relu=False)
            x, shape = add_relu(h, sh, x, shape)
        if shape[0] != filters:
            raise DlibFormatError("stage width mismatch")
    gap = name("gap")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [gap]))
    flat = name("flat")
    nodes.append(helper.make_node("Flatten", [gap], [flat], axis=1))
    nodes.append(helper.make_node("MatMul", [flat, const(net.fc.astype(np.float32), "fc")], ["embedding"]))
    graph = helper.make_graph(
        nodes, "dlib_resnet_v1",
        [helper.make_tensor_value_info("chip", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, net.fc.shape[1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gtsdk")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert(dat: Path, out: Path) -> None:
    """Convert dlib's ``dlib_face_recognition_resnet_model_v1.dat`` into an ONNX file."""
    import onnx

    model = build_onnx(read_dlib_resnet(dat))
    tmp = out.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)


__all__ = ["DLIB_MEAN", "DLIB_SCALE", "DlibFormatError", "DlibResNet", "build_onnx", "convert", "parse_dlib_resnet",
           "read_dlib_resnet"]
