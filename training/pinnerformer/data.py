"""Training examples: (user, cutoff) sequences and their (position, positive item) pairs.

A training example picks a user uniformly, then a cutoff: the end of the day of one of the
user's events (as at daily inference), or the user's label end when that comes first. The
sequence is the user's last M events before the cutoff. Labels come only from events before the
user's label end (dataset.py), and only corpus items can be labels. Per objective:
  next_action       the last position -> the first positive after the cutoff (within K days)
  sasrec            every position -> the next positive after it
  all_action        the last position -> up to 32 positives sampled from (cutoff, cutoff + K]
  dense_all_action  up to P sampled positions -> one random positive from their own next K days
                    (with `next_positive_share` > 0, also the position's next positive, weighted by it)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .config import DAY_MS, TrainConfig
from .features import EventStore, featurize


def is_eval_user(user_id: str, eval_percent: int) -> bool:
    """Stable user split: evaluation users are disjoint from training users."""
    return zlib.crc32(user_id.encode("utf-8")) % 100 < eval_percent


@dataclass
class Batch:
    inputs: dict[str, np.ndarray]  # model inputs, [B, L, ...]
    query_row: np.ndarray  # [N] batch row of each pair
    query_pos: np.ndarray  # [N] position (within the row) whose embedding is the query
    positive_item: np.ndarray  # [N] corpus index of the pair's positive
    weight: np.ndarray  # [N] each user (row) weighs 1 in total


class ExampleSampler:
    def __init__(
        self,
        store: EventStore,
        users: np.ndarray,
        label_end_ms: int | np.ndarray,
        cfg: TrainConfig,
        max_length: int,
        rng: np.random.Generator,
    ) -> None:
        self.store, self.cfg, self.max_length, self.rng = store, cfg, max_length, rng
        # labels end per user (leave-last-out holds out each user's own last positives)
        self.label_end = np.broadcast_to(np.asarray(label_end_ms, dtype=np.int64), (store.num_users,))
        self.horizon_ms = cfg.horizon_days * DAY_MS
        labelable = store.positive & (store.item_index >= 0) & (store.ts < self.label_end[store.event_user])
        self.pos_idx = np.flatnonzero(labelable).astype(np.int64)  # global indices of usable positives
        users = np.asarray(users, dtype=np.int64)
        if len(self.pos_idx) == 0:
            raise ValueError("no positive on a corpus item before the label end: nothing to train on")
        # Keep users with at least one event before a usable positive's day.
        first_pos = np.searchsorted(self.pos_idx, store.offsets[users], side="left")
        has = (first_pos < len(self.pos_idx)) & (
            self.pos_idx[np.minimum(first_pos, len(self.pos_idx) - 1)] < store.offsets[users + 1]
        )
        self.users = users[has]
        if len(self.users) == 0:
            raise ValueError("no training user has a positive before the label end")

    # positives with global index in [a, b) and ts < ts_bound
    def _positives(self, a: int, b: int, ts_bound: int) -> np.ndarray:
        lo = np.searchsorted(self.pos_idx, a, side="left")
        hi = np.searchsorted(self.pos_idx, b, side="left")
        cand = self.pos_idx[lo:hi]
        return cand[self.store.ts[cand] < ts_bound]

    def _example(self, user: int) -> tuple[tuple[int, int], int, list[int], list[int], list[float]] | None:
        """(span, cutoff, query positions (local), positive event indices, pair weights) or None."""
        s, cfg, rng = self.store, self.cfg, self.rng
        lo, hi = int(s.offsets[user]), int(s.offsets[user + 1])
        label_end = int(self.label_end[user])
        last_ok = lo + int(np.searchsorted(s.ts[lo:hi], label_end, side="left"))
        if last_ok <= lo:
            return None
        anchor = int(rng.integers(lo, last_ok))
        # the end of the anchor's day, as at daily inference; a per-user label end inside that
        # day (leave-last-out) ends the sequence there instead
        cutoff = min((int(s.ts[anchor]) // DAY_MS + 1) * DAY_MS, label_end)
        end = s.end_before(user, cutoff)
        start, end = s.window(user, end, self.max_length)
        obj = cfg.objective
        queries: list[int] = []
        positives: list[int] = []
        weights: list[float] = []
        if obj in ("next_action", "all_action"):
            cands = self._positives(end, hi, min(cutoff + self.horizon_ms, label_end))
            if len(cands) == 0:
                return None
            if obj == "next_action":
                picked = cands[:1]
            else:
                k = min(cfg.all_action_positives, len(cands))
                picked = rng.choice(cands, size=k, replace=False)
            queries = [end - 1 - start] * len(picked)
            positives = [int(p) for p in picked]
        elif obj == "sasrec":
            # next positive after each position: first usable positive with index > i
            nxt = np.searchsorted(self.pos_idx, np.arange(start, end) + 1, side="left")
            ok = nxt < len(self.pos_idx)
            nxt_idx = self.pos_idx[np.minimum(nxt, len(self.pos_idx) - 1)]
            ok &= nxt_idx < hi
            locs = np.flatnonzero(ok)
            if cfg.sasrec_positions and len(locs) > cfg.sasrec_positions:
                locs = np.sort(rng.choice(locs, size=cfg.sasrec_positions, replace=False))
            queries = [int(i) for i in locs]
            positives = [int(nxt_idx[i]) for i in locs]
        else:  # dense_all_action
            positions = np.arange(start, end)
            ts_pos = s.ts[positions]
            # usable positives in (i, ts_i + K] for each position i
            bound = np.minimum(ts_pos + self.horizon_ms, label_end - 1)
            a = np.searchsorted(self.pos_idx, positions + 1, side="left")
            b_ev = lo + np.searchsorted(s.ts[lo:hi], bound, side="right")  # event index bound (exclusive)
            b = np.searchsorted(self.pos_idx, b_ev, side="left")
            counts = b - a
            locs = np.flatnonzero(counts > 0)
            if len(locs) > cfg.dense_positions:
                locs = np.sort(rng.choice(locs, size=cfg.dense_positions, replace=False))
            share, event_share = cfg.next_positive_share, cfg.next_event_share
            for i in locs:
                j = int(rng.integers(a[i], b[i]))
                queries.append(int(i))
                positives.append(int(self.pos_idx[j]))
                weights.append(1.0 - share)
                if share > 0:  # the position's next positive as well: weight on the near future
                    queries.append(int(i))
                    positives.append(int(self.pos_idx[a[i]]))
                    weights.append(share)
                nxt = int(positions[i]) + 1
                if event_share > 0 and nxt < hi and s.ts[nxt] < label_end and s.item_index[nxt] >= 0:
                    queries.append(int(i))  # the next engagement of any action: more item-id signal
                    positives.append(nxt)
                    weights.append(event_share)
        if not queries:
            return None
        return (start, end), cutoff, queries, positives, weights or [1.0] * len(queries)

    def _examples(self, count: int) -> list:
        out, tries = [], 0
        while len(out) < count:
            tries += 1
            if tries > 50 * count:
                raise RuntimeError("could not sample training examples: too few positives")
            user = int(self.users[self.rng.integers(len(self.users))])
            ex = self._example(user)
            if ex is not None:
                out.append(ex)
        return out

    def sample(self, batch_size: int) -> Batch:
        return self._batch(self._examples(batch_size))

    def sample_pool(self, batch_size: int, pool: int) -> list[Batch]:
        """`pool` batches from pool * batch_size examples grouped by length, so each batch is
        padded only to its own longest sequence (most histories are much shorter than M)."""
        examples = self._examples(batch_size * pool)
        examples.sort(key=lambda ex: ex[0][1] - ex[0][0])
        batches = [self._batch(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)]
        order = self.rng.permutation(len(batches))
        return [batches[i] for i in order]

    def _batch(self, examples: list) -> Batch:
        spans, cutoffs, q_row, q_pos, pos_ev, weight = [], [], [], [], [], []
        for span, cutoff, queries, positives, pair_weights in examples:
            row = len(spans)
            spans.append(span)
            cutoffs.append(cutoff)
            q_row += [row] * len(queries)
            q_pos += queries
            pos_ev += positives
            total = sum(pair_weights)
            weight += [w / total for w in pair_weights]
        inputs = featurize(self.store, spans, np.asarray(cutoffs, dtype=np.int64))
        return Batch(
            inputs=inputs,
            query_row=np.asarray(q_row, dtype=np.int64),
            query_pos=np.asarray(q_pos, dtype=np.int64),
            positive_item=self.store.item_index[np.asarray(pos_ev, dtype=np.int64)],
            weight=np.asarray(weight, dtype=np.float32),
        )
