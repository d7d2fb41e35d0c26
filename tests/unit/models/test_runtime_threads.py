"""``Settings.threads`` reaches every ONNX Runtime session (a process-wide cap set by the Scanner)."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from synthwatch.config import Settings
from synthwatch.models import runtime


def _tiny() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString()


@pytest.fixture
def no_cap():  # type: ignore[no-untyped-def]
    before = runtime.thread_cap()
    yield
    runtime.set_thread_cap(before)


def _threads(sess) -> int:  # type: ignore[no-untyped-def]
    return int(sess.get_session_options().intra_op_num_threads)


def test_the_cap_applies_to_sessions_that_ask_for_all_cores_or_more(no_cap: None) -> None:
    runtime.set_thread_cap(0)
    assert _threads(runtime.create_session(_tiny(), threads=3)) == 3
    runtime.set_thread_cap(2)
    assert _threads(runtime.create_session(_tiny(), threads=0)) == 2
    assert _threads(runtime.create_session(_tiny(), threads=4)) == 2
    assert _threads(runtime.create_session(_tiny(), threads=1)) == 1
    with pytest.raises(ValueError):
        runtime.set_thread_cap(-1)


def test_the_scanner_applies_settings_threads(no_cap: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from synthwatch import Scanner

    runtime.set_thread_cap(0)
    Scanner(Settings(home=tmp_path, threads=1), detectors=["debug-image"])
    assert runtime.thread_cap() == 1
    assert onnx.load_from_string(_tiny()).graph.node[0].op_type == "Identity"
