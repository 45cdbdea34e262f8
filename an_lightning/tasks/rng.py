"""Per-rank random generators that survive checkpoints.

Every rank draws its own latents, labels and AN sample positions from generators
seeded with ``seed + rank``; their states go into the checkpoint (gathered from
all ranks) so a resumed run continues the same random streams.
"""

from __future__ import annotations

import torch
from lightning.pytorch.utilities import rank_zero_warn


class RankGenerators:
    """``latent`` on the training device (z, labels), ``sampling`` on the CPU (AN)."""

    def __init__(self, seed: int, rank: int, device: torch.device) -> None:
        self.latent = torch.Generator(device=device).manual_seed(seed + rank)
        # A different stream than the latents, so changing one use leaves the other.
        self.sampling = torch.Generator().manual_seed(seed + rank + 1_000_003)

    def state(self) -> dict[str, torch.Tensor]:
        return {"latent": self.latent.get_state(), "sampling": self.sampling.get_state()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        self.latent.set_state(state["latent"].cpu())
        self.sampling.set_state(state["sampling"].cpu())


def gather_states(module, generators: RankGenerators) -> dict[str, torch.Tensor]:
    """Every rank's generator states, stacked (world, bytes); a collective call."""
    out = {}
    for name, state in generators.state().items():
        gathered = module.all_gather(state.to(module.device))
        out[name] = (gathered if gathered.dim() == 2 else gathered[None]).cpu()
    return out


def restore_states(stacked: dict[str, torch.Tensor], rank: int, world: int, gens) -> bool:
    """Load this rank's row; a changed world size keeps the fresh seeds (with a warning)."""
    saved_world = next(iter(stacked.values())).shape[0]
    if saved_world != world:
        rank_zero_warn(
            f"checkpoint holds random states of {saved_world} ranks, this run has {world}: "
            "latents and AN samples restart from seed + rank"
        )
        return False
    gens.load({k: v[rank] for k, v in stacked.items()})
    return True
