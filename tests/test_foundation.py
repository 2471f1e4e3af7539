"""Package, CLI shell, error handling and doctor."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from edgedg import cli as cli_module
from edgedg_runtime import board

HEAVY = ("torch", "cv2", "tensorrt", "onnx", "onnxruntime")


def _loaded_after(code: str) -> dict[str, bool]:
    report = f"{{m: m in sys.modules for m in {HEAVY!r}}}"
    probe = f"import sys, json; {code}; print(json.dumps({report}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import edgedg",
        "import edgedg_runtime",
        "import edgedg_export",
        "from edgedg.cli import cli; cli(['--help'], standalone_mode=False)",
    ],
)
def test_light_imports(code: str) -> None:
    loaded = _loaded_after(code)
    assert not any(loaded.values()), f"{code!r} imported {[m for m, v in loaded.items() if v]}"


def test_runtime_light_after_its_modules() -> None:
    """The torch-free runtime modules never pull torch, whatever they import lazily."""
    loaded = _loaded_after(
        "import edgedg_runtime.errors, edgedg_runtime.layout, edgedg_runtime.board"
    )
    assert not loaded["torch"] and not loaded["tensorrt"]


def test_help_lists_existing_verbs() -> None:
    result = CliRunner().invoke(cli_module.cli, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1].split()
    assert "doctor" in listed
    for verb in cli_module.VERBS:
        assert (verb in listed) == cli_module._exists(verb)


def test_user_error_is_one_line_exit_1(tmp_path, monkeypatch) -> None:
    mod = tmp_path / "edgedg_fake_verb.py"
    mod.write_text(
        textwrap.dedent(
            """
            import click
            from edgedg_runtime.errors import DataError

            @click.command()
            def cli():
                raise DataError("no dataset at /nowhere: pass FORMAT:PATH to an existing folder")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli_module.VERBS, "fake", "edgedg_fake_verb")
    result = CliRunner().invoke(cli_module.cli, ["fake"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: no dataset at /nowhere: pass FORMAT:PATH to an existing folder"
    )
    assert "Traceback" not in result.output


def test_bug_keeps_traceback(tmp_path, monkeypatch) -> None:
    mod = tmp_path / "edgedg_buggy_verb.py"
    mod.write_text("import click\n@click.command()\ndef cli():\n    raise KeyError('bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli_module.VERBS, "buggy", "edgedg_buggy_verb")
    result = CliRunner().invoke(cli_module.cli, ["buggy"])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)


def test_doctor_json_never_crashes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgedg", "doctor", "--json"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    names = [f["name"] for f in json.loads(out.stdout)]
    assert names == [
        "python",
        "torch",
        "onnx",
        "onnxruntime",
        "tensorrt",
        "cuda-python",
        "opencv",
        "jetson",
    ]


def test_doctor_explains_missing_tensorrt(monkeypatch) -> None:
    from edgedg_runtime import doctor

    real_import = doctor._import
    monkeypatch.setattr(
        doctor, "_import", lambda n: (None, "missing") if n == "tensorrt" else real_import(n)
    )
    monkeypatch.setattr(board, "jetson_model", lambda root="/": "NVIDIA Jetson AGX Orin")
    finding = doctor.check_tensorrt()
    assert not finding.ok and "system-site-packages" in finding.fix


def test_jetson_release_parsing(tmp_path) -> None:
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    (tmp_path / "etc/nv_tegra_release").write_text(
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n"
    )
    assert board.jetson_model(str(tmp_path)) == "NVIDIA Jetson Orin Nano Developer Kit"
    assert board.l4t_release(str(tmp_path)) == (36, 4)
    assert board.jetpack_for((36, 4)) == "6.1 / 6.2"
    assert board.jetpack_for((35, 6)) == "5.1.x"
    assert board.jetpack_for((99, 1)) is None
    assert board.jetson_model(str(tmp_path / "nowhere")) is None
