"""Sampled softmax with logQ: a hand-computed case, masking, and what the correction does."""

import math

import torch

from pinnerformer.losses import ItemFrequency, log_q, sampled_softmax_loss


def unit(*v):
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def test_loss_matches_a_hand_computed_case():
    # Prepare: one query, its positive, two negatives; tau 0.5; logQ on the positive and negatives
    q = unit(1.0, 0.0)[None]
    pos = unit(1.0, 1.0)[None]
    neg = torch.stack([unit(0.0, 1.0), unit(-1.0, 0.0)])
    tau = torch.tensor(0.5)
    lq_pos, lq_neg = torch.tensor([math.log(0.2)]), torch.tensor([math.log(0.5), math.log(0.1)])
    # Act
    loss = sampled_softmax_loss(
        q, pos, torch.tensor([7]), torch.tensor([0]), neg, torch.tensor([8, 9]), torch.tensor([-1, -1]),
        tau, torch.ones(1), lq_pos, lq_neg,
    )
    # Assess: logits s/tau - logQ
    lp = math.sqrt(0.5) / 0.5 - math.log(0.2)
    ln = [0.0 / 0.5 - math.log(0.5), -1.0 / 0.5 - math.log(0.1)]
    expected = -lp + math.log(math.exp(lp) + sum(math.exp(x) for x in ln))
    assert math.isclose(float(loss), expected, rel_tol=1e-5)


def test_own_positives_and_the_positive_item_are_not_negatives():
    q = torch.stack([unit(1.0, 0.0), unit(0.0, 1.0)])
    pos = torch.stack([unit(1.0, 0.2), unit(0.1, 1.0)])
    # candidates: item 5 of user 0 (own), item 6 of user 1, a random copy of item 5
    neg = torch.stack([unit(1.0, 0.0), unit(0.0, 1.0), unit(1.0, 0.2)])
    common = dict(temperature=torch.tensor(0.1), weight=torch.ones(2))
    loss = sampled_softmax_loss(
        q[:1], pos[:1], torch.tensor([5]), torch.tensor([0]), neg, torch.tensor([4, 6, 5]), torch.tensor([0, 1, -1]), **common
    )
    only_other = sampled_softmax_loss(
        q[:1], pos[:1], torch.tensor([5]), torch.tensor([0]), neg[1:2], torch.tensor([6]), torch.tensor([1]), **common
    )
    torch.testing.assert_close(loss, only_other)


def test_logq_makes_a_candidate_sampled_k_times_count_once():
    # With Q = expected count, k copies of a negative with logQ = log k weigh like one copy
    # without correction: the correction undoes the sampler's preference for frequent items.
    q, pos = unit(1.0, 0.3)[None], unit(1.0, 0.0)[None]
    popular, rare = unit(0.8, 1.0), unit(-0.2, 1.0)
    args = dict(positive_item=torch.tensor([0]), query_user=torch.tensor([0]), temperature=torch.tensor(0.2), weight=torch.ones(1))
    k = 5
    repeated = torch.stack([popular] * k + [rare])
    items = torch.tensor([1] * k + [2])
    users = torch.tensor([1] * k + [2])
    with_logq = sampled_softmax_loss(
        q, pos, negative=repeated, negative_item=items, negative_user=users,
        positive_logq=torch.tensor([0.0]), negative_logq=torch.tensor([math.log(k)] * k + [0.0]), **args,
    )
    once = sampled_softmax_loss(
        q, pos, negative=torch.stack([popular, rare]), negative_item=torch.tensor([1, 2]), negative_user=torch.tensor([1, 2]), **args
    )
    without = sampled_softmax_loss(q, pos, negative=repeated, negative_item=items, negative_user=users, **args)
    torch.testing.assert_close(with_logq, once)
    assert float(without) > float(once) + 0.1  # uncorrected, the popular item is over-penalised


def test_log_q_follows_the_streaming_counts_and_the_sampler():
    freq = ItemFrequency(4)
    freq.update(torch.tensor([0, 0, 0, 1]))
    # p = (count + 1) / (total + N) = [4/8, 2/8, 1/8, 1/8]
    items = torch.tensor([0, 1, 2])
    torch.testing.assert_close(log_q(freq, items, "in_batch", 10, 0), torch.log(torch.tensor([5.0, 2.5, 1.25])))
    torch.testing.assert_close(log_q(freq, items, "random", 10, 8), torch.log(torch.tensor([2.0, 2.0, 2.0])))
    torch.testing.assert_close(log_q(freq, items, "mixed", 10, 8), torch.log(torch.tensor([7.0, 4.5, 3.25])))


def test_a_pair_whose_every_candidate_is_masked_adds_zero_loss_and_finite_gradients():
    # user 0's only candidates are its own positives; user 1 has one foreign candidate
    q = torch.stack([unit(1.0, 0.0), unit(0.0, 1.0)]).requires_grad_()
    pos = torch.stack([unit(1.0, 0.2), unit(0.1, 1.0)])
    neg = torch.stack([unit(1.0, 0.0), unit(0.0, 1.0)]).requires_grad_()
    tau = torch.tensor(0.1, requires_grad=True)
    loss = sampled_softmax_loss(
        q, pos, torch.tensor([5, 6]), torch.tensor([0, 1]), neg, torch.tensor([5, 7]), torch.tensor([0, 0]),
        tau, torch.tensor([1.0, 0.0]), torch.zeros(2), torch.zeros(2),
    )
    loss.backward()
    assert float(loss) == 0.0
    assert all(torch.isfinite(g).all() for g in (q.grad, neg.grad, tau.grad))
