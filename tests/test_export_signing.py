"""`edgedg export --sign KEY`: a key made as the docs say signs the directory the runtime trusts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from _export_helpers import tiny_checkpoint
from click.testing import CliRunner

from edgedg.cli import cli
from edgedg_runtime.contract import load_contract
from edgedg_runtime.errors import ContractError
from edgedg_runtime.signing import SIGNATURE_FILE

pytest.importorskip("cryptography")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_export_sign_with_an_openssl_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    key, pub = keys / "key.pem", keys / "pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    ckpt, out = tiny_checkpoint(tmp_path / "tiny.pt"), tmp_path / "model"
    result = CliRunner().invoke(cli, ["export", str(ckpt), "--out", str(out), "--sign", str(key)])
    assert result.exit_code == 0, result.output
    assert (out / SIGNATURE_FILE).stat().st_size == 64 and not list(out.glob("*.pem"))
    assert load_contract(out, trust_key=str(pub)).files
    verify = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin"]
    verify += ["-in", out / "contract.json", "-sigfile", out / SIGNATURE_FILE]
    assert subprocess.run(verify, capture_output=True).returncode == 0  # openssl agrees
    (out / "contract.json").write_text((out / "contract.json").read_text() + " ")
    with pytest.raises(ContractError, match="valid signature"):
        load_contract(out, trust_key=str(pub))
