"""The item tower's inputs for every corpus item, and the item embeddings it produces."""

from __future__ import annotations

import numpy as np
import torch

from .features import EventStore
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
