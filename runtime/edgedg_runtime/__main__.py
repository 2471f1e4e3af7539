"""`python -m edgedg_runtime`: the vehicle's command line (needs the `cli` extra)."""

from __future__ import annotations

from edgedg_runtime.cli import main

if __name__ == "__main__":
    main()
