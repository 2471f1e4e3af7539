"""Click parameter types shared by the command lines (edgedg's, and any the runtime gets).

Imported by command-line code only: `import edgedg_runtime` never loads click.
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloat(click.FloatRange):
    """A float option that refuses nan and +-inf as a usage error (exit 2), within optional
    bounds: click.FloatRange alone lets nan through any bound, since every comparison with nan
    is false."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
