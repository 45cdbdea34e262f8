"""Offline side of W&B sweeps: validate, expand a grid, build each run's command."""
