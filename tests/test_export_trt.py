"""Engine cache (keys, sidecars, lookup, locks) and the TensorRT builder's logic, with fakes;
a real build where TensorRT and a GPU exist (marker `trt`)."""

from __future__ import annotations

import json
import os
import sys
import types
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
from _export_helpers import tiny_checkpoint

from edgedg_export import trt as trt_build
from edgedg_export.model_dir import ExportOptions, export_model_dir
from edgedg_runtime import engine_cache as cache
from edgedg_runtime.errors import EdgeDGError, MissingDependencyError

TARGET = cache.BuildTarget("10.3.0", "Orin", "8.7", "NVIDIA Jetson AGX Orin", "36.4")
PROFILE = cache.Profile("image", (1, 64, 128, 3), (1, 64, 128, 3), (4, 64, 128, 3))
KEY = cache.EngineKey(
    "ab" * 32, "fp16", "fp16-flag+fp32-stats", (PROFILE,), TARGET, {"workspace_mib": 512}
)


def test_key_digest_depends_on_every_field() -> None:
    variants = [
        replace(KEY, onnx_sha256="cd" * 32),
        replace(KEY, precision="fp32"),
        replace(KEY, recipe="fp16-onnx+fp32-stats"),
        replace(KEY, profiles=(replace(PROFILE, max=(8, 64, 128, 3)),)),
        replace(KEY, target=replace(TARGET, tensorrt="10.3.1")),
        replace(KEY, target=replace(TARGET, gpu="RTX 4090", compute_capability="8.9")),
        replace(KEY, target=replace(TARGET, l4t="36.3")),
        replace(KEY, options={"workspace_mib": 1024}),
        replace(KEY, schema_version=KEY.schema_version + 1),
    ]
    digests = {KEY.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1
    assert cache.EngineKey.from_json(json.loads(json.dumps(KEY.to_json()))) == KEY


def test_write_lookup_and_tamper(tmp_path: Path) -> None:
    entry = cache.write_entry(tmp_path, "segment", KEY, b"PLAN", {"layers": {"fp16": 3}})
    assert entry.engine.read_bytes() == b"PLAN"  # raw plan: loadable by trtexec
    sidecar = json.loads(cache.sidecar_path(entry.engine).read_text())
    assert sidecar["key"]["target"]["gpu"] == "Orin" and sidecar["layers"] == {"fp16": 3}
    assert cache.lookup(tmp_path, "segment", KEY).engine == entry.engine
    assert cache.lookup(tmp_path, "segment", replace(KEY, precision="fp32")) is None
    found = cache.find_engine(tmp_path, "segment", KEY.onnx_sha256, TARGET, "fp16", max_batch=4)
    assert found is not None and found.engine == entry.engine
    assert cache.find_engine(tmp_path, "segment", KEY.onnx_sha256, TARGET, max_batch=8) is None
    desktop = replace(TARGET, gpu="RTX 4090", compute_capability="8.9", jetson_model=None)
    assert cache.find_engine(tmp_path, "segment", KEY.onnx_sha256, desktop) is None
    message = cache.mismatch_message(entry, desktop)
    assert "TensorRT 10.3.0 on Orin" in message and "RTX 4090" in message
    entry.engine.write_bytes(b"PLAN-altered")
    assert cache.lookup(tmp_path, "segment", KEY) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_build_target_reads_the_jetson_release(tmp_path: Path) -> None:
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson AGX Orin\x00")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 4.3, GCID: 1\n")
    assert cache.BuildTarget.here("10.3.0", "Orin", "8.7", root=str(tmp_path)) == TARGET
    assert cache.BuildTarget.here("10.3.0", "x", "8.9", root=str(tmp_path / "no")).l4t is None


