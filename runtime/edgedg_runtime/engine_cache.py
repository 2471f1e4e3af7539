"""The TensorRT engine cache: keys, sidecars, lookup, atomic writes, build locks (no tensorrt here).

An engine is valid only for the exact ONNX bytes it parsed, the precision recipe, the input
profiles, the full TensorRT version, the GPU (name + compute capability; on Jetson also the board
and L4T release), the builder options and our schema version (TensorRT's developer guide: plan
files are not portable across platforms or TensorRT versions, and are specific to the GPU model
they were built on). The key
digests all of them. Each engine is stored raw (``<graph>-<digest16>.engine``, loadable by
trtexec) beside a JSON sidecar holding the whole key, so that a runtime can say which TensorRT /
GPU built an engine that does not load on this machine.

Python 3.8 syntax; imported by the export side (builds) and the runtime (lookups).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edgedg_runtime import board, names
from edgedg_runtime.contract import SCHEMA_VERSION, Contract
from edgedg_runtime.errors import ContractError, EdgeDGError
from edgedg_runtime.file_lock import FileLock
from edgedg_runtime.fileio import read_json, sha256_file, write_atomic, write_json

ENGINE_SCHEMA = 1
PRECISIONS = names.PRECISIONS


@dataclass(frozen=True)
class BuildTarget:
    """Where an engine runs: TensorRT version, GPU, and (on Jetson) board and L4T release."""

    tensorrt: str
    gpu: str
    compute_capability: str  # "8.7"
    jetson_model: str | None = None
    l4t: str | None = None  # "36.4"

    def __post_init__(self) -> None:
        # one spelling whoever queried the device (C strings may carry NULs / padding)
        object.__setattr__(self, "gpu", str(self.gpu).strip("\x00 "))
        object.__setattr__(self, "tensorrt", str(self.tensorrt).strip())

    @classmethod
    def here(cls, tensorrt: str, gpu: str, compute_capability: str, root: str = "/") -> BuildTarget:
        """This machine's target, reading the Jetson board and L4T release under ``root``."""
        l4t = board.l4t_release(root)
        return cls(
            tensorrt,
            gpu,
            compute_capability,
            board.jetson_model(root),
            None if l4t is None else f"{l4t[0]}.{l4t[1]}",
        )

    def describe(self) -> str:
        where = f"{self.gpu} (SM {self.compute_capability})"
        if self.jetson_model:
            where += f" on {self.jetson_model}, L4T {self.l4t}"
        return f"TensorRT {self.tensorrt} on {where}"


@dataclass(frozen=True)
class Profile:
    """One input's optimisation profile: min / opt / max shapes."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on. ``recipe`` names how the precision was obtained (e.g.
    "fp16-flag+fp32-stats" or "fp16-onnx+fp32-stats"); ``options`` the builder options."""

    onnx_sha256: str
    precision: str
    recipe: str
    profiles: tuple[Profile, ...]
    target: BuildTarget
    options: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    engine_schema: int = ENGINE_SCHEMA

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["profiles"] = [
            {"name": p.name, "min": list(p.min), "opt": list(p.opt), "max": list(p.max)}
            for p in self.profiles
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineKey:
        profiles = tuple(
            Profile(p["name"], tuple(p["min"]), tuple(p["opt"]), tuple(p["max"]))
            for p in data["profiles"]
        )
        return cls(
            data["onnx_sha256"],
            data["precision"],
            data["recipe"],
            profiles,
            BuildTarget(**data["target"]),
            dict(data.get("options", {})),
            int(data["schema_version"]),
            int(data["engine_schema"]),
        )

    def digest(self) -> str:
        canon = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()


def profiles_for(contract: Contract, graph: str, opt_batch: int = 1) -> tuple[Profile, ...]:
    """One profile per input with a symbolic batch dim ("N", in any position: `batch_mix` is
    [N, N]): N in 1..contract.max_batch."""
    top = contract.max_batch
    profiles = []
    for t in contract.graph(graph).inputs:
        if all(isinstance(d, int) for d in t.shape):
            continue  # static inputs need no profile

        def at(n: int, shape: tuple = t.shape) -> tuple:
            return tuple(n if isinstance(d, str) else int(d) for d in shape)

        profiles.append(Profile(t.name, at(1), at(min(opt_batch, top)), at(top)))
    return tuple(profiles)


def engine_key(
    contract: Contract, graph: str, precision: str, target: BuildTarget, fp16_flag: bool
) -> tuple[EngineKey, str]:
    """THE cache key of an engine, and the model-directory file its build parses. The exporter
    and the runtime both call this, so an engine built by one is found by the other.

    ``fp16_flag``: this TensorRT has ``BuilderFlag.FP16`` (<= 10). Without it (11), FP16 means
    parsing the FP16-typed graph that export stored beside the original (variant ``fp16``).
    INT8 always parses the Q/DQ graph (variant ``int8``): with the INT8 and FP16 flags (the
    statistics pinned FP32) where the flags exist, strongly typed on 11 (DESIGN section 2)."""
    if precision not in PRECISIONS:
        raise EdgeDGError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    info = contract.graph(graph)
    file, recipe, strongly_typed = info.file, "fp32", False
    if precision == "int8":
        if "int8" not in info.variants:
            raise ContractError(
                f"this model directory has no INT8 (Q/DQ) graph for '{graph}': re-export it with "
                "`edgedg export CHECKPOINT --out MODEL_DIR --int8`"
            )
        file, strongly_typed = info.variants["int8"], not fp16_flag
        recipe = "int8-qdq+fp16-flag+fp32-stats" if fp16_flag else "int8-qdq-strongly-typed"
    elif precision == "fp16" and fp16_flag:
        recipe = "fp16-flag+fp32-stats"
    elif precision == "fp16":
        if "fp16" not in info.variants:
            raise ContractError(
                f"TensorRT {target.tensorrt} builds FP16 only from an FP16-typed graph, and this "
                f"model directory has none for '{graph}': re-export it with this edgedg"
            )
        file, recipe, strongly_typed = info.variants["fp16"], "fp16-onnx+fp32-stats", True
    key = EngineKey(
        contract.files[file],
        precision,
        recipe,
        profiles_for(contract, graph),
        target,
        {"strongly_typed": strongly_typed},
    )
    return key, file


@dataclass(frozen=True)
class CacheEntry:
    """An engine file and its sidecar (the key plus build facts such as layer precisions)."""

    engine: Path
    key: EngineKey
    sidecar: dict[str, Any]


def engine_path(engine_dir: os.PathLike, graph: str, key: EngineKey) -> Path:
    return Path(engine_dir) / f"{graph}-{key.digest()[:16]}.engine"


def sidecar_path(engine: Path) -> Path:
    return engine.with_suffix(".json")


def timing_cache_path(cache_dir: os.PathLike, target: BuildTarget) -> Path:
    """One timing cache per (TensorRT version, GPU): tactic timings do not transfer across them."""
    raw = f"{target.tensorrt}|{target.gpu}|{target.compute_capability}|{target.jetson_model}"
    return Path(cache_dir) / f"timing-{hashlib.sha256(raw.encode()).hexdigest()[:16]}.cache"


def lookup(engine_dir: os.PathLike, graph: str, key: EngineKey) -> CacheEntry | None:
    """The cached engine for exactly ``key``, or None (missing, half-written or altered)."""
    engine = engine_path(engine_dir, graph, key)
    entry = _read_entry(engine)
    if entry is None or entry.key != key:
        return None
    if entry.sidecar.get("engine_sha256") != sha256_file(engine):
        return None
    return entry


def entries(engine_dir: os.PathLike, graph: str) -> list[CacheEntry]:
    """Every engine of ``graph`` in the folder whose sidecar is readable."""
    found = [_read_entry(p) for p in sorted(Path(engine_dir).glob(f"{graph}-*.engine"))]
    return [e for e in found if e is not None]


def find_engine(
    engine_dir: os.PathLike,
    graph: str,
    onnx_sha256: str,
    target: BuildTarget,
    precision: str | None = None,
    max_batch: int | None = None,
) -> CacheEntry | None:
    """A runtime lookup that does not know the builder options: the newest engine built from
    these ONNX bytes for this target (and precision / batch when given), or None."""
    matches = [
        e
        for e in entries(engine_dir, graph)
        if e.key.onnx_sha256 == onnx_sha256
        and e.key.target == target
        and e.key.schema_version == SCHEMA_VERSION
        and (precision is None or e.key.precision == precision)
        and (max_batch is None or _max_batch(e.key) >= max_batch)
    ]
    matches.sort(key=lambda e: e.sidecar.get("created", ""), reverse=True)
    return matches[0] if matches else None


def mismatch_message(entry: CacheEntry, running: BuildTarget) -> str:
    """Why a cached engine cannot be used here, for the log and the error message."""
    return (
        f"engine {entry.engine.name} was built with {entry.key.target.describe()}; this machine "
        f"runs {running.describe()}. TensorRT engines are tied to both: rebuilding it from the "
        "ONNX (or run `edgedg export ... --trt` on this machine)"
    )


def write_entry(
    engine_dir: os.PathLike, graph: str, key: EngineKey, plan: bytes, facts: dict[str, Any]
) -> CacheEntry:
    """Store ``plan`` and its sidecar atomically (engine first, sidecar last: a sidecar always
    describes a complete engine)."""
    engine = engine_path(engine_dir, graph, key)
    engine.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(engine, bytes(plan))
    sidecar = dict(facts)
    sidecar.update(
        key=key.to_json(),
        digest=key.digest(),
        engine_sha256=hashlib.sha256(plan).hexdigest(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    write_json(sidecar_path(engine), sidecar)
    return CacheEntry(engine, key, sidecar)


@contextlib.contextmanager
def build_lock(
    engine_dir: os.PathLike, graph: str, key: EngineKey, timeout_s: float = 3600.0
) -> Iterator[bool]:
    """Hold ``<engine>.lock`` (a :class:`FileLock`) while building. Yields True when this
    process got the lock at once; waits while another process builds the same engine (then
    yields False: look it up again). A dead builder's lock is dropped by the kernel; a symlink
    planted at the lock's path is removed, never followed. The lock file holds the builder's PID
    and is removed when the build ends."""
    lock = engine_path(engine_dir, graph, key).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    held = FileLock(str(lock))
    deadline = time.monotonic() + timeout_s
    waited = False
    while not _try_lock(held):
        if time.monotonic() > deadline:
            raise EdgeDGError(
                f"{lock} is held by a running build for over {timeout_s:.0f} s: wait for it to "
                "finish, or stop it"
            )
        waited = True
        time.sleep(1.0)
    try:
        os.ftruncate(held.fd, 0)  # a dead builder's PID may be left in it
        os.write(held.fd, str(os.getpid()).encode())
        yield not waited
    finally:
        held.release(remove=True)


def _try_lock(held: FileLock) -> bool:
    try:
        return held.try_acquire()
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    _unlink(Path(held.path))  # a symlink: unlink removes the link only
    return held.try_acquire()


def _max_batch(key: EngineKey) -> int:
    return min((p.max[0] for p in key.profiles if p.max), default=1)


def _read_entry(engine: Path) -> CacheEntry | None:
    try:
        sidecar = read_json(sidecar_path(engine), nofollow=True)
        key = EngineKey.from_json(sidecar["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CacheEntry(engine, key, sidecar) if engine.is_file() else None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
