"""Backends: the ONNX Runtime backend on a hand-built graph; TensorRT's pure parts with fakes."""

from __future__ import annotations

import types

import numpy as np
import pytest
from _runtime_helpers import write_double_graph

from edgedg_runtime.backends import create_backend, open_backend, resolve_kind
from edgedg_runtime.backends import trt as trtmod
from edgedg_runtime.backends.ort import OrtBackend, choose_providers, dtype_from_ort
from edgedg_runtime.errors import ContractError, EdgeDGError


@pytest.fixture()
def double_onnx(tmp_path):
    return write_double_graph(str(tmp_path / "double.onnx"))


def test_ort_specs_and_infer(double_onnx):
    with OrtBackend(double_onnx, threads=1) as backend:
        (image,) = backend.inputs
        assert image.name == "image" and image.dtype == np.uint8
        assert image.shape == ("N", "H", "W", 3)
        assert image.accepts((2, 5, 7, 3)) and not image.accepts((2, 5, 7, 4))
        assert [o.name for o in backend.outputs] == ["out", "count"]
        x = np.arange(2 * 5 * 7 * 3, dtype=np.uint8).reshape(2, 5, 7, 3)
        out = backend.infer({"image": x})
        np.testing.assert_array_equal(out["out"], 2.0 * x.astype(np.float32))
        assert out["count"].tolist() == [3]
        assert backend.provider == "CPUExecutionProvider"
    assert not backend.is_open
    with pytest.raises(RuntimeError, match="not open"):
        backend.inputs  # noqa: B018


def test_infer_records_its_own_time(double_onnx):
    with OrtBackend(double_onnx, threads=1) as backend:
        assert backend.last_ms == 0.0
        backend.infer({"image": np.zeros((1, 4, 4, 3), np.uint8)})
        assert backend.last_ms > 0.0


def test_ort_expect_checks_names_and_dtypes(double_onnx):
    with open_backend(double_onnx, kind="ort") as backend:
        backend.expect({"image": "uint8"}, {"out": "float32"})
        with pytest.raises(ContractError, match="no output 'labels'"):
            backend.expect({"image": "uint8"}, {"labels": "uint8"})
        with pytest.raises(ContractError, match="is uint8"):
            backend.expect({"image": "float32"}, {})


def test_ort_missing_or_corrupt_graph(tmp_path):
    with pytest.raises(ContractError, match="no ONNX graph"):
        OrtBackend(str(tmp_path / "nope.onnx")).open()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ContractError, match="cannot load"):
        OrtBackend(str(bad)).open()


def test_providers_and_dtypes():
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(EdgeDGError, match="not available"):
        choose_providers(["CUDAExecutionProvider"], ["CPUExecutionProvider"])
    assert dtype_from_ort("tensor(uint8)") == np.uint8
    with pytest.raises(ContractError):
        dtype_from_ort("tensor(string)")


def test_auto_picks_ort_without_tensorrt(monkeypatch, double_onnx):
    monkeypatch.setattr(trtmod, "trt_usable", lambda: (False, "tensorrt is not importable"))
    assert resolve_kind("auto") == "ort"
    assert isinstance(create_backend(double_onnx), OrtBackend)
    with pytest.raises(EdgeDGError, match="unknown backend"):
        resolve_kind("openvino")


# --- TensorRT pure parts, with a fake engine / context / cuda runtime -------------------------


class _Enum:
    def __init__(self, name, value=0):
        self.name, self.value = name, value


