"""Item-id embeddings that start from the event log's co-occurrence instead of noise.

Without pretrained item vectors, an id embedding only learns from the pairs the loss names, and
most items are targets a handful of times. Items that appear near each other in users' sequences
(within `window` events, every action) carry the same signal the co-occurrence baseline ranks
with; a truncated SVD of their positive pointwise mutual information (PPMI, the classic
word-vector recipe) turns it into dense vectors, which seed the id embedding. Training then moves
them like any other weight, so nothing changes at export or inference.
"""

from __future__ import annotations

import numpy as np
import torch

from .features import FIRST_ID, EventStore

WINDOW = 5  # a pair: item b within this many events of item a in one user's sequence
CONTEXT_SMOOTHING = 0.75  # context counts ** 0.75, as in word2vec's negative-sampling distribution
MAX_PAIRS = 30_000_000  # pairs counted at most (a uniform sample of event positions beyond it)
SVD_ITERATIONS = 4


def cooccurrence_vectors(
    store: EventStore,
    users: np.ndarray,
    label_end_ms: int | np.ndarray,
    dim: int,
    window: int = WINDOW,
    seed: int = 0,
) -> np.ndarray:
    """[num_corpus, dim] float32: one row per corpus item, L2-normalised (zeros for an item that
    never co-occurs). Counts only `users`' events before their label end, so the evaluation's
    targets never leak into the vectors."""
    n = store.num_corpus
    out = np.zeros((n, dim), dtype=np.float32)
    if n < 2 or dim < 1:
        return out
    label_end = np.broadcast_to(np.asarray(label_end_ms, dtype=np.int64), (store.num_users,))
    member = np.zeros(store.num_users, dtype=bool)
    member[users] = True
    ok = (store.item_index >= 0) & member[store.event_user] & (store.ts < label_end[store.event_user])
    pair_a, pair_b, pair_w = [], [], []
    rng = np.random.default_rng(seed)
    per_offset = MAX_PAIRS // (2 * window)
    for d, a, b in store.nearby_pairs(ok, window, per_offset, rng):
        pair_a += [a, b]  # symmetric: b near a and a near b
        pair_b += [b, a]
        pair_w.append(np.full(2 * len(a), 1.0 / d))  # nearer pairs count more
    if not pair_a:
        return out
    keys, inverse = np.unique(np.concatenate(pair_a) * n + np.concatenate(pair_b), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate(pair_w))
    rows, cols = keys // n, keys % n
    row_total = np.bincount(rows, weights=counts, minlength=n)
    context = np.bincount(cols, weights=counts, minlength=n) ** CONTEXT_SMOOTHING
    total = counts.sum()
    context *= total / max(context.sum(), 1e-12)
    pmi = np.log(counts * total / np.maximum(row_total[rows] * context[cols], 1e-12))
    keep = pmi > 0
    if not keep.any():
        return out
    matrix = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows[keep], cols[keep]])),
        torch.from_numpy(pmi[keep].astype(np.float32)),
        (n, n),
        check_invariants=True,
    ).coalesce()
    rank = min(dim, n - 1)
    with torch.random.fork_rng(devices=[]):  # the SVD's random start leaves the caller's stream alone
        torch.manual_seed(seed)
        u, s, _ = torch.svd_lowrank(matrix, q=min(rank + 8, n), niter=SVD_ITERATIONS)
    vectors = (u[:, :rank] * s[:rank].sqrt()).numpy()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out[:, :rank] = np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0)
    return out


@torch.no_grad()
def init_id_embeddings(embedding: torch.nn.Embedding, codes: np.ndarray, vectors: np.ndarray, vocab_size: int) -> int:
    """Copies `vectors[i]` into row `codes[i]` of `embedding` (scaled to the rows' default norm,
    sqrt(width)) for items with a vocabulary code of their own (2 .. 1 + vocab_size); shared rows
    (out-of-vocabulary, hash buckets) and items without a vector keep their random start.
    Returns the rows set."""
    codes = np.asarray(codes, dtype=np.int64)
    has = (np.linalg.norm(vectors, axis=1) > 0) & (codes >= FIRST_ID) & (codes < FIRST_ID + vocab_size)
    if not has.any():
        return 0
    rows = torch.from_numpy(codes[has]).to(embedding.weight.device)
    width = embedding.weight.shape[1]
    values = torch.from_numpy(vectors[has, :width] * np.sqrt(width)).to(embedding.weight)
    embedding.weight[rows] = values
    return int(has.sum())
