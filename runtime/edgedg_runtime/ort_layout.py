"""The faster ONNX Runtime CPU layout of one graph on this machine: measured once, then cached.

``nchwc`` (ORT's layout optimisations on) and ``nchw`` (off) are both built, run on synthetic
inputs (one untimed run each, then ``runs`` timed runs alternating between the two), and
``nchw`` is chosen only when its median is more than 3% below nchwc's: within that margin the
timing noise of a shared CPU decides, and ORT's default should win. The chosen session is kept
and the other dropped, so a first open builds two sessions and later ones build one.

The choice is cached like a TensorRT engine, in ``ort-layout.json`` of the engine folder
(``engines/`` beside the graph, or the folder named by ``cache_dir`` / ``EDGEDG_ENGINE_DIR``;
an ``engines`` that is a symlink is neither read nor written: ``engine_dir``):
``{"schema": 1, "entries": {key: {"layout", "ms": {"nchwc", "nchw"}, "graph", "measured"}}}``.
The key is a sha256 over what the timing depends on: the graph's bytes, the ONNX Runtime version,
the CPU model and count, and the thread setting. A corrupt file is re-measured and overwritten;
an unwritable folder keeps the choice for this run only. The cache never stops a stream: a FIFO,
a symlink, an oversized or deeply nested file in its place is corrupt, re-measured and replaced.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import platform
import statistics
import time
from typing import Callable, Dict

import numpy as np

from edgedg_runtime import fileio
from edgedg_runtime.engine_dir import UnsafePathError, engine_dir_for
from edgedg_runtime.names import ORT_LAYOUTS

log = logging.getLogger(__name__)

SCHEMA = 1
MAX_CACHE_BYTES = 4 << 20  # one small entry per graph, ORT version, CPU and thread setting
CACHE_FILE = "ort-layout.json"
LAYOUTS = ORT_LAYOUTS
MARGIN = 0.97  # nchw must be at least 3% faster than nchwc to be chosen

Build = Callable[[str], object]  # layout -> an onnxruntime.InferenceSession
Measure = Callable[[Dict[str, object], int], Dict[str, float]]  # sessions, runs -> median ms

_warned_unwritable: set = set()  # cache files already warned about in this process


def cache_path(graph: str, cache_dir: str | None = None) -> str:
    """Where the layout choice of ``graph`` is cached: ``ort-layout.json`` in ``cache_dir``, else
    in the engine folder beside the graph (``engine_dir.engine_dir_for``: UnsafePathError for an
    ``engines`` that is a symlink)."""
    folder = engine_dir_for(os.path.dirname(os.path.abspath(graph)), cache_dir)
    return os.path.join(os.fspath(folder), CACHE_FILE)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux x86), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()  # ARM's cpuinfo has no model name


def cache_key(graph: str, threads: int | None, graph_sha256: str | None = None) -> str:
    """sha256 over the graph's bytes (``graph_sha256`` when already known), ONNX Runtime's
    version, the CPU and the thread setting."""
    import onnxruntime

    digest = graph_sha256 or fileio.sha256_file(graph)
    parts = [digest, onnxruntime.__version__, cpu_model(), os.cpu_count()]
    parts.append(threads)
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def synthetic_feeds(session: object) -> dict:
    """Zeros for every input of ``session``: dynamic dims 1, uint8 where the graph says uint8,
    else float32 (a zero ``norm_prior`` gives finite outputs: the variance floor is eps)."""
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in arg.shape]
        dtype = np.uint8 if arg.type == "tensor(uint8)" else np.float32
        feeds[arg.name] = np.zeros(shape, dtype)
    return feeds


def measure_ms(sessions: dict[str, object], runs: int = 3) -> dict[str, float]:
    """Median ms per layout of ``runs`` runs each, alternating between the layouts so that a load
    change on the machine hits both alike; one untimed run each first (allocations)."""
    feeds = synthetic_feeds(next(iter(sessions.values())))
    for session in sessions.values():
        session.run(None, feeds)
    times: dict = {layout: [] for layout in sessions}
    for _ in range(runs):
        for layout, session in sessions.items():
            start = time.perf_counter()
            session.run(None, feeds)
            times[layout].append((time.perf_counter() - start) * 1000.0)
    return {layout: statistics.median(values) for layout, values in times.items()}


def pick(ms: dict[str, float]) -> str:
    """``nchw`` when its median is below ``MARGIN`` x nchwc's, else ``nchwc``."""
    return "nchw" if ms["nchw"] < MARGIN * ms["nchwc"] else "nchwc"


