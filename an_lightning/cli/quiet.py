"""Warnings the commands silence, only while they run (importing the package changes nothing)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Lightning advice that does not apply here: the post-step state is what GAN checkpoints
# should hold, and the pytree deprecation is Lightning's own. The suite's DataModules
# resume mid-epoch exactly (data.resume): their loaders continue from the restored loop
# counters instead of Lightning's stateful-loader protocol. ``args=`` is how the commands
# (and sweep checks) hand LightningCLI their argument lists.
FIT_NOISE = (
    "Using ModelCheckpoint with manual optimization",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    "You're resuming from a checkpoint that ended before",
    "LightningCLI's args parameter is intended",
)
# KID keeps every feature by design; the counts evaluate uses are bounded by --num-samples.
EVALUATE_NOISE = ("Metric `Kernel Inception Distance` will save",)
# The sweeps package's pydantic models use v1 option names: noise on every import.
SWEEP_NOISE = ("Valid config keys have changed in V2",)


@contextmanager
def ignored_warnings(*messages: str) -> Iterator[None]:
    """Ignore warnings whose message matches one of ``messages`` (regexes) in the block;
    the process's filters are restored after it."""
    with warnings.catch_warnings():
        for message in messages:
            warnings.filterwarnings("ignore", message=message)
        yield
