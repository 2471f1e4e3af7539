"""Evaluation of the test-time modes on target datasets (`edgedg eval`) and the paper's ablation.

``stream`` builds the mixed, shuffled target stream; ``runner`` runs the PyTorch reference over it
and scores it with `edgedg.metrics` (a dataset-level confusion matrix); ``report`` prints, saves
and charts the results. Import the submodules directly: this package imports nothing heavy.
"""
