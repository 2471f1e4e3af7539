"""The backend interface: one small lifecycle shared by ONNX Runtime and TensorRT.

A backend is opened once (session or engine, buffers, specs), then called per frame with
``infer(feeds) -> outputs``. Input and output specs are read and validated at open, never per
frame, so the per-frame path stays a dictionary in and a dictionary out. ``infer`` records how
long each call took (``last_ms``), as Polygraphy's runners do, so callers need no timers.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Union

import numpy as np

from edgedg_runtime.errors import ContractError

# One dimension of a tensor as a backend reports it: an int, or None / a symbolic name when dynamic
BackendDim = Union[int, str, None]


@dataclass(frozen=True)
class TensorSpec:
    """Name, numpy dtype and shape of one graph input or output; dynamic dims are None or a str."""

    name: str
    dtype: np.dtype
    shape: tuple[BackendDim, ...]

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """True when a concrete ``shape`` fits this spec (same rank, fixed dims equal)."""
        if len(shape) != len(self.shape):
            return False
        return all(not isinstance(d, int) or d < 0 or d == s for d, s in zip(self.shape, shape))


class Backend(abc.ABC):
    """Base of every inference backend: a context manager with typed specs and ``infer``.

    Subclasses implement ``_open`` (returning the input and output specs), ``_close`` and
    ``_infer``. ``open`` is idempotent; ``close`` releases everything ``_open`` acquired.
    """

    def __init__(self, path: str):
        self.path = str(path)
        self._inputs: tuple[TensorSpec, ...] | None = None
        self._outputs: tuple[TensorSpec, ...] | None = None
        self.last_ms = 0.0  # wall-clock ms of the latest infer() call

    # lifecycle -----------------------------------------------------------------------------
    def open(self) -> Backend:
        if self._inputs is None:
            inputs, outputs = self._open()
            self._inputs, self._outputs = tuple(inputs), tuple(outputs)
        return self

    def close(self) -> None:
        if self._inputs is not None:
            self._close()
        self._inputs = self._outputs = None

    def __enter__(self) -> Backend:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._inputs is not None

    # specs ---------------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._specs(self._inputs)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._specs(self._outputs)

    def _specs(self, specs: tuple[TensorSpec, ...] | None) -> tuple[TensorSpec, ...]:
        if specs is None:
            raise RuntimeError(f"{type(self).__name__} is not open: call open() or use `with`")
        return specs

    def expect(self, inputs: dict[str, str], outputs: dict[str, str]) -> None:
        """Check once (at open) that the graph has these named inputs/outputs with these dtypes.

        ``inputs``/``outputs`` map a tensor name to a numpy dtype name. Extra graph outputs (e.g.
        ``logits``) are allowed; missing names or other dtypes raise a ContractError.
        """
        for kind, want, have in (
            ("input", inputs, self.inputs),
            ("output", outputs, self.outputs),
        ):
            specs = {s.name: s for s in have}
            for name, dtype in want.items():
                if name not in specs:
                    raise ContractError(
                        f"{self.path}: the graph has no {kind} '{name}' (it has "
                        f"{sorted(specs)}); re-export the model directory with `edgedg export`"
                    )
                if specs[name].dtype != np.dtype(dtype):
                    raise ContractError(
                        f"{self.path}: {kind} '{name}' is {specs[name].dtype}, the contract says "
                        f"{np.dtype(dtype)}; re-export the model directory with `edgedg export`"
                    )

    # per frame -----------------------------------------------------------------------------
    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph. ``feeds`` maps every input name to an array of its spec's dtype.

        Returns every output by name. Arrays returned may be reused by the next call: copy them
        to keep them (the Segmenter copies what it keeps). The call's time, in ms, is kept in
        ``last_ms`` (results ready on the host: TensorRT synchronises its stream before returning).
        """
        start = time.perf_counter()
        outputs = self._infer(feeds)
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return outputs

    @abc.abstractmethod
    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph once (see :meth:`infer`)."""

    @abc.abstractmethod
    def _open(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        """Acquire the session/engine and return (input specs, output specs)."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release what ``_open`` acquired."""
