"""PinnerFormer: a causal transformer user tower and an MLP item tower (paper section 3), in the
shape of RecBole's sequential models: `forward` (the user embedding), `loss` (training) and
`predict` (scores) in one class.

Shapes: B batch, L sequence length (right padded), H hidden width, D embedding width,
Ev pretrained item-vector width, T = 76 time fractions per position.
Attention is written by hand (no nn.MultiheadAttention / nn.TransformerEncoder). PyTorch training
and inference use the fused scaled_dot_product_attention kernel; the ONNX export writes each
attention as one standard `Attention` node (ONNX opset 23: causal in the full blocks, a key mask
in the last block's single query row), or, with `ExportWrapper(attention="explicit")`, as plain
MatMul/Softmax with a causal mask. Same math in all three (tests check they agree).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .losses import log_q, sampled_softmax_loss

if TYPE_CHECKING:
    from .config import TrainConfig
    from .corpus import Corpus
    from .data import Batch
    from .losses import ItemFrequency

MASK_VALUE = -1e9  # finite, so a fully masked row could never produce NaN


def mask_value(dtype: torch.dtype) -> float:
    """MASK_VALUE, or the most negative finite value of a narrower dtype (fp16 autocast: -65504),
    where -1e9 would overflow; float32 and bfloat16 keep -1e9 (and the exported graphs stay as they are)."""
    return max(MASK_VALUE, torch.finfo(dtype).min)
# Export-only node domain for ONNX `Attention` (opset 23): the TorchScript exporter stops at opset
# 20, so the node is written in this domain and export.py moves it to the standard domain after
# converting the graph to ATTENTION_OPSET.
EXPORT_DOMAIN = "pinnerformer.export"
ATTENTION_OPSET = 23


def at_position(x: Tensor, pos: Tensor) -> Tensor:
    """Each row's entry at its own position: [B, L, ...] at `pos` [B] -> [B, ...]."""
    index = pos.reshape(-1, 1, *[1] * (x.dim() - 2)).expand(-1, 1, *x.shape[2:])  # [B, 1, ...]
    return torch.gather(x, 1, index).squeeze(1)


