"""The norm modes `edgedg eval` scores (the runtime's, and the paper's TN baseline) and the seeds of
its stream orders: torch-free, for the command line's choices."""

from __future__ import annotations

from edgedg_runtime.names import NORM_MODES

# The paper's TN baseline (Tables 3 and 5): each shuffled stream is cut into batches of M test
# images, normalised with the statistics of their batch (`target` on N = M). Evaluation only: a
# camera delivers one frame at a time.
BATCH_TN = "tn-batch"
EVAL_MODES = (*NORM_MODES, BATCH_TN)
# The paper's seeds of the stream orders: a stochastic mode runs once per seed (--runs of them).
SEEDS = (12, 123, 1234, 12345, 123456)
