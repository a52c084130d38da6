"""Embedding with a model: user sequences at cutoffs, and every corpus item through the item tower."""

from __future__ import annotations

import numpy as np
import torch

from .features import EventStore, featurize
from .model import PinnerFormer


class Corpus:
    """Every corpus item's pretrained vector (zeros when it has none) and `item_id` code, on the device."""

    def __init__(self, store: EventStore, device: torch.device) -> None:
        self.size = store.num_corpus
        self.vectors = torch.from_numpy(np.ascontiguousarray(store.vectors, dtype=np.float32)).to(device)  # [N, Ev]
        self.codes = torch.from_numpy(np.asarray(store.corpus_codes, dtype=np.int64)).to(device)  # [N]

    def embed(self, model: PinnerFormer, items: torch.Tensor) -> torch.Tensor:
        return model.embed_items(self.vectors[items], self.codes[items])  # [n, D]


@torch.no_grad()
def item_embeddings(model: PinnerFormer, store: EventStore, batch_size: int = 8192) -> np.ndarray:
    """The item tower over every corpus item, [N, D]."""
    device = next(model.parameters()).device
    corpus = Corpus(store, device)
    parts = []
    for i in range(0, corpus.size, batch_size):
        items = torch.arange(i, min(i + batch_size, corpus.size), device=device)
        parts.append(corpus.embed(model, items).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, model.cfg.embedding), np.float32)


@torch.no_grad()
def embed_sequences(
    model: PinnerFormer,
    store: EventStore,
    users: np.ndarray,
    cutoffs_ms: np.ndarray,
    max_length: int,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings [n, D] of (user, cutoff) requests from events before each cutoff, and a mask of
    requests that had >= 1 event (others get zeros)."""
    model.eval()
    device = next(model.parameters()).device
    n = len(users)
    out = np.zeros((n, model.cfg.embedding), dtype=np.float32)
    spans = []
    for u, c in zip(users, cutoffs_ms):
        end = store.end_before(int(u), int(c))
        spans.append(store.window(int(u), end, max_length))
    lengths = np.array([e - s for s, e in spans], dtype=np.int64)
    valid = lengths > 0
    order = np.flatnonzero(valid)
    order = order[np.argsort(lengths[order], kind="stable")]  # similar lengths share a batch
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        x = featurize(store, [spans[j] for j in idx], np.asarray(cutoffs_ms)[idx])
        t = {k: torch.from_numpy(v).to(device) for k, v in x.items()}
        emb = model(t["item_vec"], t["item_id"], t["action"], t["surface"], t["time_frac"], t["scalars"], t["lengths"])
        out[idx] = emb.float().cpu().numpy()
    return out, valid
