"""Signed model directories: given a trusted key, only a contract signed by it is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _runtime_helpers import copy_tiny_model, invoke

from edgedg_runtime.contract import CONTRACT_FILE, load_contract
from edgedg_runtime.errors import ContractError
from edgedg_runtime.fileio import sha256_file
from edgedg_runtime.signing import SIGNATURE_FILE, TRUST_KEY_ENV, sign_contract

pytest.importorskip("cryptography")


def _keypair(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def signed(tmp_path) -> tuple[Path, Path, Path]:
    """(signed model directory, its public key, another key's public key)."""
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _keypair(keys, "ours")
    _, other = _keypair(keys, "theirs")
    model = copy_tiny_model(tmp_path)
    sign_contract(model, private)
    return model, public, other


def test_a_valid_signature_is_accepted(signed, monkeypatch):
    model, public, _ = signed
    assert load_contract(model, trust_key=str(public)).model.num_classes == 19
    monkeypatch.setenv(TRUST_KEY_ENV, str(public))
    load_contract(model)


def test_a_file_changed_with_its_hash_updated_is_refused(signed):
    model, public, _ = signed
    (model / "source_stats.npz").write_bytes(b"not the statistics")
    path = model / CONTRACT_FILE
    data = json.loads(path.read_text())
    data["files"]["source_stats.npz"] = sha256_file(model / "source_stats.npz")
    path.write_text(json.dumps(data, indent=2) + "\n")
    with pytest.raises(ContractError, match="valid signature"):
        load_contract(model, trust_key=str(public))


def test_another_key_is_refused(signed):
    model, _, other = signed
    with pytest.raises(ContractError, match="valid signature"):
        load_contract(model, trust_key=str(other))


def test_an_unsigned_directory_is_refused_when_a_key_is_given(signed, monkeypatch):
    model, public, _ = signed
    (model / SIGNATURE_FILE).unlink()
    with pytest.raises(ContractError, match="not signed"):
        load_contract(model, trust_key=str(public))
    monkeypatch.setenv(TRUST_KEY_ENV, str(public))
    with pytest.raises(ContractError, match="not signed"):
        load_contract(model)
    monkeypatch.delenv(TRUST_KEY_ENV)
    load_contract(model)  # no key: the sha256 list alone, as before


def test_stream_trust_key_refuses_in_one_line(signed, frames_dir, monkeypatch):
    pytest.importorskip("cv2")
    model, _, other = signed
    monkeypatch.delenv(TRUST_KEY_ENV, raising=False)
    result = invoke(["stream", model, frames_dir, "--backend", "ort", "--trust-key", other])
    assert result.exit_code == 1 and "valid signature" in result.output, result.output
    assert "Traceback" not in result.output
