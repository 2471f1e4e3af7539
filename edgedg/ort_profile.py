"""Where ONNX Runtime's CPU time goes in a model directory's graphs: node kinds, fusions, ms.

For each graph (``plain``, ``segment``) and each CPU layout asked for (``nchwc``: ORT_ENABLE_ALL,
``nchw``: ORT_ENABLE_EXTENDED; see ``edgedg_runtime.backends.ort``) ONNX Runtime optimises the
model with the runtime's own session options and saves the optimised graph; we count its nodes
by kind (``nchwc.Conv`` is a convolution in the blocked NCHWc layout, ``ReorderInput`` /
``ReorderOutput`` the layout changes around the ops that cannot run blocked), the convolutions
with a fused activation and with a fused residual Add (``Sum`` input), and, from ORT's profiler,
the median ms per node kind over a few runs of a synthetic frame.
`edgedg bench --profile` prints it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

# The two graphs whose convolutions differ (the style graph is one stem convolution).
GRAPHS = ("plain", "segment")


@dataclass
class GraphProfile:
    """The breakdown of one optimised graph (module docstring)."""

    name: str
    nodes: Counter = field(default_factory=Counter)
    fused_activation: int = 0
    fused_sum: int = 0
    ms: dict[str, float] = field(default_factory=dict)
    gflop: float = 0.0  # convolutions of one frame, 2 x multiply-adds

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())


def profile_layouts(ort_layouts: tuple = ("auto",)) -> tuple:
    """The layouts to profile for `edgedg bench --ort-layout ...`: ``auto`` means both."""
    from edgedg_runtime.ort_layout import LAYOUTS

    wanted = {x for layout in ort_layouts for x in (LAYOUTS if layout == "auto" else (layout,))}
    return tuple(x for x in LAYOUTS if x in wanted)


def profile_model_dir(
    model_dir: str,
    runs: int = 5,
    threads: int | None = None,
    layouts: tuple = ("nchwc",),
    precision: str | None = None,
) -> list:
    """A :class:`GraphProfile` per graph of ``GRAPHS`` and layout of ``layouts`` in ``model_dir``
    (ONNX Runtime, CPU), named ``plain``, ``segment`` (nchwc) and ``plain@nchw``, ... ;
    ``precision`` fp16 / int8: the graphs' variants of that name, the names suffixed with it."""
    from edgedg_runtime.benchmark import synthetic_frames
    from edgedg_runtime.contract import load_contract, load_source_stats

    contract = load_contract(model_dir)
    h, w = contract.input.height, contract.input.width
    image = synthetic_frames(h, w, 1)[0][None]
    if contract.input.dtype == "float32":
        image = image.astype(np.float32)
    stats, _ = load_source_stats(model_dir, contract)
    prior = np.concatenate([stats, np.zeros((1, stats.shape[1]), np.float32)]).astype(np.float32)
    prior[2] = 1.0  # per-frame statistics: every statistic node does its work
    segment = {"image": image, "norm_prior": prior[None], "batch_mix": np.ones((1, 1), np.float32)}
    feeds = {"plain": {"image": image}, "segment": segment}
    tag = f" {precision}" if precision not in (None, "fp32") else ""
    runs_of = {
        (g if layout == "nchwc" else f"{g}@{layout}") + tag: (g, layout)
        for layout in layouts
        for g in GRAPHS
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = {g: os.path.join(model_dir, _file(contract.graph(g), precision)) for g in GRAPHS}
        sessions = {
            name: _session(paths[g], os.path.join(tmp, name), threads, layout)
            for name, (g, layout) in runs_of.items()
        }
        for _ in range(runs + 1):  # interleaved, so that a load change hits every graph alike
            for name, (g, _) in runs_of.items():
                sessions[name].run(None, feeds[g])
        return [_breakdown(name, tmp, sessions[name], paths[g]) for name, (g, _) in runs_of.items()]


def _file(info, precision: str | None) -> str:
    if precision in (None, "fp32"):
        return info.file
    if precision not in info.variants:
        from edgedg_runtime.errors import ContractError

        raise ContractError(f"no {precision} variant of {info.file}: export with --{precision}")
    return info.variants[precision]


def _session(path: str, prefix: str, threads: int | None, layout: str = "nchwc"):
    """A profiling CPU session built with the runtime's options for ``layout`` that also saves
    its optimised graph to ``prefix``.onnx."""
    import onnxruntime as ort

    from edgedg_runtime.backends.ort import session_options

    options = session_options(ort, layout, threads)
    options.optimized_model_filepath = prefix + ".onnx"
    options.enable_profiling = True
    options.profile_file_prefix = prefix
    options.log_severity_level = 3  # the warning that the saved graph is CPU-specific: we know
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _breakdown(name: str, tmp: str, session, path: str) -> GraphProfile:
    import onnx

    prof = GraphProfile(name)
    trace = session.end_profiling()
    kinds = _count_nodes(prof, onnx.load(os.path.join(tmp, name + ".onnx")))
    prof.gflop = conv_gflop(onnx.load(path))
    with open(trace) as f:
        prof.ms = _ms_per_kind(json.load(f), kinds)
    return prof


def conv_gflop(model) -> float:
    """GFLOP (2 x multiply-adds) of the convolutions of ``model`` (an onnx ModelProto) for one
    image at its declared size."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.output]
    }
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv" and node.output[0] in shapes and node.input[1] in weights:
            _, cin_per_group, *kernel = weights[node.input[1]]
            macs += int(np.prod(shapes[node.output[0]])) * cin_per_group * int(np.prod(kernel))
    return 2.0 * macs / 1e9


def _kind(domain: str, op_type: str) -> str:
    return f"nchwc.{op_type}" if domain.endswith("nchwc") else op_type


def _count_nodes(prof: GraphProfile, model) -> dict[str, str]:
    """Count the optimised graph's nodes into ``prof``; return node name -> kind."""
    kinds = {}
    for node in model.graph.node:
        kinds[node.name] = _kind(node.domain, node.op_type)
        prof.nodes[kinds[node.name]] += 1
        if node.op_type in ("Conv", "FusedConv"):
            attrs = {a.name for a in node.attribute}
            prof.fused_activation += "activation" in attrs
            prof.fused_sum += node.domain.endswith("nchwc") and len(node.input) > 3
    return kinds


def _ms_per_kind(events: list, kinds: dict[str, str]) -> dict[str, float]:
    """Median over the timed runs (the first is warm-up) of the summed ms per node kind."""
    per_run: dict[str, list[float]] = defaultdict(list)
    current: Counter = Counter()
    seen_runs = 0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            if seen_runs:
                for kind, us in current.items():
                    per_run[kind].append(us / 1000.0)
            seen_runs += 1
            current = Counter()
        elif event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            node = event["name"][: -len("_kernel_time")]
            current[kinds.get(node, event["args"].get("op_name", "?"))] += event.get("dur", 0)
    return {kind: float(np.median(v)) for kind, v in per_run.items()}


def format_profiles(profiles: list) -> str:
    """A table: node counts (optimised graph) and profiled median ms per node kind."""
    kinds = sorted({k for p in profiles for k in p.nodes} | {k for p in profiles for k in p.ms})
    wide = [max(12, len(p.name) + 4) for p in profiles]  # "segment@nchw ms" fits its column

    def row(label: str, cells) -> str:
        return f"{label:<24}" + "".join(
            f"{n:>{w}}{m:>{w + 2}}" for (n, m), w in zip(cells, wide, strict=True)
        )

    lines = [
        "ONNX Runtime CPU, optimised graphs (no suffix: nchwc = ORT_ENABLE_ALL; @nchw: "
        "ORT_ENABLE_EXTENDED); ms = profiled median",
        row("node kind", [(p.name + " n", p.name + " ms") for p in profiles]),
    ]
    for kind in kinds:
        lines.append(
            row(kind, [(p.nodes.get(kind, 0), f"{p.ms.get(kind, 0.0):.2f}") for p in profiles])
        )
    for label, attr in (
        ("conv + fused activation", "fused_activation"),
        ("conv + fused Add (Sum)", "fused_sum"),
    ):
        lines.append(row(label, [(getattr(p, attr), "") for p in profiles]))
    lines.append(row("total kernel ms", [("", f"{p.total_ms:.2f}") for p in profiles]))
    lines.append(row("conv GFLOP / frame", [(f"{p.gflop:.1f}", "") for p in profiles]))
    return "\n".join(lines)
