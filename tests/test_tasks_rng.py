"""Per-rank random streams: seeded per rank and stream, restored from checkpoint states."""

import pytest
import torch

from an_lightning.tasks.rng import RankGenerators, gather_states, restore_states


def draws(gens: RankGenerators) -> list[list[float]]:
    return [torch.rand(3, generator=g).tolist() for g in gens.streams().values()]


def test_streams_differ_by_rank_and_by_use():
    cpu = torch.device("cpu")
    a, b = RankGenerators(0, 0, cpu), RankGenerators(0, 1, cpu)
    first = draws(a)
    assert len({tuple(d) for d in first}) == 3  # latent, sampling, augment: 3 streams
    assert first != draws(b)
    assert draws(RankGenerators(0, 0, cpu)) == first  # the same seed and rank: the same
    assert draws(RankGenerators(1, 0, cpu))[0] == draws(RankGenerators(0, 1, cpu))[0]


def test_load_continues_the_saved_streams():
    gens = RankGenerators(7, 0, torch.device("cpu"))
    draws(gens)
    state = gens.state()
    expected = draws(gens)
    fresh = RankGenerators(7, 0, torch.device("cpu"))
    fresh.load(state)
    assert draws(fresh) == expected


def test_a_stream_missing_from_the_state_keeps_its_seed():
    gens = RankGenerators(7, 0, torch.device("cpu"))
    draws(gens)
    old = {k: v for k, v in gens.state().items() if k != "augment"}  # an older checkpoint
    resumed = RankGenerators(7, 0, torch.device("cpu"))
    resumed.load(old)
    assert draws(resumed)[2] == draws(RankGenerators(7, 0, torch.device("cpu")))[2]


class OneRank:
    """What ``gather_states`` uses of a LightningModule, in a single process."""

    device = torch.device("cpu")

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor  # one process: no world dimension


def test_gathered_states_restore_identical_draws():
    gens = RankGenerators(3, 0, torch.device("cpu"))
    draws(gens)
    stacked = gather_states(OneRank(), gens)
    assert all(v.dim() == 2 and v.shape[0] == 1 for v in stacked.values())
    expected = draws(gens)
    fresh = RankGenerators(3, 0, torch.device("cpu"))
    assert restore_states(stacked, rank=0, world=1, gens=fresh) is True
    assert draws(fresh) == expected


def test_a_changed_world_size_keeps_the_fresh_seeds():
    gens = RankGenerators(3, 0, torch.device("cpu"))
    draws(gens)
    stacked = {k: v[None] for k, v in gens.state().items()}
    fresh = RankGenerators(3, 1, torch.device("cpu"))
    with pytest.warns(UserWarning, match="random states of 1 ranks, this run has 2"):
        assert restore_states(stacked, rank=1, world=2, gens=fresh) is False
    assert draws(fresh) == draws(RankGenerators(3, 1, torch.device("cpu")))