def test_build_lock_waits_for_live_holder_and_takes_over_stale(tmp_path: Path) -> None:
    lock = cache.engine_path(tmp_path, "segment", KEY).with_suffix(".lock")
    lock.write_text(str(os.getpid()))  # a live holder: this process
    busy = cache.build_lock(tmp_path, "segment", KEY, timeout_s=0.5)
    with pytest.raises(EdgeDGError, match="held by a running build"), busy:
        pass
    lock.write_text("999999999")  # no such process: stale
    with cache.build_lock(tmp_path, "segment", KEY) as mine:
        assert mine and lock.read_text() == str(os.getpid())
    assert not lock.exists()


def test_timing_cache_per_tensorrt_and_gpu(tmp_path: Path) -> None:
    a = cache.timing_cache_path(tmp_path, TARGET)
    assert a == cache.timing_cache_path(tmp_path, TARGET)
    assert a != cache.timing_cache_path(tmp_path, replace(TARGET, tensorrt="10.3.1"))
    assert a != cache.timing_cache_path(tmp_path, replace(TARGET, gpu="Thor"))


def _layer(name: str, fmt: str) -> dict:
    return {"Name": name, "Outputs": [{"Name": name + "_out", "Format/Datatype": fmt}]}


def test_precision_check_from_layer_info() -> None:
    fp16 = {
        "Layers": [
            _layer("conv1", "Row major linear FP16 format"),
            _layer("bn1/stat/mu_f", "Row major linear FP32"),
        ]
    }
    report = trt_build.precision_report(fp16)
    assert report == {"fp16": 1, "fp32": 1, "stat_fp16": 0, "layers": 2}
    trt_build.check_precision(report, "fp16", "segment")
    with pytest.raises(EdgeDGError, match="asked for FP32"):
        trt_build.check_precision(report, "fp32", "segment")
    silent = trt_build.precision_report({"Layers": [_layer("conv1", "Row major linear FP32")]})
    with pytest.raises(EdgeDGError, match="every layer is FP32"):
        trt_build.check_precision(silent, "fp16", "segment")
    leaked = trt_build.precision_report({"Layers": [_layer("bn1/stat/var_f", "Half")]})
    with pytest.raises(EdgeDGError, match="statistic layers ran in FP16"):
        trt_build.check_precision(leaked, "fp16", "segment")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trt_export")
    out = root / "model"
    export_model_dir(tiny_checkpoint(root / "tiny.pt"), out, ExportOptions(imgsz=(32, 64)))
    return out


def test_profiles_cover_the_dynamic_batch_only(model_dir: Path) -> None:
    proto = onnx.load(str(model_dir / "segment.onnx"))
    (profile,) = trt_build.profiles_for(proto, max_batch=4)
    assert profile == cache.Profile("image", (1, 32, 64, 3), (1, 32, 64, 3), (4, 32, 64, 3))


def test_missing_tensorrt_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="system-site-packages"):
        trt_build.import_tensorrt()


class _Obj(types.SimpleNamespace):
    pass


