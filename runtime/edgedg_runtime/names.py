"""The names the runtime, its library callers and the CLI's choices share, spelled once here.

Standard library only: the command line builds its ``click.Choice`` options from these at
import, and `edgedg --help` must stay fast.
"""

from __future__ import annotations

# Norm modes of the runtime (DESIGN section 3): the bank modes keep a style bank across frames.
BANK_MODES = ("sib", "qib", "sib-exact")
NORM_MODES = ("source", "target", *BANK_MODES)
# `edgedg bench` also times the folded graph without statistics, the baseline of its ratios.
PLAIN = "plain"
BENCH_MODES = (PLAIN, *NORM_MODES)

# Inference backends; ``auto`` picks TensorRT when it is usable, else ONNX Runtime.
BACKENDS = ("auto", "ort", "trt")

# ONNX Runtime CPU layouts of a graph: ORT's layout optimisations on (nchwc) or off (nchw).
ORT_LAYOUTS = ("nchwc", "nchw")
# The choices of an --ort-layout option: ``auto`` measures both once and caches the faster.
ORT_LAYOUT_CHOICES = ("auto", *ORT_LAYOUTS)

# The graphs of a model directory, in the contract's order; each is stored as ``<name>.onnx``.
GRAPH_NAMES = ("style", "segment", "plain")

# Graph precisions: fp16 / int8 run the graphs' variants of that name (DESIGN section 2).
PRECISIONS = ("fp32", "fp16", "int8")

__all__ = [
    "BACKENDS",
    "BANK_MODES",
    "BENCH_MODES",
    "GRAPH_NAMES",
    "NORM_MODES",
    "ORT_LAYOUTS",
    "ORT_LAYOUT_CHOICES",
    "PLAIN",
    "PRECISIONS",
]