class FakeEngine:
    """An engine with input image uint8 [-1, 4, 6, 3] (profile N 1..4) and outputs
    labels uint8 [-1, 4, 6] and stats float32 [2, 5]."""

    tensors = [
        ("image", "INPUT", "UINT8", (-1, 4, 6, 3)),
        ("labels", "OUTPUT", "UINT8", (-1, 4, 6)),
        ("stats", "OUTPUT", "FLOAT", (2, 5)),
    ]

    num_io_tensors = 3

    def get_tensor_name(self, i):
        return self.tensors[i][0]

    def _row(self, name):
        return next(t for t in self.tensors if t[0] == name)

    def get_tensor_mode(self, name):
        return _Enum(self._row(name)[1])

    def get_tensor_dtype(self, name):
        return _Enum(self._row(name)[2])

    def get_tensor_shape(self, name):
        return self._row(name)[3]

    def get_tensor_profile_shape(self, name, profile):
        return [(1, 4, 6, 3), (1, 4, 6, 3), (4, 4, 6, 3)]

    def create_execution_context(self):
        return FakeContext()


class FakeMemory:
    """Device memory as numpy byte arrays keyed by fake pointers."""

    def __init__(self):
        self.blocks = {}
        self.next = 1 << 20

    def alloc(self, nbytes):
        ptr, self.next = self.next, self.next + nbytes + 4096
        self.blocks[ptr] = np.zeros(nbytes, np.uint8)
        return ptr


class FakeContext:
    def __init__(self):
        self.shapes, self.addresses, self.set_calls = {}, {}, 0

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        self.set_calls += 1
        return True

    def get_tensor_shape(self, name):
        n = self.shapes.get("image", (-1,))[0]
        return {"labels": (n, 4, 6), "stats": (2, 5), "image": self.shapes.get("image")}[name]

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr

    def execute_async_v3(self, stream):
        mem = FAKE_CUDA.memory.blocks
        n = self.shapes["image"][0]
        image = mem[self.addresses["image"]][: n * 72].reshape(n, 4, 6, 3)
        labels = (image[..., 0] > 100).astype(np.uint8)
        mem[self.addresses["labels"]][: labels.size] = labels.reshape(-1)
        stats = np.stack([image.mean((0, 1, 2)).mean() * np.ones(5), np.full(5, n)])
        mem[self.addresses["stats"]][:40] = stats.astype(np.float32).reshape(-1).view(np.uint8)
        return True


class FakeCudart:
    """The handful of cuda-python runtime calls the backend makes; host memory is numpy too."""

    class cudaMemcpyKind:  # noqa: N801
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self):
        self.memory = FakeMemory()
        self.host_keep = {}
        self.freed = []

    def cudaStreamCreate(self):  # noqa: N802
        return (0, 7)

    def cudaMalloc(self, nbytes):  # noqa: N802
        return (0, self.memory.alloc(nbytes))

    def cudaMallocHost(self, nbytes):  # noqa: N802
        buf = np.zeros(nbytes, np.uint8)
        self.host_keep[buf.ctypes.data] = buf
        return (0, buf.ctypes.data)

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):  # noqa: N802
        import ctypes

        if kind == 1:
            self.memory.blocks[dst][:nbytes] = np.frombuffer(
                (ctypes.c_uint8 * nbytes).from_address(src), np.uint8
            )
        else:
            ctypes.memmove(dst, self.memory.blocks[src].ctypes.data, nbytes)
        return (0,)

    def cudaStreamSynchronize(self, stream):  # noqa: N802
        return (0,)

    def cudaFree(self, ptr):  # noqa: N802
        self.freed.append(ptr)
        return (0,)

    def cudaFreeHost(self, ptr):  # noqa: N802
        self.freed.append(ptr)
        return (0,)

    def cudaStreamDestroy(self, stream):  # noqa: N802
        return (0,)


FAKE_CUDA = FakeCudart()


