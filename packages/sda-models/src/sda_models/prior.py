"""The code prior: a small decoder-only transformer over RVQ code sequences (GEN-01..06).

A code sequence is a LongTensor ``(L, T)``: ``L`` residual levels per time step, ``T`` steps (one step per
latent frame of the RVQ autoencoder). The prior factorises

    p(codes) = prod_t prod_l p(c[l, t] | c[:, <t], c[<l, t])

* Across time: a causal transformer reads one token per step. A step's token is the sum of one embedding per
  level plus a learned position embedding. The inputs are shifted right by one step behind a learned
  start-of-window token, so the hidden state at position ``t`` has only seen steps ``< t``.
* Within a step ("depth"): head ``l`` reads the hidden state plus the embeddings of the lower levels of the
  *same* step (the true codes while training, the sampled ones while generating), then a small MLP.
  This keeps the levels' dependency (a fine level refines a coarse one) at the cost of ``L`` tiny MLPs per
  step rather than a second transformer.

Sampling draws every random number with :func:`torch.multinomial` on CPU probabilities and a CPU
``torch.Generator``, so a seed gives the same codes on every device (up to float rounding of the logits).
Sequences longer than the context continue with a sliding window: the last ``context - 1 - hop`` steps
become the prompt of the next window. The config, :class:`~sda_models.configs.PriorConfig` (``context_frames``
is the context), and its presets live in ``configs.py``.
"""

from __future__ import annotations

import logging
import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_models.configs import PriorConfig

logger = logging.getLogger(__name__)

GREEDY_TEMPERATURE = 1e-4
"""At or below this temperature sampling is greedy (argmax, no random draw)."""


class _Block(nn.Module):
    """Pre-norm causal self-attention + MLP, with an optional key/value cache for generation."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, config.ff_mult * d), nn.GELU(),
                                 nn.Linear(config.ff_mult * d, d))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: ``(B, T, D)``. With a cache, ``T`` must be 1 (one new position after the cached ones)."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        causal = cache is None and t > 1
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                              dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, t, d)))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, (k, v)


class CodePrior(nn.Module):
    """Autoregressive prior over RVQ codes ``(B, L, T)``; see the module docstring for the factorisation."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        d, k, n_levels = config.d_model, config.codebook_size, config.levels
        self.code_emb = nn.ModuleList([nn.Embedding(k, d) for _ in range(n_levels)])
        self.pos_emb = nn.Embedding(config.context_frames, d)
        self.start = nn.Parameter(torch.zeros(d))
        self.emb_drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([_Block(config) for _ in range(config.n_layers)])
        self.norm = nn.LayerNorm(d)
        # depth conditioning: embeddings of lower levels of the same step, one per level below the top
        self.depth_emb = nn.ModuleList([nn.Embedding(k, d) for _ in range(n_levels - 1)])
        self.heads = nn.ModuleList([
            nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, k)) for _ in range(n_levels)
        ])
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def step_embedding(self, codes: Tensor) -> Tensor:
        """codes ``(B, L, T)`` -> summed level embeddings ``(B, T, D)``."""
        return sum(emb(codes[:, level]) for level, emb in enumerate(self.code_emb))  # type: ignore[return-value]

    def _hidden(self, tokens: Tensor, offset: int = 0,
                caches: list[tuple[Tensor, Tensor]] | None = None) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """tokens ``(B, T, D)`` at positions ``offset..offset+T-1`` -> hidden ``(B, T, D)`` and new caches."""
        positions = torch.arange(offset, offset + tokens.shape[1], device=tokens.device)
        x = self.emb_drop(tokens + self.pos_emb(positions))
        new_caches = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if caches is None else caches[i])
            new_caches.append(kv)
        return self.norm(x), new_caches

    def forward(self, codes: Tensor) -> list[Tensor]:
        """Teacher-forced logits. codes ``(B, L, T)`` with ``T <= context`` -> ``L`` tensors ``(B, T, K)``."""
        self._check_codes(codes)
        b, _, t = codes.shape
        steps = self.step_embedding(codes[:, :, :-1])
        tokens = torch.cat([self.start.expand(b, 1, -1), steps], dim=1)
        h, _ = self._hidden(tokens)
        logits = []
        cond = h
        for level, head in enumerate(self.heads):
            logits.append(head(cond))
            if level < self.config.levels - 1:
                cond = cond + self.depth_emb[level](codes[:, level])
        return logits

    def _check_codes(self, codes: Tensor) -> None:
        cfg = self.config
        if codes.dim() != 3 or codes.shape[1] != cfg.levels:
            raise ValueError(f"codes must be (B, {cfg.levels}, T), got {tuple(codes.shape)}")
        if codes.shape[2] < 1 or codes.shape[2] > cfg.context_frames:
            raise ValueError(f"code sequence length {codes.shape[2]} must be in 1..{cfg.context_frames} (the context)")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= cfg.codebook_size):
            raise ValueError(f"codes must lie in 0..{cfg.codebook_size - 1}")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def prior_loss(prior: CodePrior, codes: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Mean cross-entropy over levels and steps. codes ``(B, L, T)``.

    Returns the loss tensor and floats: ``ce_<l>`` and ``perplexity_<l>`` per level, ``perplexity`` (of the
    mean cross-entropy), ``accuracy`` (teacher-forced top-1 over all levels).
    """
    logits = prior(codes)
    stats: dict[str, float] = {}
    ces = []
    correct = 0.0
    for level, lg in enumerate(logits):
        ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), codes[:, level].reshape(-1))
        ces.append(ce)
        stats[f"ce_{level}"] = float(ce.detach())
        stats[f"perplexity_{level}"] = math.exp(min(stats[f"ce_{level}"], 50.0))
        correct += float((lg.detach().argmax(-1) == codes[:, level]).float().mean())
    loss = torch.stack(ces).mean()
    stats["loss"] = float(loss.detach())
    stats["perplexity"] = math.exp(min(stats["loss"], 50.0))
    stats["accuracy"] = correct / len(logits)
    return loss, stats


def prior_train_step(prior: CodePrior, optimizer: torch.optim.Optimizer, codes: Tensor,
                     grad_clip: float | None = 1.0) -> dict[str, float]:
    """One optimisation step on a batch ``(B, L, T)`` (already on the prior's device). Returns the stats."""
    prior.train()
    optimizer.zero_grad(set_to_none=True)
    loss, stats = prior_loss(prior, codes)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"prior loss is not finite ({stats['loss']})")
    loss.backward()
    if grad_clip is not None:
        stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(prior.parameters(), grad_clip))
    optimizer.step()
    return stats


