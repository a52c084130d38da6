"""Configuration dataclasses with documented defaults (docs/model.md, docs/model-interface.md)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# Paper: absolute time uses 12 fixed periods (seconds).
ABS_PERIODS_SEC: tuple[float, ...] = tuple(
    float(h * 3600) for h in (0.25, 0.5, 0.75, 1, 2, 4, 8, 16, 24, 24 * 7, 24 * 28, 24 * 365)
)


def _rel_periods() -> tuple[float, ...]:
    # 32 periods log-spaced from 1 s to 28 d inclusive (docs/model-interface.md).
    lo, hi, n = math.log(1.0), math.log(2419200.0), 32
    return tuple(math.exp(lo + k * (hi - lo) / (n - 1)) for k in range(n))


REL_PERIODS_SEC: tuple[float, ...] = _rel_periods()
TIME_REFERENCE_MS = 1577836800000  # 2020-01-01T00:00:00Z
DAY_MS = 86_400_000

OBJECTIVES = ("next_action", "sasrec", "all_action", "dense_all_action")
NEGATIVES = ("random", "in_batch", "mixed")


@dataclass(frozen=True)
class FeatureConfig:
    """How an event sequence becomes model inputs; written to the manifest."""

    action_vocab: tuple[str, ...] = ("view", "closeup", "click", "save")
    surface_vocab: tuple[str, ...] = ("home", "search", "related", "profile")
    abs_periods_sec: tuple[float, ...] = ABS_PERIODS_SEC
    rel_periods_sec: tuple[float, ...] = REL_PERIODS_SEC
    time_reference_ms: int = TIME_REFERENCE_MS
    max_length: int = 256  # M: the most recent actions kept

    @property
    def time_dims(self) -> int:
        return len(self.abs_periods_sec) + 2 * len(self.rel_periods_sec)  # 76


@dataclass(frozen=True)
class PositiveConfig:
    """Which engagements count as positive labels (paper: a save, or a click/close-up > 10 s)."""

    actions: tuple[str, ...] = ("save",)
    min_duration_ms: dict[str, int] = field(default_factory=lambda: {"click": 10_000, "closeup": 10_000})

    def describe(self) -> str:
        parts = [f"action in {{{', '.join(self.actions)}}}"] if self.actions else []
        parts += [f"{a} with duration_ms >= {ms}" for a, ms in self.min_duration_ms.items()]
        return " or ".join(parts) or "nothing"


@dataclass(frozen=True)
class ModelConfig:
    layers: int = 2  # L transformer blocks
    hidden: int = 64  # H
    heads: int = 4
    embedding: int = 64  # D, output dimension of user and item towers
    max_length: int = 256  # M, size of the positional table
    item_vector: int = 32  # Ev, pretrained item vector width
    id_vocab_size: int = 0  # learned item-id embeddings for this many ids; 0: only "has vector"/OOV flags
    hash_buckets: int = 0  # learned embeddings shared by ids outside the vocabulary (fnv1a32 % buckets)
    id_dim: int = 16  # width of the learned item-id / OOV embedding
    action_dim: int = 8
    surface_dim: int = 8
    num_actions: int = 4
    num_surfaces: int = 4
    time_dims: int = 76  # fractions per position: 12 absolute + 32 age + 32 gap
    dropout: float = 0.0
    min_temperature: float = 0.01
    init_temperature: float = 0.05
    # the user embedding also leans toward the item tower's embedding of the most recent action's
    # item, by a learned weight (model.py): a direct path to "more like what they just did"
    last_item_skip: bool = False
    last_item_skip_init: float = 0.5  # that weight's start


@dataclass(frozen=True)
class TrainConfig:
    objective: str = "dense_all_action"  # one of OBJECTIVES
    negatives: str = "mixed"  # one of NEGATIVES
    logq: bool = True  # subtract log Q(v) from every candidate's logit
    horizon_days: int = 28  # K: the future window positives come from
    all_action_positives: int = 32  # all_action: positives sampled per user
    dense_positions: int = 32  # dense_all_action: positions sampled per sequence
    # dense_all_action: share of each position's weight on its next positive (the rest on a random
    # positive of its K-day window); 0 is the paper's loss
    next_positive_share: float = 0.0
    # dense_all_action: weight of an extra pair per position whose target is the next event of any
    # action (views included); 0 is the paper's loss (positives only)
    next_event_share: float = 0.0
    sasrec_positions: int = 0  # sasrec: cap positions per sequence (0 = every position)
    # learned item-id embeddings start from the training events' co-occurrence (item_init.py)
    # instead of noise; False is a random start
    cooccurrence_init: bool = True
    max_in_batch: int = 4096  # in-batch candidates kept (paper: up to 5000)
    random_negatives: int = 1024  # uniform corpus negatives per batch (paper: 8192)
    batch_size: int = 64  # sequences per step
    pool: int = 8  # batches drawn together and grouped by sequence length (less padding)
    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | auto
    bf16: bool = True  # bf16 autocast (only on CUDA)
    threads: int = 0  # torch CPU threads; 0 = torch default
    checkpoint_every: int = 200
    eval_every: int = 0  # validate every this many steps (0: no validation, train all `steps`)
    patience: int = 3  # stop after this many validations without a better validation recall

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.negatives not in NEGATIVES:
            raise ValueError(f"negatives must be one of {NEGATIVES}, got {self.negatives!r}")


def to_jsonable(obj: Any) -> Any:
    """A dataclass (or nesting of them) as plain JSON values."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj
