"""Every sample: the CPU ones run on tiny settings; the ones that need datasets, GPUs or cameras
are syntax-checked and their printed commands (DRY_RUN=1) parsed by the real click commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _samples_helpers import ROOT, edgedg_args, split_shell, tool_env, validate_edgedg

SAMPLES = ROOT / "samples"
DRY_FORMATS = {"gta5", "synthia", "idd", "mapillary"}
SCRIPT_NEEDS = {"train_real": "GPU", "export_trt": "GPU", "stream_cameras": "camera"}
# Dummy values for the variables the scripts require (nothing is read in a dry run).
DRY_ENV = {
    "DRY_RUN": "1",
    "GTA5": "/data/gta5",
    "SYNTHIA": "/data/synthia",
    "IDD": "/data/idd",
    "MAPILLARY": "/data/mapillary",
    "CITYSCAPES": "/data/cityscapes",
    "CHECKPOINT": "runs/gsim_mldg/best.pt",
}


def _scripts() -> list[Path]:
    return sorted(SAMPLES.glob("*/*.sh"))


def test_every_sample_has_a_readme_that_says_what_it_needs():
    folders = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
    names = {p.name for p in folders}
    assert {"train_real", "export_trt", "stream_cameras", "perception_loop", "ablation"} <= names
    assert "rig_loop" in names
    for folder in folders:
        readme = (folder / "README.md").read_text()
        assert "**Needs:**" in readme, f"{folder.name}/README.md does not say what it needs"
        scripts = list(folder.glob("*.sh")) + list(folder.glob("*.py"))
        assert scripts, f"samples/{folder.name} has no script"
        for script in scripts:
            assert script.name in readme, f"{script.name} is not named in its README"


@pytest.mark.parametrize("script", _scripts(), ids=lambda p: p.parent.name)
def test_shell_sample_syntax_and_header(script: Path):
    subprocess.run(["bash", "-n", str(script)], check=True)
    head = "\n".join(script.read_text().splitlines()[:15])
    assert "# NEEDS:" in head, f"{script} must say at the top what it needs"
    if script.parent.name in SCRIPT_NEEDS:
        assert SCRIPT_NEEDS[script.parent.name] in head


def _dry_run(script: Path, tmp_path: Path, *args: str) -> list[str]:
    env = dict(tool_env(), **DRY_ENV, OUT=str(tmp_path / "out"))
    proc = subprocess.run(
        ["bash", str(script), *args], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "out").exists(), f"{script.name} wrote files in a dry run"
    return [line for line in proc.stdout.splitlines() if line.strip()]


def _dry_run_scripts() -> list[Path]:
    # device_check.sh runs for real below: it has no dry run
    return [s for s in _scripts() if s.name != "device_check.sh"]


@pytest.mark.parametrize("script", _dry_run_scripts(), ids=lambda p: p.parent.name)
def test_shell_sample_commands_parse(script: Path, tmp_path: Path):
    args = ("all",) if script.parent.name == "stream_cameras" else ()
    lines = _dry_run(script, tmp_path, *args)
    verbs = []
    for line in lines:
        argv = edgedg_args(split_shell(line))
        assert argv is not None, f"{script.name} printed a non-edgedg command: {line}"
        try:
            verbs.append(validate_edgedg(argv))
        except Exception as exc:
            pytest.fail(f"{script.name}: `{line}` does not parse: {exc}")
    expected = {
        "train_real": {"edgedg train", "edgedg eval", "edgedg bench-train"},
        "export_trt": {"edgedg export", "edgedg check", "edgedg bench", "edgedg doctor"},
        "stream_cameras": {"edgedg stream"},
        "ablation": {"edgedg ablation"},
    }[script.parent.name]
    assert set(verbs) == expected


@pytest.mark.slow
def test_device_check_runs_everything_it_can_and_reports_every_step(tmp_path: Path):
    """On this CPU machine: the TensorRT and CUDA steps are skipped with their reason, every
    other step runs, and report.json lists them all (tiny model, 20 frames)."""
    out = tmp_path / "report"
    env = dict(
        tool_env(), PYTHON=sys.executable, BACKBONE="tiny", IMGSZ="64x128", FRAMES="20",
        BENCH_FRAMES="3",
    )  # fmt: skip
    script = SAMPLES / "export_trt" / "device_check.sh"
    proc = subprocess.run(["bash", str(script), str(out)], env=env, capture_output=True, text=True)
    report = json.loads((out / "report.json").read_text())
    status = {s["step"]: s["status"] for s in report["steps"]}
    assert proc.returncode == (1 if report["failed"] else 0)
    ran = ["doctor", "checkpoint", "synth_video", "export_fp32", "export_fp16", "synth_calib",
           "export_int8", "check_int8", "check_trt_static", "check_parity", "bench_ort",
           "stream"]  # fmt: skip
    assert all(status[s] == "ok" for s in ran), report["steps"]
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        assert status["engine_fp16"] == status["bench_trt_fp16"] == "skipped"
        skipped = [s for s in report["steps"] if s["step"] == "bench_trt_fp16"][0]
        assert "tensorrt is not importable" in skipped["reason"]
    assert "20 frames, 0 bad" in " ".join(report["stream"]["summary"])
    assert "ONNX Runtime (" in report["bench"]["ort"]["backend"]  # the provider that ran


def test_train_real_uses_torchrun_for_several_gpus(tmp_path: Path):
    script = SAMPLES / "train_real" / "train_real.sh"
    single = _dry_run(script, tmp_path)
    multi = subprocess.run(
        ["bash", str(script)],
        env=dict(tool_env(), **DRY_ENV, GPUS="4"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert not any(line.startswith("torchrun") for line in single)
    runs = [line for line in multi if line.startswith("torchrun")]
    assert len(runs) == 2 and all("--nproc-per-node 4 -m edgedg train" in r for r in runs)
    sources = [w for w in split_shell(runs[0]) if ":" in w and w.split(":")[0] in DRY_FORMATS]
    assert sources == ["gta5:/data/gta5", "synthia:/data/synthia", "idd:/data/idd",
                       "mapillary:/data/mapillary"]  # fmt: skip


def test_train_real_refuses_missing_dataset_paths(tmp_path: Path):
    env = {k: v for k, v in dict(tool_env(), **DRY_ENV).items() if k != "IDD"}
    proc = subprocess.run(
        ["bash", str(SAMPLES / "train_real" / "train_real.sh")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "set IDD" in proc.stderr


# --- perception loop: a real run on the committed tiny model and a synthetic video ---------------
def _day_then_night(root: Path, frames: int = 24) -> Path:
    """A frame folder: ``frames`` sunny frames, then ``frames`` night frames of the same street."""
    from edgedg.data.synth import write_videos

    videos = write_videos(root / "video", ["sunny", "night"], (64, 128), seed=3, frames=frames)
    sequence = root / "sequence"
    sequence.mkdir()
    for part, domain in enumerate(("sunny", "night")):
        for frame in sorted(Path(videos[domain]["frames"]).glob("*.png")):
            shutil.copy(frame, sequence / f"{part}_{frame.name}")
    return sequence


def _perception_loop(*args: str, sample: str = "perception_loop") -> tuple[int, dict]:
    """Run the sample in a fresh interpreter; returns (exit code, what it imported)."""
    script = SAMPLES / sample / f"{sample}.py"
    code = (
        "import json, runpy, sys\n"
        f"sys.argv = [{str(script)!r}] + {list(args)!r}\n"
        "try:\n"
        f"    runpy.run_path({str(script)!r}, run_name='__main__'); rc = 0\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        "print('RESULT ' + json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    result = json.loads(proc.stdout.split("RESULT ")[-1])
    return result["rc"], {"stdout": proc.stdout, "stderr": proc.stderr, **result}


def test_perception_loop_alerts_when_the_scene_leaves_the_domain(tiny_model, tmp_path: Path):
    sequence = _day_then_night(tmp_path)
    log = tmp_path / "frames.jsonl"
    rc, out = _perception_loop(
        str(tiny_model), str(sequence), "--backend", "ort", "--calibrate", "12", "--json", str(log)
    )
    assert rc == 0, out["stderr"]
    assert not out["torch"], "the perception loop must run without torch"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 48
    day = [r for r in records if r["frame"].startswith("0_")]
    night = [r for r in records if r["frame"].startswith("1_")]
    assert not any(r["alert"] for r in day), "an alert on the calibration domain"
    first = next(i for i, r in enumerate(night) if r["alert"])
    assert first <= 4, f"the alert came {first} frames after the scene changed"
    assert sum(r["alert"] for r in night) >= 0.8 * len(night)
    assert all(0.0 <= r["road"] <= 1.0 for r in records)
    assert "OUT OF DISTRIBUTION" in out["stdout"]


def test_perception_loop_calibrates_from_source_images(tiny_model, tmp_path: Path):
    sequence = _day_then_night(tmp_path, frames=8)
    rc, out = _perception_loop(
        str(tiny_model), str(sequence / "0_*.png"), "--backend", "ort", "--calibrate-only"
    )
    assert rc == 0, out["stderr"]
    threshold = float(out["stdout"].split("threshold ")[1].split()[0])
    rc, out = _perception_loop(
        str(tiny_model), str(sequence), "--backend", "ort", "--threshold", str(threshold)
    )
    assert rc == 0 and "1 alert(s)" in out["stdout"], out["stdout"] + out["stderr"]


def test_rig_loop_alarms_per_camera(tiny_model, tmp_path: Path):
    """Two cameras in one rig: one drives into the night (its alarm fires), the other stays in
    the sun and ends early (no alarm; the first camera goes on)."""
    sequence = _day_then_night(tmp_path)
    log = tmp_path / "ticks.jsonl"
    cams = [f"front={sequence}", f"rear={sequence / '0_*.png'}"]
    args = [str(tiny_model), *cams, "--backend", "ort", "--calibrate", "12", "--json", str(log)]
    rc, out = _perception_loop(*args, sample="rig_loop")
    assert rc == 0, out["stderr"]
    assert not out["torch"], "the rig loop must run without torch"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    front = [r for r in records if r["camera"] == "front"]
    rear = [r for r in records if r["camera"] == "rear"]
    assert len(front) == 48 and len(rear) == 24
    assert not any(r["alert"] for r in rear + front[:24]), "an alert on the calibration domain"
    assert sum(r["alert"] for r in front[24:]) >= 0.8 * 24
    assert "front: 48 frames" in out["stdout"] and "rear: 24 frames" in out["stdout"]


def test_perception_loop_bad_model_dir_is_one_line_error(tmp_path: Path):
    rc, out = _perception_loop(str(tmp_path / "missing"), str(tmp_path))
    assert rc == 1
    assert out["stderr"].startswith("error: ") and "Traceback" not in out["stderr"]


@pytest.mark.slow
def test_ablation_sample_quick(tmp_path: Path):
    env = dict(tool_env(), QUICK="1", OUT=str(tmp_path / "abl"))
    proc = subprocess.run(
        ["bash", str(SAMPLES / "ablation" / "ablation.sh")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert {"MLDG", "MLDG+SIB", "AGG"} <= set(report["rows"])
    assert "Table 5" in (tmp_path / "abl" / "ablation.md").read_text()
