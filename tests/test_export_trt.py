"""Engine cache (keys, sidecars, lookup, locks) and the TensorRT builder's logic, with fakes;
a real build where TensorRT and a GPU exist (marker `trt`). The builder's flow against each
TensorRT version is in test_trt_first_run.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from _export_helpers import export_tiny

from edgedg_export import trt as trt_build
from edgedg_runtime import engine_build
from edgedg_runtime import engine_cache as cache
from edgedg_runtime.contract import load_contract
from edgedg_runtime.errors import EdgeDGError, MissingDependencyError
from edgedg_runtime.file_lock import FileLock

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
    holder = FileLock(str(lock))  # a live holder: another open file of this process
    assert holder.try_acquire()
    busy = cache.build_lock(tmp_path, "segment", KEY, timeout_s=0.5)
    with pytest.raises(EdgeDGError, match="held by a running build"), busy:
        pass
    holder.release()  # as the kernel does when a holder dies: the file stays, unlocked
    lock.write_text("999999999")  # what a dead builder left: no such process
    with cache.build_lock(tmp_path, "segment", KEY) as mine:
        assert mine and lock.read_text() == str(os.getpid())
    assert not lock.exists()


def test_build_lock_waiter_gets_the_engine_a_concurrent_build_wrote(tmp_path: Path) -> None:
    holder = FileLock(str(cache.engine_path(tmp_path, "segment", KEY).with_suffix(".lock")))
    assert holder.try_acquire()

    def build_then_release() -> None:
        time.sleep(0.3)
        cache.write_entry(tmp_path, "segment", KEY, b"PLAN", {})
        holder.release(remove=True)

    builder = threading.Thread(target=build_then_release)
    builder.start()
    with cache.build_lock(tmp_path, "segment", KEY, timeout_s=30) as mine:
        assert not mine and cache.lookup(tmp_path, "segment", KEY) is not None
    builder.join()


def test_build_lock_of_a_killed_builder_is_free_and_a_planted_symlink_is_not_followed(
    tmp_path: Path,
) -> None:
    lock = cache.engine_path(tmp_path, "segment", KEY).with_suffix(".lock")
    take = f"from edgedg_runtime.file_lock import FileLock; FileLock({str(lock)!r}).try_acquire()"
    child = subprocess.Popen(
        [sys.executable, "-c", take + "; print(1, flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    child.stdout.readline()
    assert not FileLock(str(lock)).try_acquire()
    child.kill()  # SIGKILL: no cleanup runs
    child.wait()
    with cache.build_lock(tmp_path, "segment", KEY, timeout_s=0.5) as mine:
        assert mine
    victim = tmp_path / "victim"
    victim.write_text("keep")
    lock.symlink_to(victim)
    with cache.build_lock(tmp_path, "segment", KEY, timeout_s=0.5) as mine:
        assert mine and not lock.is_symlink()
    assert victim.read_text() == "keep" and not lock.exists()


def test_timing_cache_per_tensorrt_and_gpu(tmp_path: Path) -> None:
    a = cache.timing_cache_path(tmp_path, TARGET)
    assert a == cache.timing_cache_path(tmp_path, TARGET)
    assert a != cache.timing_cache_path(tmp_path, replace(TARGET, tensorrt="10.3.1"))
    assert a != cache.timing_cache_path(tmp_path, replace(TARGET, gpu="Thor"))


def _layer(name: str, out: dict, kind: str = "CaskConvolution") -> dict:
    return {"Name": name, "LayerType": kind, "Outputs": [dict(out, Name=name + "_out")]}


FP16_10 = {"Format/Datatype": "Row major linear FP16 format"}
FP32_10 = {"Format/Datatype": "Row major linear FP32"}
FP16_11 = {"Format": "Row major linear FP16 format (kLINEAR)", "DataType": "Half"}
FP32_11 = {"Format": "Row major linear FP32 format (kLINEAR)", "DataType": "Float"}
NA = {"Format/Datatype": "N/A due to dynamic shapes"}


@pytest.mark.parametrize(("half", "full"), [(FP16_10, FP32_10), (FP16_11, FP32_11)])
def test_precision_check_reads_both_layer_info_spellings(half, full) -> None:
    info = {"Layers": [_layer("conv1", half), _layer("bn1/stat/mu_f", full, "Reduce")]}
    report = engine_build.precision_report(info)
    assert (report["fp16"], report["fp32"], report["conv_fp16"], report["stat_fp16"]) == (
        1,
        1,
        1,
        0,
    )
    engine_build.check_precision(report, "fp16", "segment")
    with pytest.raises(EdgeDGError, match="asked for FP32"):
        engine_build.check_precision(report, "fp32", "segment")
    leaked = engine_build.precision_report({"Layers": [_layer("bn1/stat/var_f", half, "Reduce")]})
    with pytest.raises(EdgeDGError, match="statistic layers ran in FP16"):
        engine_build.check_precision(leaked, "fp16", "segment")


def test_reformats_and_fused_layers_are_not_refused_as_fp16_statistics(caplog) -> None:
    layers = [
        _layer("conv1", FP16_10),
        _layer("Reformatting CopyNode for Output Tensor 0 to bn1/stat/mu_f", FP16_10, "Reformat"),
        _layer("{ForeignNode[bn1/stat/mu_f...conv2]}", FP16_10, "Myelin"),
    ]
    report = engine_build.precision_report({"Layers": layers})
    assert report["stat_fp16"] == 0 and report["stat_fused_fp16"] == 1
    with caplog.at_level("WARNING"):
        engine_build.check_precision(report, "fp16", "segment")
    assert "fused layers that include statistic ops" in caplog.text


def test_fp16_segment_convolutions_must_be_fp16_style_may_stay_fp32(caplog) -> None:
    silent = engine_build.precision_report({"Layers": [_layer("conv1", FP32_10)]})
    with pytest.raises(EdgeDGError, match="its convolutions are FP32"):
        engine_build.check_precision(silent, "fp16", "segment")
    with caplog.at_level("WARNING"):
        engine_build.check_precision(silent, "fp16", "style")
    assert "kept this small graph in FP32" in caplog.text


def test_layer_info_without_formats_cannot_be_verified() -> None:
    report = engine_build.precision_report({"Layers": [_layer("conv1", NA)]})
    assert report["unknown"] == report["layers"] == 1
    with pytest.raises(EdgeDGError, match="no layer precisions"):
        engine_build.check_precision(report, "fp32", "segment")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("trt_export"))


def test_profiles_cover_the_dynamic_batch_only(model_dir: Path) -> None:
    contract = load_contract(model_dir)
    image, prior, mix = cache.profiles_for(contract, "segment")
    assert image == cache.Profile("image", (1, 32, 64, 3), (1, 32, 64, 3), (4, 32, 64, 3))
    s = contract.stat_layout.total
    assert prior == cache.Profile("norm_prior", (1, 3, s), (1, 3, s), (4, 3, s))
    assert mix == cache.Profile("batch_mix", (1, 1), (1, 1), (4, 4))  # N in every position


def test_fp16_graphs_are_listed_in_the_contract(model_dir: Path) -> None:
    contract = load_contract(model_dir)
    for name in engine_build.GRAPHS:
        file = contract.graph(name).variants["fp16"]
        assert (model_dir / file).is_file() and file in contract.files
        key, parsed = cache.engine_key(contract, name, "fp16", TARGET, fp16_flag=False)
        assert parsed == file and key.onnx_sha256 == contract.files[file]
        key, parsed = cache.engine_key(contract, name, "fp16", TARGET, fp16_flag=True)
        assert parsed == contract.graph(name).file and key.recipe == "fp16-flag+fp32-stats"


def test_missing_tensorrt_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="system-site-packages"):
        engine_build.import_tensorrt()


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


def test_the_builder_pins_what_the_exporter_marks() -> None:
    """One STAT_MARK (edgedg_runtime.layout): every non-conv node of the committed style graph and
    every statistic node of the segment graph carries the mark the builder pins to FP32."""
    import onnx

    from edgedg_runtime.layout import STAT_MARK

    model = Path(__file__).resolve().parent / "assets" / "tiny_model"
    style = onnx.load(str(model / "style.onnx"))
    after_stem = [n for n in style.graph.node if not n.name.startswith("pre/")]
    assert [n.op_type for n in after_stem].count("ReduceMean") == 2  # the mean and the variance
    assert all(STAT_MARK in n.name for n in after_stem if n.op_type != "Conv")
    segment = onnx.load(str(model / "segment.onnx"))
    marked = [n for n in segment.graph.node if engine_build.STAT_MARK in n.name]
    assert {n.op_type for n in marked} >= {"ReduceMean", "Max", "Mul", "Sub"}
    # the normalisation itself runs in the engine's precision: FP16 in an FP16 engine
    assert all(
        STAT_MARK not in n.name for n in segment.graph.node if n.op_type == "BatchNormalization"
    )
    assert all(STAT_MARK in n.name for n in segment.graph.node if n.op_type == "ReduceMean")