def choose_session(
    graph: str,
    build: Build,
    threads: int | None,
    runs: int = 3,
    measure: Measure | None = None,
    cache_dir: str | None = None,
    graph_sha256: str | None = None,
) -> tuple[object, str]:
    """(session, layout) for ``graph``: the cached layout built once, or both built, measured
    with ``measure(sessions, runs)`` (default :func:`measure_ms`), the faster kept and the
    choice cached in ``cache_dir`` (see :func:`cache_path`)."""
    measure = measure or measure_ms
    key = cache_key(graph, threads, graph_sha256)
    try:
        path: str | None = cache_path(graph, cache_dir)
    except UnsafePathError as exc:
        _warn_once(str(exc), "%s: ONNX Runtime layout chosen for this run only", exc)
        path = None
    entries, problem = _read(path) if path else ({}, None)
    if problem:
        log.warning(
            "%s %s: the ONNX Runtime layout is re-measured, the file rewritten", path, problem
        )
    entry = entries.get(key)
    if entry is not None:
        log.info("ONNX Runtime layout %s for %s (from the cache %s)", entry["layout"], graph, path)
        return build(entry["layout"]), entry["layout"]
    sessions = {layout: build(layout) for layout in LAYOUTS}
    ms = measure(sessions, runs)
    layout = pick(ms)
    log.info(
        "ONNX Runtime layout %s for %s (median ms: nchwc %.2f, nchw %.2f; measured)",
        layout,
        graph,
        ms["nchwc"],
        ms["nchw"],
    )
    entry = {
        "layout": layout,
        "ms": {name: round(float(ms[name]), 3) for name in LAYOUTS},
        "graph": os.path.basename(graph),
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if path:
        _store(path, key, entry)
    return sessions[layout], layout


def _read(path: str) -> tuple[dict, str | None]:
    """(entries, None) of a valid cache file or of none; ({}, what is wrong) of a corrupt one."""
    try:  # never through a symlink, never a FIFO (an open that waits forever), bounded
        data = fileio.read_json(path, MAX_CACHE_BYTES, nofollow=True)
    except (FileNotFoundError, NotADirectoryError):
        return {}, None
    except OSError as exc:
        return {}, f"is unreadable ({exc})"
    except ValueError:
        return {}, "is not JSON (or nested too deeply)"
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return {}, f"is not a schema {SCHEMA} layout cache"
    entries = data.get("entries")
    if not isinstance(entries, dict) or not all(_valid(e) for e in entries.values()):
        return {}, "holds an entry that is not a layout choice"
    return entries, None


def _valid(entry: object) -> bool:
    if not isinstance(entry, dict) or entry.get("layout") not in LAYOUTS:
        return False
    ms = entry.get("ms")
    numbers = isinstance(ms, dict) and all(isinstance(ms.get(n), (int, float)) for n in LAYOUTS)
    return (
        numbers and isinstance(entry.get("graph"), str) and isinstance(entry.get("measured"), str)
    )


def _store(path: str, key: str, entry: dict) -> None:
    """Add ``entry`` to the cache file. The file is read again just before the write, so that a
    choice another process cached meanwhile (another graph) is kept; a corrupt file is replaced."""
    entries, _ = _read(path)
    entries[key] = entry
    try:
        fileio.write_json(path, {"schema": SCHEMA, "entries": entries})
    except OSError as exc:  # a read-only model directory: a deployment choice, not an error
        _warn_once(
            path,
            "cannot write %s (%s): ONNX Runtime layout chosen for this run only; make the "
            "folder writable to keep it, or name a writable one with --engine-dir",
            path,
            exc,
        )


def _warn_once(what: str, message: str, *args: object) -> None:
    if what not in _warned_unwritable:
        _warned_unwritable.add(what)
        log.warning(message, *args)


__all__ = ["CACHE_FILE", "LAYOUTS", "cache_key", "cache_path", "choose_session", "measure_ms"]
