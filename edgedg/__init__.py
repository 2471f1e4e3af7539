"""edgedg: domain-generalizable semantic segmentation, from MLDG training to the edge.

Importing this package loads no torch, cv2 or tensorrt; the heavy modules import them on use.
"""

from edgedg_runtime import __version__
from edgedg_runtime.errors import EdgeDGError

__all__ = ["EdgeDGError", "__version__"]
