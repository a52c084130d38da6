"""Training: seeded determinism, checkpoint/resume, every objective and sampler runs."""

import argparse
from dataclasses import replace

import pytest
import torch

from pinnerformer.config import OBJECTIVES, ModelConfig, TrainConfig
from pinnerformer.train import LAST_ITEM_SKIP, add_train_args, configs_from_args, train_model, validation_cadence


def run(tiny, steps, checkpoint=None, stop_at=None, model_cfg=None, **kw):
    ds, fcfg, mcfg, _ = tiny
    mcfg = model_cfg or mcfg
    kw.setdefault("pool", 2)
    cfg = TrainConfig(steps=steps, batch_size=6, random_negatives=32, warmup_steps=2, checkpoint_every=2, **kw)
    model, stats = train_model(
        ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, cfg, fcfg.max_length, checkpoint, progress=False, stop_at=stop_at
    )
    return model, stats


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_same_seed_same_model_and_other_seed_differs(tiny):
    a, _ = run(tiny, 4, seed=3)
    b, _ = run(tiny, 4, seed=3)
    c, _ = run(tiny, 4, seed=4)
    assert torch.equal(params(a), params(b))
    assert not torch.equal(params(a), params(c))


def test_resuming_from_a_checkpoint_continues_the_same_run(tiny, tmp_path):
    # Prepare: one uninterrupted run, and one interrupted after 2 of 4 steps
    straight, _ = run(tiny, 4, seed=1, pool=3)
    ckpt = tmp_path / "run.ckpt"
    run(tiny, 4, checkpoint=ckpt, seed=1, stop_at=2, pool=3)
    assert torch.load(ckpt, weights_only=False)["step"] == 2
    # Act
    resumed, stats = run(tiny, 4, checkpoint=ckpt, seed=1, pool=3)
    # Assess
    assert stats["steps"] == 4
    assert torch.equal(params(straight), params(resumed))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("negatives", ["random", "in_batch", "mixed"])
def test_every_objective_and_sampler_trains(tiny, objective, negatives):
    model, stats = run(tiny, 2, objective=objective, negatives=negatives)
    assert stats["steps"] == 2 and stats["final_loss"] > 0
    assert torch.isfinite(params(model)).all()


def test_the_last_item_skip_weight_is_learned(tiny):
    _, _, mcfg, _ = tiny
    model, stats = run(tiny, 3, seed=2, model_cfg=replace(mcfg, last_item_skip=True))
    assert stats["steps"] == 3
    assert model.skip_weight.item() != pytest.approx(mcfg.last_item_skip_init, abs=1e-6)


def test_the_train_cli_leans_toward_the_last_item_unless_told_not_to():
    p = argparse.ArgumentParser()
    add_train_args(p, last_item_skip=LAST_ITEM_SKIP)
    _, default, _ = configs_from_args(p.parse_args([]), 0)
    _, off, _ = configs_from_args(p.parse_args(["--no-last-item-skip"]), 0)
    assert default.last_item_skip is LAST_ITEM_SKIP is True
    assert off.last_item_skip is False
    assert ModelConfig().last_item_skip is False  # the library's model stays the paper's


def test_validation_runs_once_per_pass_over_the_users_within_bounds():
    assert validation_cadence(6000, 64) == 94  # ceil(6000 / 64)
    assert validation_cadence(610, 64) == 50  # a pass of 10 steps: never inside the 50 warm-up steps
    assert validation_cadence(150_000, 64) == 200