def _fake_tensorrt(calls: list, fp16_flag: bool, half_layers: bool) -> types.ModuleType:
    """Enough of the tensorrt module for the builder's control flow."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0"
    trt.float32, trt.float16 = "float32", "float16"
    flags = {"OBEY_PRECISION_CONSTRAINTS": "obey", **({"FP16": "fp16"} if fp16_flag else {})}
    trt.BuilderFlag = _Obj(**flags)
    trt.NetworkDefinitionCreationFlag = _Obj(STRONGLY_TYPED=5)
    trt.MemoryPoolType = _Obj(WORKSPACE="ws")
    trt.ProfilingVerbosity = _Obj(DETAILED="detailed")
    trt.LayerInformationFormat = _Obj(JSON="json")
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    layers = [
        _Obj(name="conv1", num_outputs=1, precision=None),
        _Obj(name="bn1/stat/mu_f", num_outputs=1, precision=None),
    ]
    for layer in layers:
        layer.get_output = lambda j: _Obj(dtype="float16")
        layer.set_output_type = lambda j, t, layer=layer: calls.append(("pin", layer.name, t))
    network = _Obj(num_layers=2, get_layer=lambda i: layers[i])
    fmt = "Half" if half_layers else "FP32"
    info = {"Layers": [_layer("conv1", fmt), _layer("bn1/stat/mu_f", "FP32")]}
    config = _Obj(
        set_memory_pool_limit=lambda pool, size: calls.append(("workspace", size)),
        add_optimization_profile=lambda p: None,
        set_flag=lambda f: calls.append(("flag", f)),
        create_timing_cache=lambda data: b"TC",
        set_timing_cache=lambda c, ignore_mismatch: None,
        get_timing_cache=lambda: _Obj(serialize=lambda: b"TIMING"),
    )
    profile = _Obj(set_shape=lambda *a: calls.append(("profile", a)))
    trt.Builder = lambda logger: _Obj(
        create_network=lambda flags: calls.append(("network", flags)) or network,
        create_builder_config=lambda: config,
        create_optimization_profile=lambda: profile,
        build_serialized_network=lambda n, c: calls.append(("build",)) or b"ENGINE",
    )
    trt.OnnxParser = lambda network, logger: _Obj(parse=lambda data: True, num_errors=0)
    engine = _Obj(
        create_engine_inspector=lambda: _Obj(get_engine_information=lambda f: json.dumps(info))
    )
    trt.Runtime = lambda logger: _Obj(deserialize_cuda_engine=lambda plan: engine)
    return trt


@pytest.mark.parametrize("fp16_flag", [True, False])
def test_engine_build_flow_with_fake_tensorrt(model_dir: Path, monkeypatch, fp16_flag) -> None:
    calls: list = []
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(calls, fp16_flag, True))
    monkeypatch.setattr(trt_build, "gpu_identity", lambda: ("FakeGPU", "8.9"))
    engine_dir = model_dir / f"engines-{fp16_flag}"
    path = trt_build.engine_from_onnx(model_dir / "segment.onnx", engine_dir, "fp16", 4, 256)
    assert (
        path.read_bytes() == b"ENGINE" and ("build",) in calls and ("workspace", 256 << 20) in calls
    )
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["key"]["recipe"] == (
        "fp16-flag+fp32-stats" if fp16_flag else "fp16-onnx+fp32-stats"
    )
    assert sidecar["layers"]["fp16"] == 1 and sidecar["layers"]["stat_fp16"] == 0
    if fp16_flag:  # statistics pinned, FP16 flag set
        assert ("flag", "fp16") in calls and ("pin", "bn1/stat/mu_f", "float32") in calls
    else:  # strongly typed network from the FP16 ONNX
        assert ("network", 1 << 5) in calls
    assert list(engine_dir.glob("timing-*.cache"))[0].read_bytes() == b"TIMING"
    calls.clear()
    assert (
        trt_build.engine_from_onnx(model_dir / "segment.onnx", engine_dir, "fp16", 4, 256) == path
    )
    assert ("build",) not in calls  # cached


def test_engine_build_fails_loudly_on_silent_fp32(model_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt([], True, half_layers=False))
    monkeypatch.setattr(trt_build, "gpu_identity", lambda: ("FakeGPU", "8.9"))
    with pytest.raises(EdgeDGError, match="every layer is FP32"):
        trt_build.engine_from_onnx(model_dir / "plain.onnx", model_dir / "engines-x", "fp16")
    assert not list((model_dir / "engines-x").glob("*.engine"))


@pytest.mark.trt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_engine_build(model_dir: Path, tmp_path: Path, precision: str) -> None:
    engines = trt_build.build_engines(model_dir, trt_build.EngineOptions(precision, 1024))
    for name, path in engines.items():
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["layers"]["layers"] > 0, name
        assert path.stat().st_size > 0


def test_gpu_names_are_normalised() -> None:
    assert cache.BuildTarget("10.3.0", "Orin\x00\x00", "8.7") == cache.BuildTarget(
        "10.3.0", "Orin", "8.7"
    )
