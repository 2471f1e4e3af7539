"""`edgedg train` and `edgedg export` never destroy what they did not write: an existing run is
continued or refused, a model directory keeps its banks, notes and engines, orphan temp files of
a killed run are removed, and a checkpoint whose meta disagrees with its weights is one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from edgedg.cli import cli
from edgedg_runtime.contract import load_contract

sys.path.insert(0, str(Path(__file__).parent))
from _export_helpers import tiny_checkpoint  # noqa: E402
from _train_helpers import write_cityscapes_domains  # noqa: E402

pytest.importorskip("edgedg.data.sampler")


def _train(run: Path, specs: list, *extra: str):
    args = ["train", *[x for s in specs for x in ("--source", s)], "--backbone", "tiny"]
    args += ["--batch-per-domain", "2", "--crop", "32", "--workers", "0", "--val-fraction", "0"]
    args += ["--device", "cpu", "--out", str(run), "--iters", "2", "--save-every", "2", *extra]
    return CliRunner().invoke(cli, args)


def test_train_into_an_existing_run_needs_resume_or_overwrite(tmp_path):
    specs = write_cityscapes_domains(tmp_path / "data", num_domains=2, per_domain=2)
    run = tmp_path / "run"
    assert _train(run, specs).exit_code == 0
    best, log = (run / "best.pt").read_bytes(), (run / "metrics.jsonl").read_text()
    result = _train(run, specs, "--seed", "5")
    assert result.exit_code == 1 and "--resume" in result.output and "--overwrite" in result.output
    assert (run / "best.pt").read_bytes() == best and (run / "metrics.jsonl").read_text() == log
    result = _train(run, specs, "--seed", "5", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (run / "best.pt").read_bytes() != best


def test_orphan_checkpoint_temps_are_removed_when_the_run_resumes(tmp_path):
    specs = write_cityscapes_domains(tmp_path / "data", num_domains=2, per_domain=2)
    run = tmp_path / "run"
    assert _train(run, specs).exit_code == 0
    orphans = [run / ".last.pt.x8f2k1qz.tmp", run / ".best.pt.p0a9d7cc.tmp"]
    for orphan in orphans:  # what a kill -9 during a checkpoint save leaves
        orphan.write_bytes(b"\0" * 4096)
    keep = run / "notes.txt"
    keep.write_text("mine")
    result = _train(run, specs, "--iters", "4", "--resume", str(run / "last.pt"))
    assert result.exit_code == 0, result.output
    assert not any(o.exists() for o in orphans) and keep.read_text() == "mine"


def test_export_into_a_model_directory_keeps_files_it_did_not_write(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "model"
    assert CliRunner().invoke(cli, ["export", str(ckpt), "--out", str(out)]).exit_code == 0
    (out / "bank.npz").write_bytes(b"a bank")
    (out / "NOTES.md").write_text("calibrated on route 7")
    (out / "engines").mkdir()
    (out / "engines" / "segment.plan").write_bytes(b"engine")
    result = CliRunner().invoke(cli, ["export", str(ckpt), "--out", str(out), "--logits"])
    assert result.exit_code == 0, result.output
    assert (out / "bank.npz").read_bytes() == b"a bank"
    assert (out / "NOTES.md").read_text() == "calibrated on route 7"
    assert (out / "engines" / "segment.plan").read_bytes() == b"engine"
    assert load_contract(out).has_logits  # the new export, hashes verified
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("edit", ["num_classes", "classes"])
def test_checkpoint_meta_with_another_class_count_is_one_line(tmp_path, edit):
    ckpt = torch.load(tiny_checkpoint(tmp_path / "tiny.pt"), weights_only=True)
    if edit == "num_classes":
        ckpt["meta"]["model"]["num_classes"] = 7
    else:
        ckpt["meta"]["classes"] = ckpt["meta"]["classes"][:3]
    torch.save(ckpt, tmp_path / "bad.pt")
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "bad.pt"), "--out", tmp_path / "m"])
    assert result.exit_code == 1 and result.output.startswith("Error:"), result.output
    assert result.output.count("\n") == 1 and "num_classes" in result.output
    other = "num_classes is 7" if edit == "num_classes" else "lists 3 classes"
    assert other in result.output and "5" in result.output


def test_export_never_deletes_a_sibling_folder_it_did_not_create(tmp_path):
    """`.X.old` beside the export target is someone's folder, not ours: kept."""
    from edgedg_export.model_dir import move_into_place

    out, fresh, theirs = tmp_path / "X", tmp_path / "fresh", tmp_path / ".X.old"
    for folder, name in ((out, "old.txt"), (fresh, "new.txt"), (theirs, "keep.txt")):
        folder.mkdir()
        (folder / name).write_text(name)
    move_into_place(fresh, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert (theirs / "keep.txt").read_text() == "keep.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".X.old", "X"]


@pytest.mark.parametrize("option", ["--report", "--chart"])
def test_eval_refuses_a_report_or_chart_that_is_the_checkpoint(tmp_path, option):
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"a checkpoint")
    args = ["eval", str(ckpt), "--target", f"cityscapes:{tmp_path}", option, str(ckpt)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Invalid value" in result.output, result.output
    assert ckpt.read_bytes() == b"a checkpoint"