def test_trt_pure_shape_logic():
    engine = FakeEngine()
    inputs, outputs = trtmod.io_names(engine)
    assert inputs == ["image"] and outputs == ["labels", "stats"]
    assert trtmod.max_input_shapes(engine, inputs) == {"image": (4, 4, 6, 3)}
    assert trtmod.spec_shape((-1, 4, 6, 3)) == ("N", 4, 6, 3)
    context = FakeContext()
    with pytest.raises(ContractError, match="cannot resolve"):
        trtmod.output_shapes(context, ["labels"])
    context.set_input_shape("image", (2, 4, 6, 3))
    assert trtmod.output_shapes(context, outputs) == {"labels": (2, 4, 6), "stats": (2, 5)}
    assert trtmod.dtype_from_trt(_Enum("HALF")) == np.float16
    assert trtmod.dtype_from_trt("DataType.UINT8") == np.uint8
    with pytest.raises(ContractError):
        trtmod.dtype_from_trt(_Enum("FP8"))
    assert trtmod.cuda_call((0, 5)) == 5
    with pytest.raises(EdgeDGError, match="CUDA call failed"):
        trtmod.cuda_call((_Enum("cudaErrorMemoryAllocation", 2),))


def test_trt_backend_flow_with_fakes(monkeypatch, tmp_path):
    """Open allocates at max shapes; infer copies in, runs, copies out; shapes set on change."""
    engine_file = tmp_path / "m.engine"
    engine_file.write_bytes(b"plan")
    monkeypatch.setattr(trtmod, "require", lambda *a: types.SimpleNamespace())
    monkeypatch.setattr(trtmod, "cuda_runtime", lambda: FAKE_CUDA)
    monkeypatch.setattr(trtmod, "_deserialize", lambda trt, path: FakeEngine())
    with trtmod.TrtBackend(str(engine_file)) as backend:
        assert [s.name for s in backend.inputs] == ["image"]
        assert backend.inputs[0].shape == ("N", 4, 6, 3)
        assert backend.outputs[1].dtype == np.float32
        context = backend._context
        assert context.shapes["image"] == (4, 4, 6, 3)  # allocation at the profile max
        rng = np.random.default_rng(0)
        for n in (1, 1, 3):
            image = rng.integers(0, 256, (n, 4, 6, 3), dtype=np.uint8)
            out = backend.infer({"image": image})
            np.testing.assert_array_equal(out["labels"], (image[..., 0] > 100).astype(np.uint8))
            assert out["stats"].shape == (2, 5) and out["stats"][1, 0] == n
        assert context.set_calls == 3  # max at open, then 1, then 3 (the repeat 1 is skipped)
    assert len(FAKE_CUDA.freed) >= 6


def test_trt_engine_that_does_not_load_says_who_built_it(monkeypatch, tmp_path):
    engine_file = tmp_path / "m.engine"
    engine_file.write_bytes(b"plan")
    (tmp_path / "m.engine.json").write_text(
        '{"tensorrt_version": "8.6.2", "gpu_name": "Orin", "compute_capability": "8.7"}'
    )
    fake_trt = types.SimpleNamespace(__version__="10.3.0")
    monkeypatch.setattr(trtmod, "require", lambda *a: fake_trt)
    monkeypatch.setattr(trtmod, "cuda_runtime", lambda: FAKE_CUDA)
    monkeypatch.setattr(trtmod, "_deserialize", lambda trt, path: None)
    with pytest.raises(ContractError, match=r"tensorrt_version=8\.6\.2.*TensorRT 10\.3\.0"):
        trtmod.TrtBackend(str(engine_file)).open()


def test_trt_backend_runs_engines_only(tmp_path):
    """The runner builds nothing: an ONNX path is refused, naming the loader to use."""
    onnx_path = write_double_graph(str(tmp_path / "segment.onnx"))
    with pytest.raises(ContractError, match="engine_for"):
        trtmod.TrtBackend(onnx_path).open()


def test_ort_says_when_cuda_was_asked_for_but_cpu_runs(monkeypatch, double_onnx, caplog):
    """onnxruntime-gpu lists the CUDA provider, but a session that cannot load it (no CUDA or
    cuDNN libraries) runs on the CPU: the backend says so, and `provider` is the one that runs."""
    import onnxruntime

    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: available)
    with caplog.at_level("WARNING"), OrtBackend(double_onnx, threads=1) as backend:
        assert backend.provider == "CPUExecutionProvider"
    assert "CUDA execution provider did not load" in caplog.text
