"""`python -m edgedg` (and `torchrun -m edgedg`) runs the CLI."""

from edgedg.cli import main

if __name__ == "__main__":
    main()
