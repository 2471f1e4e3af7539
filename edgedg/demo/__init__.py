"""`edgedg demo`: the whole pipeline on the built-in synthetic domains, for a newcomer.

    from edgedg.demo import DemoConfig, run_demo
    report = run_demo(DemoConfig.quick("demo-out"))

Synthetic sources (sunny, overcast, cartoon) train an AGG and an MLDG model; both are exported
and a video of the unseen ``night`` domain streams through the ONNX Runtime backend in the
``source``, ``target`` and ``sib`` norm modes. The output folder gets an overlay video, a
side-by-side figure, ``report.json`` and ``summary.md``. Importing this package loads no torch.
"""

from edgedg.demo.config import DemoConfig
from edgedg.demo.pipeline import STEPS, run_demo

__all__ = ["STEPS", "DemoConfig", "run_demo"]