@torch.no_grad()
def evaluate_prior(prior: CodePrior, codes: Tensor) -> dict[str, float]:
    """:func:`prior_loss` statistics without gradients, in eval mode (restores the previous mode)."""
    was_training = prior.training
    prior.eval()
    try:
        return prior_loss(prior, codes)[1]
    finally:
        prior.train(was_training)


def random_code_windows(sequences: list[Tensor], batch_size: int, length: int,
                        generator: torch.Generator) -> Tensor:
    """Random crops for training: ``sequences`` of ``(L, T_i)`` -> ``(batch_size, L, length)``.

    Files are drawn in proportion to their length; sequences shorter than ``length`` are looped.
    """
    if not sequences:
        raise ValueError("no code sequences to draw from")
    lengths = torch.tensor([s.shape[-1] for s in sequences], dtype=torch.float64)
    picks = torch.multinomial(lengths / lengths.sum(), batch_size, replacement=True, generator=generator)
    out = []
    for idx in picks.tolist():
        seq = sequences[idx]
        if seq.shape[-1] < length:
            seq = seq.repeat(1, math.ceil(length / seq.shape[-1]) + 1)
        start = int(torch.randint(0, seq.shape[-1] - length + 1, (1,), generator=generator))
        out.append(seq[:, start:start + length])
    return torch.stack(out)


