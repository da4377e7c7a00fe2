"""dstorch.export.flatbuffer: the TFLite model writer, read back by an independent reader."""

from __future__ import annotations

import numpy as np
import pytest
from flatbuffers import flexbuffers
from tflite_helpers import read_model

from dstorch.export.flatbuffer import (
    BUFFER_ALIGN,
    Activation,
    BuiltinOp,
    Field,
    ModelWriter,
    TensorType,
    flexbuffer_map,
    string_tensor_data,
)


def test_string_tensor_layout() -> None:
    data = string_tensor_data([b"ab", b"", b"xyz"])
    count, *offsets = np.frombuffer(data[:20], "<i4").tolist()
    assert count == 3 and offsets == [20, 22, 22, 25]
    assert data[20:] == b"abxyz"


def test_flexbuffer_options_round_trip() -> None:
    options = {"window_size": 512, "stride": 320, "magnitude_squared": True}
    assert flexbuffers.Loads(flexbuffer_map(options)) == options


def test_tensor_names_are_unique_and_indices_checked() -> None:
    w = ModelWriter()
    w.tensor("x", (1,), TensorType.FLOAT32)
    with pytest.raises(ValueError, match="duplicate tensor name 'x'"):
        w.tensor("x", (2,), TensorType.FLOAT32)
    with pytest.raises(ValueError, match="out of range"):
        w.op(BuiltinOp.TANH, [0], [5])
    with pytest.raises(ValueError, match="unsupported constant dtype float64"):
        w.const("c", np.zeros(3))


@pytest.fixture(scope="module")
def tiny() -> tuple[bytes, dict[str, int]]:
    """x [2, 3] -> FULLY_CONNECTED (w [4, 3], b [4], fused ReLU) -> y [2, 4]; a custom op;
    a variable tensor."""
    w = ModelWriter()
    x = w.tensor("x", (2, 3), TensorType.FLOAT32)
    kernel = w.const("w", np.arange(12, dtype=np.float32).reshape(4, 3))
    bias = w.const("b", np.array([1, 2, 3, 4], dtype=np.int32))
    y = w.tensor("y", (2, 4), TensorType.FLOAT32)
    w.op(BuiltinOp.FULLY_CONNECTED, [x, kernel, bias], [y], [Field(0, "int8", Activation.RELU)])
    state = w.tensor("state", (2, 4), TensorType.FLOAT32, variable=True)
    z = w.tensor("z", (2, 4), TensorType.FLOAT32)
    w.op("MyCustom", [y, state], [z], custom_options=flexbuffer_map({"k": 3}))
    names = {"x": x, "w": kernel, "b": bias, "y": y, "state": state, "z": z}
    return w.serialize([x], [z], description="tiny"), names


def test_model_reads_back(tiny) -> None:
    data, ids = tiny
    model = read_model(data)
    assert model.version == 3
    assert [t.name for t in model.tensors] == list(ids)
    assert model.names(model.inputs) == ["x"] and model.names(model.outputs) == ["z"]
    assert model.by_name("w").shape == (4, 3) and model.by_name("b").dtype == TensorType.INT32
    assert [t.name for t in model.tensors if t.variable] == ["state"]
    fc, custom = model.operators
    assert fc.opcode == BuiltinOp.FULLY_CONNECTED and fc.inputs == [0, 1, 2]
    assert fc.options_type == 8  # BuiltinOptions.FullyConnectedOptions
    assert custom.opcode == "MyCustom" and custom.options_type == 0
    assert flexbuffers.Loads(custom.custom_options) == {"k": 3}


def test_constants_live_in_aligned_buffers(tiny) -> None:
    data, _ = tiny
    model = read_model(data)
    assert model.buffers[0] == b"", "buffer 0 is the schema's empty sentinel"
    w, b = model.by_name("w"), model.by_name("b")
    assert np.frombuffer(model.buffers[w.buffer], "<f4").tolist() == list(range(12))
    assert np.frombuffer(model.buffers[b.buffer], "<i4").tolist() == [1, 2, 3, 4]
    assert all(model.buffer_offsets[t.buffer] % BUFFER_ALIGN == 0 for t in (w, b))
    assert model.by_name("y").buffer == 0  # computed tensors have no data
