"""Evaluation of the test-time modes on target datasets (`edgedg eval`) and the paper's ablation.

``metrics`` (numpy) scores predictions from a dataset-level confusion matrix; ``stream`` builds the
mixed, shuffled target stream; ``runner`` runs the PyTorch reference over it; ``report`` prints,
saves and charts the results. Import the submodules directly: this package imports nothing heavy.
"""