class _OnnxAttention(torch.autograd.Function):
    """Multi-head scaled dot-product attention on [B, S, H] queries and [B, L, H] keys/values:
    explicit PyTorch math in forward (what the export traces through), one ONNX `Attention` node
    (3-D inputs, `q_num_heads`) in the graph. `keep` [B, L] bool masks keys (the last block's
    single query row); without it the attention is causal (`is_causal`, S = L). onnxruntime's
    kernel never materialises the [B, h, L, L] mask the explicit graph builds (a Where over every
    score): measured 2.2x faster for the demo model's trunk attention (bench/python, B 32, L 256)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, keep: Tensor | None, heads: int) -> Tensor:  # noqa: ANN001, ARG004
        b, s, hidden = q.shape
        length = k.shape[1]
        dh = hidden // heads
        qh = q.reshape(b, s, heads, dh).transpose(1, 2)  # [B, h, S, dh]
        kh = k.reshape(b, length, heads, dh).transpose(1, 2)
        vh = v.reshape(b, length, heads, dh).transpose(1, 2)
        scores = torch.matmul(qh, kh.transpose(-1, -2)) * (1.0 / math.sqrt(dh))  # [B, h, S, L]
        if keep is None:
            pos = torch.arange(length, device=q.device)
            scores = scores.masked_fill(pos[None, :] > pos[:, None], mask_value(scores.dtype))
        else:
            scores = scores.masked_fill(~keep[:, None, None, :], mask_value(scores.dtype))
        y = torch.matmul(torch.softmax(scores, dim=-1), vh)  # [B, h, S, dh]
        return y.transpose(1, 2).reshape(b, s, hidden)

    @staticmethod
    def symbolic(g, q, k, v, keep, heads):  # noqa: ANN001, ANN205
        attrs = {"q_num_heads_i": heads, "kv_num_heads_i": heads}
        if keep is None or (hasattr(keep, "node") and keep.node().mustBeNone()):
            out = g.op(f"{EXPORT_DOMAIN}::Attention", q, k, v, is_causal_i=1, **attrs)
        else:
            mask = g.op("Unsqueeze", keep, g.op("Constant", value_t=torch.tensor([1, 2])))  # [B, 1, 1, L]
            out = g.op(f"{EXPORT_DOMAIN}::Attention", q, k, v, mask, **attrs)
        out.setType(q.type())
        return out


class TimeEncoding(nn.Module):
    """cos(2*pi*f + phi_i) and sin(2*pi*f + phi'_i) per period i, with learned phases."""

    def __init__(self, periods: int) -> None:
        super().__init__()
        self.phase_cos = nn.Parameter(torch.zeros(periods))
        self.phase_sin = nn.Parameter(torch.zeros(periods))

    def forward(self, frac: Tensor) -> Tensor:  # [B, L, T] -> [B, L, 2T]
        angle = 2.0 * math.pi * frac
        return torch.cat([torch.cos(angle + self.phase_cos), torch.sin(angle + self.phase_sin)], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = hidden // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, attention: str | None = None) -> Tensor:  # [B, L, H]
        """`attention`: None = PyTorch's fused kernel; for ONNX export (ExportWrapper) "op" = one
        ONNX Attention node, "explicit" = plain MatMul/Softmax ops. Same math in all three."""
        b, length, hidden = x.shape
        dh = self.head_dim
        if attention == "op":
            q, k, v = self.qkv(x).split(hidden, dim=-1)  # [B, L, H] each, heads side by side
            return self.out(_OnnxAttention.apply(q, k, v, None, self.heads))
        qkv = self.qkv(x).reshape(b, length, 3, self.heads, dh).permute(2, 0, 3, 1, 4)  # [3, B, h, L, dh]
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, h, L, dh]
        if attention is None:
            # fused kernel (same math; ~10x faster backward on CPU than the explicit graph)
            p = self.dropout.p if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # [B, h, L, dh]
            return self.out(y.transpose(1, 2).reshape(b, length, hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # [B, h, L, L]
        pos = torch.arange(length, device=x.device)
        future = pos[None, :] > pos[:, None]  # [L, L]: key j after query i
        scores = scores.masked_fill(future, mask_value(scores.dtype))
        attn = self.dropout(torch.softmax(scores, dim=-1))  # [B, h, L, L]
        y = torch.matmul(attn, v)  # [B, h, L, dh]
        y = y.transpose(1, 2).reshape(b, length, hidden)  # [B, L, H]
        return self.out(y)

    def forward_at(self, x: Tensor, last: Tensor, attention: str | None = None) -> Tensor:
        """Attention output at one query position per row (`last`, [B]) over keys 0..last: the same
        math as `forward` at that position, without computing the other L-1 query rows. [B, H]"""
        b, length, hidden = x.shape
        dh = self.head_dim
        w, bias = self.qkv.weight, self.qkv.bias  # [3H, H], [3H]
        x_last = at_position(x, last).unsqueeze(1)  # [B, 1, H]
        if attention == "op":
            # two products instead of one [B, L, 2H] product and two slices (one pass less over K/V)
            k = F.linear(x, w[hidden : 2 * hidden], bias[hidden : 2 * hidden])  # [B, L, H]
            v = F.linear(x, w[2 * hidden :], bias[2 * hidden :])  # [B, L, H]
            keep = torch.arange(length, device=x.device)[None, :] <= last[:, None]  # [B, L]
            q = F.linear(x_last, w[:hidden], bias[:hidden])  # [B, 1, H]
            return self.out(_OnnxAttention.apply(q, k, v, keep, self.heads).reshape(b, hidden))
        kv = F.linear(x, w[hidden:], bias[hidden:]).reshape(b, length, 2, self.heads, dh)  # [B, L, 2, h, dh]
        k = kv[:, :, 0].transpose(1, 2)  # [B, h, L, dh]
        v = kv[:, :, 1].transpose(1, 2)  # [B, h, L, dh]
        q = F.linear(x_last, w[:hidden], bias[:hidden]).reshape(b, 1, self.heads, dh).transpose(1, 2)  # [B, h, 1, dh]
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # [B, h, 1, L]
        future = torch.arange(length, device=x.device)[None, :] > last[:, None]  # [B, L]
        scores = scores.masked_fill(future[:, None, None, :], mask_value(scores.dtype))
        y = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B, h, 1, dh]
        return self.out(y.transpose(1, 2).reshape(b, hidden))  # [B, H]


class Block(nn.Module):
    """PreNorm: x + MHSA(LN(x)), then x + FFN(LN(x)), FFN width 4H."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden)
        self.attn = CausalSelfAttention(hidden, heads, dropout)
        self.ln2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * hidden, hidden)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, attention: str | None = None) -> Tensor:  # [B, L, H]
        x = x + self.dropout(self.attn(self.ln1(x), attention))
        return x + self.dropout(self.ffn(self.ln2(x)))

    def forward_at(self, x: Tensor, last: Tensor, attention: str | None = None) -> Tensor:
        """The block's output at position `last` ([B]) only: [B, L, H] -> [B, H]."""
        x_last = at_position(x, last)  # [B, H]
        x_last = x_last + self.dropout(self.attn.forward_at(self.ln1(x), last, attention))
        return x_last + self.dropout(self.ffn(self.ln2(x_last)))


class PinnerFormer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        # ids: 0 padding, 1 OOV (learned), 2.. known items (or just "has a vector" without a vocabulary)
        self.item_id_emb = nn.Embedding(2 + max(cfg.id_vocab_size, 1) + cfg.hash_buckets, cfg.id_dim, padding_idx=0)
        self.action_emb = nn.Embedding(cfg.num_actions + 1, cfg.action_dim, padding_idx=0)
        self.surface_emb = nn.Embedding(cfg.num_surfaces + 2, cfg.surface_dim, padding_idx=0)
        self.time_enc = TimeEncoding(cfg.time_dims)
        in_dim = cfg.item_vector + cfg.id_dim + cfg.action_dim + cfg.surface_dim + 2 * cfg.time_dims + 4
        self.input_proj = nn.Linear(in_dim, h)
        self.pos_emb = nn.Parameter(torch.randn(cfg.max_length, h) * 0.02)
        self.blocks = nn.ModuleList([Block(h, cfg.heads, cfg.dropout) for _ in range(cfg.layers)])
        self.head = nn.Sequential(
            nn.LayerNorm(h), nn.Linear(h, 4 * h), nn.GELU(), nn.Linear(4 * h, cfg.embedding)
        )
        self.item_tower = nn.Sequential(
            nn.Linear(cfg.item_vector + cfg.id_dim, 4 * cfg.embedding),
            nn.GELU(),
            nn.Linear(4 * cfg.embedding, cfg.embedding),
        )
        if cfg.last_item_skip:
            self.skip_weight = nn.Parameter(torch.tensor(float(cfg.last_item_skip_init)))
        # tau = max(exp(log_tau), min_temperature)
        self.log_tau = nn.Parameter(torch.tensor(math.log(cfg.init_temperature)))

    # --- user tower -------------------------------------------------------------------------
    def encode(
        self,
        item_vec: Tensor,
        item_id: Tensor,
        action: Tensor,
        surface: Tensor,
        time_frac: Tensor,
        scalars: Tensor,
        trunk: int | None = None,
        attention: str | None = None,
    ) -> Tensor:
        """Hidden states at every position, [B, L, H]; position i only sees positions <= i.
        `trunk` runs only the first blocks (default: all); `attention`: CausalSelfAttention.forward."""
        length = item_id.shape[1]
        x = torch.cat(
            [
                item_vec,  # [B, L, Ev]
                self.item_id_emb(item_id),  # [B, L, id_dim]
                self.action_emb(action),  # [B, L, A]
                self.surface_emb(surface),  # [B, L, S]
                self.time_enc(time_frac),  # [B, L, 2T]
                scalars,  # [B, L, 4]
            ],
            dim=-1,
        )
        x = self.input_proj(x) + self.pos_emb[:length]  # [B, L, H]
        for block in self.blocks[:trunk]:
            x = block(x, attention)
        return x  # [B, L, H]

    def embed_hidden(self, hidden: Tensor, item_vec: Tensor, item_id: Tensor) -> Tensor:
        """Per-position head: LN -> Linear(4H) -> GELU -> Linear(D) -> L2 normalise. [..., H] -> [..., D]
        With `last_item_skip`, plus the learned weight times the item tower's embedding of the
        position's own item (`item_vec` [..., Ev], `item_id` [...]), normalised again."""
        user = F.normalize(self.head(hidden).float(), dim=-1, eps=1e-12)
        if not self.cfg.last_item_skip:
            return user
        return F.normalize(user + self.skip_weight * self.embed_items(item_vec, item_id), dim=-1, eps=1e-12)

    def forward(
        self,
        item_vec: Tensor,
        item_id: Tensor,
        action: Tensor,
        surface: Tensor,
        time_frac: Tensor,
        scalars: Tensor,
        lengths: Tensor,
        attention: str | None = None,
    ) -> Tensor:
        """The user embedding: the head's output at the most recent action, [B, D]."""
        # Only position lengths-1 is read, so the last block runs its query, FFN and head there
        # alone (same math as encode + gather; ~1/L of the last block's attention and FFN work).
        hidden = self.encode(item_vec, item_id, action, surface, time_frac, scalars, trunk=-1, attention=attention)
        length = hidden.shape[1]
        last = torch.clamp(lengths - 1, min=0)
        last = torch.minimum(last, torch.full_like(last, length - 1))  # [B]
        at_last = self.blocks[-1].forward_at(hidden, last, attention)  # [B, H]
        # gather, not x[rows, last]: the ONNX exporter dies (SIGFPE) indexing a zero-width item_vec
        return self.embed_hidden(at_last, at_position(item_vec, last), at_position(item_id, last))  # [B, D]

    # --- item tower -------------------------------------------------------------------------
    def embed_items(self, item_vec: Tensor, item_id: Tensor) -> Tensor:
        """[N, Ev], [N] -> [N, D], L2-normalised."""
        x = torch.cat([item_vec, self.item_id_emb(item_id)], dim=-1)  # [N, Ev + id_dim]
        return F.normalize(self.item_tower(x).float(), dim=-1, eps=1e-12)

    # --- loss (training) -----------------------------------------------------------------------
    def loss(
        self,
        batch: Batch,
        corpus: Corpus,
        freq: ItemFrequency,
        cfg: TrainConfig,
        rng: np.random.Generator,
    ) -> Tensor:
        """The batch's sampled-softmax loss (losses.py): each (query position, positive) pair of
        `batch` against in-batch and/or uniform random candidates (`cfg.negatives`), logQ-corrected."""
        device = self.pos_emb.device
        x = {k: torch.from_numpy(v).to(device) for k, v in batch.inputs.items()}
        hidden = self.encode(x["item_vec"], x["item_id"], x["action"], x["surface"], x["time_frac"], x["scalars"])  # [B, L, H]
        rows = torch.from_numpy(batch.query_row).to(device)
        cols = torch.from_numpy(batch.query_pos).to(device)
        query = self.embed_hidden(hidden[rows, cols], x["item_vec"][rows, cols], x["item_id"][rows, cols])  # [N, D]
        pos_items = torch.from_numpy(batch.positive_item).to(device)  # [N]
        freq.update(pos_items)
        n = len(batch.positive_item)
        # in-batch candidates: the batch's positives (with repeats), at most max_in_batch of them
        if cfg.negatives in ("in_batch", "mixed"):
            keep = np.arange(n) if n <= cfg.max_in_batch else np.sort(rng.choice(n, size=cfg.max_in_batch, replace=False))
        else:
            keep = np.zeros(0, dtype=np.int64)
        n_rand = cfg.random_negatives if cfg.negatives in ("random", "mixed") else 0
        rand_items = torch.from_numpy(rng.integers(0, corpus.size, size=n_rand)).to(device)  # [R]
        keep_t = torch.from_numpy(keep).to(device)
        uniq, inverse = torch.unique(torch.cat([pos_items, rand_items]), return_inverse=True)
        item_emb = corpus.embed(self, uniq)  # [U, D]
        positive = item_emb[inverse[:n]]  # [N, D]
        negative = torch.cat([positive[keep_t], item_emb[inverse[n:]]])  # [C + R, D]
        negative_item = torch.cat([pos_items[keep_t], rand_items])
        negative_user = torch.cat([rows[keep_t], torch.full((n_rand,), -1, dtype=torch.long, device=device)])
        pos_lq = neg_lq = None
        if cfg.logq:
            pos_lq = log_q(freq, pos_items, cfg.negatives, len(keep), n_rand)
            neg_lq = log_q(freq, negative_item, cfg.negatives, len(keep), n_rand)
        return sampled_softmax_loss(
            query=query.float(),
            positive=positive.float(),
            positive_item=pos_items,
            query_user=rows,
            negative=negative.float(),
            negative_item=negative_item,
            negative_user=negative_user,
            temperature=self.temperature(),
            weight=torch.from_numpy(batch.weight).to(device),
            positive_logq=pos_lq,
            negative_logq=neg_lq,
        )

    # --- predict ----------------------------------------------------------------------------
    def temperature(self) -> Tensor:
        return torch.clamp(self.log_tau.exp(), min=self.cfg.min_temperature)

    def predict(self, users: Tensor, items: Tensor) -> Tensor:
        """Cosine similarity over temperature: [N, D] x [C, D] -> [N, C]."""
        return users @ items.T / self.temperature()


ATTENTION_EXPORTS = ("op", "explicit")


class ExportWrapper(nn.Module):
    """The ONNX graph: the seven contract inputs in order, `embedding` out. `attention="op"`
    (default) writes each attention as one ONNX `Attention` node (opset 23, which export.py
    finalises); `"explicit"` traces MatMul/Softmax with a causal mask (any opset-17 runtime)."""

    def __init__(self, model: PinnerFormer, attention: str = "op") -> None:
        super().__init__()
        if attention not in ATTENTION_EXPORTS:
            raise ValueError(f"attention export {attention!r} is not one of {ATTENTION_EXPORTS}")
        self.model = model
        self.attention = attention

    def forward(self, item_vec, item_id, action, surface, time_frac, scalars, lengths):  # noqa: ANN001
        return self.model(item_vec, item_id, action, surface, time_frac, scalars, lengths, attention=self.attention)
