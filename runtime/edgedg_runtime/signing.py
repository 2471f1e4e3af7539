"""Signed model directories: an Ed25519 signature over the exact bytes of contract.json.

The contract lists the sha256 of every file a graph reads, so signing it signs the directory.
``contract.json.sig`` holds the raw 64-byte signature (``openssl pkeyutl -verify -rawin`` checks
it too). Keys are PEM files as ``openssl genpkey -algorithm ed25519`` writes them; the private key
never lives in the model directory. Given a trusted public key (``load_contract(trust_key=...)``,
``Segmenter(trust_key=...)``, ``--trust-key`` or the environment setting ``EDGEDG_TRUST_KEY``)
a directory that is unsigned or signed by another key is refused.

``cryptography`` (the ``sign`` extra) is imported only when a key is given: without one the
runtime stays numpy-only. Python 3.8 syntax.
"""

from __future__ import annotations

import os

from edgedg_runtime.errors import ContractError, EdgeDGError, require
from edgedg_runtime.fileio import read_regular, write_atomic

SIGNATURE_FILE = "contract.json.sig"
TRUST_KEY_ENV = "EDGEDG_TRUST_KEY"
_MAX_KEY_BYTES = 64 << 10
_SIGNATURE_BYTES = 64


def trust_key_from(explicit: str | os.PathLike | None) -> str | None:
    """The public key file to trust: ``explicit``, else ``$EDGEDG_TRUST_KEY``, else None."""
    if explicit is not None:
        return os.fspath(explicit)
    return os.environ.get(TRUST_KEY_ENV) or None


def verify_contract(model_dir: str | os.PathLike, contract_bytes: bytes, trust_key: str) -> None:
    """Raise a ContractError unless ``MODEL_DIR/contract.json.sig`` is a valid Ed25519 signature
    of ``contract_bytes`` (the bytes about to be parsed) by the public key in ``trust_key``."""
    public = _public_key(trust_key)
    path = os.path.join(os.fspath(model_dir), SIGNATURE_FILE)
    try:
        signature = read_regular(path, _SIGNATURE_BYTES)
    except FileNotFoundError:
        raise ContractError(
            f"{model_dir} is not signed ({SIGNATURE_FILE} is missing) and a trusted key is set "
            f"({trust_key}): use a directory exported with `edgedg export --sign KEY`"
        ) from None
    except OSError as exc:
        raise ContractError(f"cannot read the signature {path} ({exc})") from exc
    invalid = require("cryptography.exceptions", "sign", "Checking signatures").InvalidSignature
    try:
        public.verify(signature, contract_bytes)
    except invalid:
        raise ContractError(
            f"{model_dir}: contract.json does not carry a valid signature by the trusted key "
            f"{trust_key} (changed after signing, or signed with another key): refused"
        ) from None


def sign_contract(model_dir: str | os.PathLike, private_key: str | os.PathLike) -> str:
    """Sign ``MODEL_DIR/contract.json`` with the Ed25519 private key in the PEM file
    ``private_key``; writes ``contract.json.sig`` and returns its path."""
    serialization = _serialization()
    ed25519 = require("cryptography.hazmat.primitives.asymmetric.ed25519", "sign", "Signing")
    data = _read_key(private_key)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (TypeError, ValueError) as exc:
        raise EdgeDGError(
            f"{private_key} is not an unencrypted PEM private key ({exc}); make one with "
            "`openssl genpkey -algorithm ed25519 -out KEY.pem`"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise EdgeDGError(f"{private_key} is not an Ed25519 key: edgedg signs with Ed25519 only")
    contract = read_regular(os.path.join(os.fspath(model_dir), "contract.json"), 16 << 20)
    path = os.path.join(os.fspath(model_dir), SIGNATURE_FILE)
    write_atomic(path, key.sign(contract))
    return path


def _public_key(trust_key: str):
    serialization = _serialization()
    ed25519 = require("cryptography.hazmat.primitives.asymmetric.ed25519", "sign", "Signatures")
    try:
        key = serialization.load_pem_public_key(_read_key(trust_key))
    except (TypeError, ValueError) as exc:
        raise EdgeDGError(
            f"the trusted key {trust_key} is not a PEM public key ({exc}); derive it from the "
            "signing key with `openssl pkey -in KEY.pem -pubout -out PUB.pem`"
        ) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise EdgeDGError(f"the trusted key {trust_key} is not an Ed25519 public key")
    return key


def _serialization():
    return require("cryptography.hazmat.primitives.serialization", "sign", "Signatures")


def _read_key(path: str | os.PathLike) -> bytes:
    try:
        return read_regular(path, _MAX_KEY_BYTES)
    except OSError as exc:
        raise EdgeDGError(f"cannot read the key file {os.fspath(path)} ({exc})") from exc


__all__ = ["SIGNATURE_FILE", "TRUST_KEY_ENV", "sign_contract", "trust_key_from", "verify_contract"]
