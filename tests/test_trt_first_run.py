"""What a first real TensorRT run depends on, with a fake tensorrt that behaves as documented."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from _export_helpers import export_tiny
from _fake_tensorrt import FakeTensorRT

from edgedg_export import trt as trt_build
from edgedg_runtime import engine_build
from edgedg_runtime.contract import load_contract
from edgedg_runtime.errors import ContractError, EdgeDGError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("first_run"))


def _use(monkeypatch, version: str, fp16_min_convs: int = 2) -> FakeTensorRT:
    trt = FakeTensorRT(version, fp16_min_convs)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(engine_build, "cuda_runtime", lambda: None)
    monkeypatch.setattr(engine_build, "gpu_identity", lambda cudart: ("FakeGPU", "8.7"))
    return trt


@pytest.mark.parametrize("version", ["8.5.2", "8.6.2", "10.3.0", "11.0.0"])
def test_fp16_build_passes_its_precision_check(model_dir, tmp_path, monkeypatch, version):
    shutil.rmtree(model_dir / "engines", ignore_errors=True)
    trt = _use(monkeypatch, version)
    engines = trt_build.build_engines(model_dir, trt_build.EngineOptions("fp16"))
    assert set(engines) == {"style", "segment", "plain"}
    pins = [c for c in trt.calls if c[0] == "pin"]
    if trt.major < 11:  # FP16 flag, statistics pinned to FP32
        assert ("flag", "FP16") in trt.calls and pins
        assert all("/stat/" in name and dtype == "float32" for _, name, dtype in pins)
    else:  # strongly typed network from the FP16-typed graph: no flag, nothing pinned
        assert ("network", 1 << 1) in trt.calls and not pins
        assert not any(c[0] == "flag" and c[1] == "FP16" for c in trt.calls)


@pytest.mark.parametrize("version", ["8.5.2", "8.6.2"])
def test_default_export_parses_on_jetpack5_and_6(model_dir, monkeypatch, version):
    _use(monkeypatch, version)
    engines = trt_build.build_engines(model_dir, trt_build.EngineOptions("fp32"))
    assert engines["segment"].is_file()


def test_explicit_batch_is_not_used_from_tensorrt_10(model_dir, monkeypatch):
    trt = _use(monkeypatch, "10.3.0")
    trt_build.build_engines(model_dir, trt_build.EngineOptions("fp32"))
    assert ("deprecated", "EXPLICIT_BATCH") not in trt.calls


@pytest.mark.parametrize(
    ("version", "precision"),
    [("10.3.0", "fp32"), ("10.3.0", "fp16"), ("11.0.0", "fp32"), ("11.0.0", "fp16")],
)
def test_runtime_finds_the_exported_engine(model_dir, monkeypatch, version, precision):
    """Every precision, the FP16 flag (<= 10) and the FP16-typed graph (11) alike: the runtime
    finds what `edgedg export --trt` built, with the precision given or not."""
    shutil.rmtree(model_dir / "engines", ignore_errors=True)
    _use(monkeypatch, version)
    built = trt_build.build_engines(model_dir, trt_build.EngineOptions(precision))
    for graph in engine_build.GRAPHS:
        found = engine_build.engine_for(model_dir, precision, graph, build=False)
        assert found == built[graph]
    assert engine_build.engine_for(model_dir, None, "segment", build=False) == built["segment"]


def test_runtime_build_uses_the_contracts_max_batch(tmp_path, monkeypatch):
    import json

    out = export_tiny(tmp_path, max_batch=2, fp16_graphs=False)
    _use(monkeypatch, "10.3.0")
    engine = engine_build.engine_for(out, None, "segment")
    profiles = json.loads(engine.with_suffix(".json").read_text())["key"]["profiles"]
    assert {p["name"]: p["max"][0] for p in profiles} == {
        "image": 2,
        "norm_prior": 2,
        "batch_mix": 2,
    }


def test_fp16_build_with_fp32_convolutions_fails_loudly(model_dir, tmp_path, monkeypatch):
    """A GPU where the builder keeps every layer FP32 under BuilderFlag.FP16: the segment
    engine is refused, not cached as FP16."""
    shutil.rmtree(model_dir / "engines", ignore_errors=True)
    _use(monkeypatch, "10.3.0", fp16_min_convs=10**6)
    with pytest.raises(EdgeDGError, match="its convolutions are FP32"):
        engine_build.engine_for(model_dir, "fp16", "segment")
    assert not list((model_dir / "engines").glob("segment-*.engine"))


def test_a_contract_passed_in_is_not_read_or_hashed_again(model_dir, monkeypatch):
    """The Segmenter passes the contract it verified at open: one hashing per open."""
    shutil.rmtree(model_dir / "engines", ignore_errors=True)
    _use(monkeypatch, "10.3.0")
    contract = load_contract(model_dir)

    def read_again(*args, **kwargs):
        raise AssertionError("the contract was read again")

    monkeypatch.setattr(engine_build, "load_contract", read_again)
    built = engine_build.engine_for(model_dir, "fp32", "segment", contract=contract)
    found = engine_build.engine_for(model_dir, None, "segment", build=False, contract=contract)
    assert found == built


def test_runtime_without_an_engine_and_no_build_says_what_to_run(model_dir, monkeypatch):
    shutil.rmtree(model_dir / "engines", ignore_errors=True)
    _use(monkeypatch, "10.3.0")
    with pytest.raises(ContractError, match="edgedg export"):
        engine_build.engine_for(model_dir, None, "segment", build=False)


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory) -> Path:
    from _eval_helpers import write_domain

    from edgedg_export.calibrate import Int8Options

    root = tmp_path_factory.mktemp("first_run_int8")
    spec = write_domain(root / "day", 2, brightness=90.0, seed=3, n_train=4)
    return export_tiny(root, int8=Int8Options((spec,), images=4))


@pytest.mark.parametrize("version", ["8.6.2", "10.3.0", "11.0.0"])
def test_int8_build_parses_the_qdq_graph_and_checks_int8_convs(int8_dir, monkeypatch, version):
    shutil.rmtree(int8_dir / "engines", ignore_errors=True)
    trt = _use(monkeypatch, version)
    engines = trt_build.build_engines(int8_dir, trt_build.EngineOptions("int8"))
    assert set(engines) == {"style", "segment", "plain"}
    from edgedg_runtime.engine_cache import entries

    keys = {g: entries(int8_dir / "engines", g)[0] for g in engines}
    assert keys["segment"].key.precision == "int8" and keys["style"].key.precision == "fp16"
    assert keys["segment"].sidecar["layers"]["conv_int8"] > 0
    if trt.major < 11:  # INT8 + FP16 flags, statistics pinned
        assert ("flag", "INT8") in trt.calls and ("flag", "FP16") in trt.calls
        assert keys["segment"].key.recipe == "int8-qdq+fp16-flag+fp32-stats"
    else:  # no precision flags: the Q/DQ graph in a strongly typed network
        assert ("flag", "INT8") not in trt.calls
        assert keys["segment"].key.recipe == "int8-qdq-strongly-typed"


def test_int8_needs_the_qdq_variant(model_dir, monkeypatch):
    _use(monkeypatch, "10.3.0")
    with pytest.raises(ContractError, match="--int8"):
        engine_build.engine_for(model_dir, "int8", "segment")
