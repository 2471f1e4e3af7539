"""AGG and MLDG training over several source domains (single process or torchrun DDP).

`train(TrainConfig)` is what `edgedg train` calls; `meta_grads` is the MLDG meta-gradient.
"""

from edgedg.train.config import DataOptions, MethodOptions, ModelOptions, OptimOptions, TrainConfig
from edgedg.train.data import TrainData, data_from_config, memory_data
from edgedg.train.loop import TrainResult, train
from edgedg.train.mldg import meta_grads, meta_split

__all__ = [
    "DataOptions",
    "MethodOptions",
    "ModelOptions",
    "OptimOptions",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "data_from_config",
    "memory_data",
    "meta_grads",
    "meta_split",
    "train",
]