def filter_probs(logits: Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Logits ``(..., K)`` -> probabilities after temperature, top-k and nucleus (top-p) filtering (float32 CPU)."""
    logits = logits.detach().float().cpu()
    if temperature <= GREEDY_TEMPERATURE:
        probs = torch.zeros_like(logits)
        probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        return probs
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(before >= max(top_p, 0.0), 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def sample_token(logits: Tensor, generator: torch.Generator, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0) -> Tensor:
    """Draw one code per row of ``logits (B, K)`` -> LongTensor ``(B,)`` on CPU. Greedy when temperature -> 0."""
    if temperature <= GREEDY_TEMPERATURE:
        return logits.detach().float().cpu().argmax(-1)
    probs = filter_probs(logits, temperature, top_k, top_p)
    return draw(probs, generator)


def draw(probs: Tensor, generator: torch.Generator) -> Tensor:
    """One index per row of ``probs`` ``(B, K)`` (finite, >= 0, positive sums) -> LongTensor ``(B,)``.

    The exponential race ``argmax(p / q)``, ``q ~ Exp(1)``, which is exactly how ``torch.multinomial`` draws
    one sample (same random numbers, same result; ``test_prior`` checks it), without its input checks: four
    reductions and host syncs that cost more than the draw itself at every sampling step.
    """
    race = torch.empty_like(probs).exponential_(1, generator=generator)
    return torch.div(probs, race, out=race).argmax(-1)


def _check_sampling(prior: CodePrior, n_steps: int, temperature: float, top_k: int, top_p: float,
                    prompt: Tensor | None, hop: int) -> None:
    cfg = prior.config
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {top_k}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if not 1 <= hop <= cfg.context_frames - 1:
        raise ValueError(f"hop must be in 1..{cfg.context_frames - 1}, got {hop}")
    if prompt is not None:
        if prompt.dim() != 2 or prompt.shape[0] != cfg.levels:
            raise ValueError(f"prompt must be ({cfg.levels}, P), got {tuple(prompt.shape)}")
        if prompt.numel() and (int(prompt.min()) < 0 or int(prompt.max()) >= cfg.codebook_size):
            raise ValueError(f"prompt codes must lie in 0..{cfg.codebook_size - 1}")


class _WindowCache:
    """Keys and values of every layer for one context window, preallocated ``(1, H, context, d_head)``.

    :meth:`CodePrior._hidden` with a cache concatenates one position per call (a copy of the whole cache
    each step); here a step writes its key and value in place and attends over the filled prefix, with the
    same arithmetic, so the hidden states (and codes) are the same.
    """

    def __init__(self, prior: CodePrior, device: torch.device, dtype: torch.dtype) -> None:
        cfg = prior.config
        shape = (len(prior.blocks), 1, cfg.n_heads, cfg.context_frames, cfg.d_model // cfg.n_heads)
        self.keys = torch.empty(shape, device=device, dtype=dtype)
        self.values = torch.empty(shape, device=device, dtype=dtype)
        self.used = 0

    def fill(self, caches: list[tuple[Tensor, Tensor]]) -> None:
        """Take the ``(k, v)`` a full window pass returned (positions ``0..n-1``)."""
        n = caches[0][0].shape[2]
        for i, (k, v) in enumerate(caches):
            self.keys[i, :, :, :n] = k
            self.values[i, :, :, :n] = v
        self.used = n


def _cached_step(prior: CodePrior, token: Tensor, cache: _WindowCache) -> Tensor:
    """One new position ``token`` ``(1, 1, D)`` after the cached ones -> its final hidden state ``(1, D)``.

    The functional form of :meth:`CodePrior._hidden` for one position in eval mode (dropout off): the same
    modules' weights through the same torch functions, without the module-call overhead, which dominates
    a step of these small transformers.
    """
    pos = cache.used
    x = token + prior.pos_emb.weight[pos:pos + 1]
    b, t, d = x.shape
    for i, block in enumerate(cast("list[_Block]", prior.blocks)):
        h = F.layer_norm(x, (d,), block.norm1.weight, block.norm1.bias, block.norm1.eps)
        q, k, v = F.linear(h, block.qkv.weight, block.qkv.bias).view(
            b, t, 3, block.n_heads, d // block.n_heads).permute(2, 0, 3, 1, 4)
        cache.keys[i, :, :, pos:pos + 1] = k
        cache.values[i, :, :, pos:pos + 1] = v
        attn = F.scaled_dot_product_attention(q, cache.keys[i, :, :, :pos + 1], cache.values[i, :, :, :pos + 1])
        x = x + F.linear(attn.transpose(1, 2).reshape(b, t, d), block.proj.weight, block.proj.bias)
        h = F.layer_norm(x, (d,), block.norm2.weight, block.norm2.bias, block.norm2.eps)
        up, _act, down = cast("tuple[nn.Linear, nn.GELU, nn.Linear]", block.mlp)
        x = x + F.linear(F.gelu(F.linear(h, up.weight, up.bias)), down.weight, down.bias)
    cache.used = pos + 1
    return F.layer_norm(x, (d,), prior.norm.weight, prior.norm.bias, prior.norm.eps)[:, -1]


def _head_logits(head: nn.Module, cond: Tensor) -> Tensor:
    """``head(cond)`` for a level head ``LayerNorm -> Linear -> GELU -> Linear`` (functional, same result)."""
    norm, up, _act, down = cast("tuple[nn.LayerNorm, nn.Linear, nn.GELU, nn.Linear]", head)
    h = F.layer_norm(cond, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return F.linear(F.gelu(F.linear(h, up.weight, up.bias)), down.weight, down.bias)


@torch.no_grad()
def sample(prior: CodePrior, n_steps: int, generator: torch.Generator, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, prompt: Tensor | None = None,
           on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
           hop: int | None = None, use_cache: bool = True) -> Tensor:
    """Generate ``n_steps`` new steps of codes -> LongTensor ``(L, n_steps)`` on CPU (the prompt excluded).

    Args:
        generator: a CPU ``torch.Generator`` (e.g. :func:`sda_models.device.cpu_generator`).
        temperature: softmax temperature; ``<= 1e-4`` means greedy (argmax).
        top_k: keep only the ``k`` most likely codes (0 = off; 1 = greedy).
        top_p: nucleus sampling: keep the smallest set of codes whose probability reaches ``top_p``.
        prompt: optional ``(L, P)`` codes to continue from.
        on_event / cancel: ``progress`` events (job ``generate``, about 20 per call; the caller owns the
            job's ``start``/``done``) and cancellation between steps.
        hop: steps generated per window once the context is full (default ``(context_frames - 1) // 2``);
            the last ``context_frames - 1 - hop`` steps are re-read as the next window's prompt.
        use_cache: keep each window's keys and values and run one new position per step (the default);
            ``False`` re-runs the whole window every step (quadratic; the reference the tests compare with).
            Both see the same tokens at the same positions, so they draw the same codes unless float
            rounding of the two matrix shapes flips a draw that sits exactly on a boundary.

    Each step is a chain of small matrix-vector products, so it runs on one intra-op thread (several threads
    only add synchronisation: 3-6x slower measured on two shared cores); the thread count is restored after.
    """
    cfg = prior.config
    hop = max(1, (cfg.context_frames - 1) // 2) if hop is None else hop
    _check_sampling(prior, n_steps, temperature, top_k, top_p, prompt, hop)
    param = next(prior.parameters())
    device = param.device
    was_training = prior.training
    prior.eval()
    history = (prompt.detach().long().cpu() if prompt is not None
               else torch.zeros(cfg.levels, 0, dtype=torch.long))
    n_prompt = history.shape[1]
    history = torch.cat([history, torch.zeros(cfg.levels, n_steps, dtype=torch.long)], dim=1)
    report_every = max(1, n_steps // 20)
    cache = _WindowCache(prior, device, param.dtype) if use_cache else None
    h_last: Tensor | None = None
    window_start = 0  # first history step of the current window (after the start token)
    used = 0  # input positions filled in the current window (start token included)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        for i in range(n_steps):
            if cancel is not None:
                cancel.raise_if_cancelled("generation")
            end = n_prompt + i
            if h_last is None or used >= cfg.context_frames:
                keep = min(end, cfg.context_frames - 1 if h_last is None else cfg.context_frames - 1 - hop)
                window_start = end - keep
                window = history[:, window_start:end].to(device).unsqueeze(0)
                tokens = torch.cat([prior.start.view(1, 1, -1), prior.step_embedding(window)], dim=1)
                h, caches = prior._hidden(tokens)
                if cache is not None:
                    cache.fill(caches)
                used = tokens.shape[1]
                h_last = h[:, -1]
            cond = h_last
            for level, head in enumerate(prior.heads):
                code = sample_token(_head_logits(head, cond), generator, temperature, top_k, top_p)
                history[level, end] = code[0]
                if level < cfg.levels - 1:
                    cond = cond + prior.depth_emb[level](code.to(device))
            if i + 1 < n_steps and used < cfg.context_frames:
                if cache is not None:
                    token = prior.step_embedding(history[:, end:end + 1].to(device).unsqueeze(0))
                    h_last = _cached_step(prior, token, cache)
                else:
                    window = history[:, window_start:end + 1].to(device).unsqueeze(0)
                    tokens = torch.cat([prior.start.view(1, 1, -1), prior.step_embedding(window)], dim=1)
                    h_last = prior._hidden(tokens)[0][:, -1]
                used += 1
            if (i + 1) % report_every == 0 or i + 1 == n_steps:
                on_event(ProgressEvent(job="generate", kind="progress", step=i + 1, total=n_steps,
                                       message="sampling codes"))
    finally:
        torch.set_num_threads(threads)
        prior.train(was_training)
    return history[:, n_prompt:]
