"""Per-rank random generators that survive checkpoints.

Every rank draws its own latents, labels, AN sample positions and DiffAugment
parameters from generators seeded from ``seed + rank``; their states go into the
checkpoint (gathered from all ranks) so a resumed run continues the same random streams.
"""

from __future__ import annotations

import torch
from lightning.pytorch.utilities import rank_zero_warn

# Each stream its own seed, so drawing more from one use leaves the others unchanged.
SAMPLING_OFFSET = 1_000_003
AUGMENT_OFFSET = 2_000_003


class RankGenerators:
    """``latent`` on the training device (z, labels); ``sampling`` (AN) and ``augment``
    (DiffAugment) on the CPU."""

    def __init__(self, seed: int, rank: int, device: torch.device) -> None:
        self.latent = torch.Generator(device=device).manual_seed(seed + rank)
        self.sampling = torch.Generator().manual_seed(seed + rank + SAMPLING_OFFSET)
        self.augment = torch.Generator().manual_seed(seed + rank + AUGMENT_OFFSET)

    def streams(self) -> dict[str, torch.Generator]:
        return {"latent": self.latent, "sampling": self.sampling, "augment": self.augment}

    def state(self) -> dict[str, torch.Tensor]:
        return {name: g.get_state() for name, g in self.streams().items()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Set the streams ``state`` holds; a stream it lacks keeps its fresh seed.

        Checkpoints written before the ``augment`` stream existed lack it. That is silent:
        such runs drew DiffAugment from torch's global RNG, which no checkpoint restored,
        so a fresh seed loses nothing that was reproducible (and runs without DiffAugment
        never use the stream).
        """
        for name, g in self.streams().items():
            if name in state:
                g.set_state(state[name].cpu())


def gather_states(module, generators: RankGenerators) -> dict[str, torch.Tensor]:
    """Every rank's generator states, stacked (world, bytes); a collective call."""
    out = {}
    for name, state in generators.state().items():
        gathered = module.all_gather(state.to(module.device))
        out[name] = (gathered if gathered.dim() == 2 else gathered[None]).cpu()
    return out


def restore_states(stacked: dict[str, torch.Tensor], rank: int, world: int, gens) -> bool:
    """Load this rank's row; a changed world size keeps the fresh seeds (with a warning).

    Streams missing from ``stacked`` (older checkpoints) keep their seeds, see ``load``.
    """
    saved_world = next(iter(stacked.values())).shape[0]
    if saved_world != world:
        rank_zero_warn(
            f"checkpoint holds random states of {saved_world} ranks, this run has {world}: "
            "latents, AN samples and DiffAugment restart from seed + rank"
        )
        return False
    gens.load({k: v[rank] for k, v in stacked.items()})
    return True
