"""The network: causality, padding invariance, the temperature bound."""

from dataclasses import replace

import pytest
import torch

from pinnerformer.config import ModelConfig
from pinnerformer.model import PinnerFormer

CFG = ModelConfig(layers=2, hidden=16, heads=2, embedding=8, max_length=20, item_vector=6)


def random_inputs(b, length, seed=0, pad=True):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (b,), generator=g) if pad else torch.full((b,), length)
    real = torch.arange(length)[None, :] < lengths[:, None]
    x = [
        torch.randn(b, length, CFG.item_vector, generator=g),
        torch.randint(1, 3, (b, length), generator=g),
        torch.randint(1, 5, (b, length), generator=g),
        torch.randint(1, 6, (b, length), generator=g),
        torch.rand(b, length, CFG.time_dims, generator=g),
        torch.rand(b, length, 4, generator=g) * 10,
    ]
    x = [t * real.reshape(b, length, *([1] * (t.dim() - 2))).to(t.dtype) for t in x]
    return x, lengths


def model(cfg=CFG):
    torch.manual_seed(0)
    return PinnerFormer(cfg).eval()


def test_no_position_sees_later_actions():
    # Prepare: two sequences that agree on the first 5 positions and differ afterwards
    m = model()
    a, _ = random_inputs(1, 12, seed=1, pad=False)
    b, _ = random_inputs(1, 12, seed=2, pad=False)
    mixed = [torch.cat([ta[:, :5], tb[:, 5:]], dim=1) for ta, tb in zip(a, b)]
    # Act
    with torch.no_grad():
        ha = m.encode(*a)
        hm = m.encode(*mixed)
    # Assess: identical hidden states up to position 4, different at 5
    torch.testing.assert_close(ha[:, :5], hm[:, :5], rtol=0, atol=1e-6)
    assert (ha[:, 5] - hm[:, 5]).abs().max() > 1e-3


def test_embedding_is_unchanged_by_batch_padding():
    m = model()
    x, lengths = random_inputs(4, 9, seed=3)
    with torch.no_grad():
        alone = torch.cat([m(*[t[i : i + 1, : int(lengths[i])] for t in x], lengths[i : i + 1]) for i in range(4)])
        padded = [torch.cat([t, torch.zeros_like(t[:, :7])], dim=1) for t in x]  # 7 more padding positions
        batched = m(*padded, lengths)
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(batched.norm(dim=-1), torch.ones(4), rtol=0, atol=1e-5)


@pytest.mark.parametrize("skip", [False, True])
def test_embedding_is_the_output_at_the_most_recent_action(skip):
    m = model(replace(CFG, last_item_skip=skip))
    x, _ = random_inputs(1, 6, seed=4, pad=False)
    with torch.no_grad():
        hidden = m.encode(*x)
        full = m(*x, torch.tensor([6]))
        at3 = m(*x, torch.tensor([3]))
    torch.testing.assert_close(full[0], m.embed_hidden(hidden[0, 5], x[0][0, 5], x[1][0, 5]))
    torch.testing.assert_close(at3[0], m.embed_hidden(hidden[0, 2], x[0][0, 2], x[1][0, 2]))


def test_last_item_skip_leans_the_embedding_toward_the_last_item():
    # Prepare: the same weights with the skip's weight at 0 and at a large value
    m = model(replace(CFG, last_item_skip=True))
    x, lengths = random_inputs(3, 7, seed=5)
    rows = torch.arange(3)
    last = lengths - 1
    with torch.no_grad():
        item = m.embed_items(x[0][rows, last], x[1][rows, last])  # [3, D]
        m.skip_weight.fill_(0.0)
        plain = m(*x, lengths)
        m.skip_weight.fill_(100.0)
        leaning = m(*x, lengths)
        without = PinnerFormer(CFG).eval()
        without.load_state_dict({k: v for k, v in m.state_dict().items() if k != "skip_weight"})
        head_only = without(*x, lengths)
    # Assess: weight 0 is the model without the skip; a large weight is (nearly) the last item's embedding
    torch.testing.assert_close(plain, head_only)
    assert ((leaning * item).sum(-1) > 0.99).all()
    assert ((plain * item).sum(-1) < 0.99).all()


def test_temperature_never_drops_below_its_bound():
    m = model()
    with torch.no_grad():
        m.log_tau.fill_(-20.0)
    assert abs(float(m.temperature().detach()) - CFG.min_temperature) < 1e-9
