"""Sampled softmax with logQ correction (paper section 3.3) and the streaming item frequency.

Every candidate's logit is s(u, v) / tau - log Q(v), where Q(v) is the expected number of
times item v is among the batch's candidates under the negative sampler in use:
  in-batch: C * p(v)     (C in-batch candidates drawn from the positives, p from the stream)
  random:   R / N        (R uniform draws from the N-item corpus)
  mixed:    C * p(v) + R / N
p(v) is estimated from exact streaming counts of the positives seen so far (the corpus is
known up front, so exact counts replace the paper's count-min sketch), with add-one smoothing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ItemFrequency(nn.Module):
    """Streaming estimate of how often each corpus item is a positive in the training stream."""

    def __init__(self, num_items: int) -> None:
        super().__init__()
        self.register_buffer("counts", torch.zeros(num_items, dtype=torch.float64))
        self.register_buffer("total", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, items: Tensor) -> None:
        self.counts.index_add_(0, items, torch.ones_like(items, dtype=torch.float64))
        self.total += items.numel()

    def prob(self, items: Tensor) -> Tensor:
        return (self.counts[items] + 1.0) / (self.total + self.counts.numel())


def log_q(
    freq: ItemFrequency, items: Tensor, negatives: str, in_batch: int, random: int
) -> Tensor:
    """log Q(v) for candidate items under the sampler (`negatives` in random/in_batch/mixed)."""
    n = freq.counts.numel()
    q = torch.zeros(items.shape, dtype=torch.float64, device=items.device)
    if negatives in ("in_batch", "mixed"):
        q = q + in_batch * freq.prob(items)
    if negatives in ("random", "mixed"):
        q = q + random / n
    return torch.log(q).float()


def sampled_softmax_loss(
    query: Tensor,
    positive: Tensor,
    positive_item: Tensor,
    query_user: Tensor,
    negative: Tensor,
    negative_item: Tensor,
    negative_user: Tensor,
    temperature: Tensor,
    weight: Tensor,
    positive_logq: Tensor | None = None,
    negative_logq: Tensor | None = None,
) -> Tensor:
    """Weighted mean over pairs of -log softmax(positive | positive + negatives).

    query [N, D] user embeddings (one per (position, positive) pair), positive [N, D] their
    positive items' embeddings, negative [C, D] candidate embeddings. A candidate is masked for
    a pair when it is the pair's own positive item or belongs to the same user
    (`negative_user`, -1 for random negatives): a user's own positives are never negatives.
    weight [N]: per-pair weights (each user gets equal total weight).
    """
    # The [N, C] logits are the loss's largest tensor: written once and updated in place (addmm,
    # masked_fill_), with the positive joined by logaddexp rather than a concatenated copy.
    inv_temperature = 1.0 / temperature
    pos_logit = (query * positive).sum(-1) * inv_temperature  # [N]
    if positive_logq is not None:
        pos_logit = pos_logit - positive_logq
    scaled = query * inv_temperature  # [N, D]
    if negative_logq is not None:
        neg_logit = torch.addmm(-negative_logq[None, :], scaled, negative.T)  # [N, C]
    else:
        neg_logit = scaled @ negative.T  # [N, C]
    own = (negative_item[None, :] == positive_item[:, None]).logical_or_(
        negative_user[None, :] == query_user[:, None]
    )  # [N, C]
    neg_logit = neg_logit.masked_fill_(own, float("-inf"))
    loss = torch.logaddexp(pos_logit, torch.logsumexp(neg_logit, dim=1)) - pos_logit  # [N]
    return (loss * weight).sum() / weight.sum()
