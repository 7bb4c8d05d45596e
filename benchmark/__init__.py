"""Model-optimization benchmark: one Hydra job per (model, backend, precision, batch size, device) cell."""

__version__ = "0.1.0"
