"""The norm modes `edgedg eval` scores: the runtime's, and the paper's TN baseline (torch-free)."""

from __future__ import annotations

from edgedg_runtime.names import NORM_MODES

# The paper's TN baseline (Tables 3 and 5): each shuffled stream is cut into batches of M test
# images, normalised with the statistics of their batch (`target` on N = M). Evaluation only: a
# camera delivers one frame at a time.
BATCH_TN = "tn-batch"
EVAL_MODES = (*NORM_MODES, BATCH_TN)
