"""The code prior: learning, sampling controls, reproducibility, sliding windows, memorisation monitor."""

from __future__ import annotations

import math

import pytest
import torch

from sda_audio.errors import Cancelled
from sda_audio.progress import CancelToken
from sda_models.configs import SIZES, PriorConfig
from sda_models.device import cpu_generator
from sda_models.memorisation import MemorisationMonitor
from sda_models.prior import (
    CodePrior,
    draw,
    evaluate_prior,
    filter_probs,
    prior_loss,
    prior_train_step,
    random_code_windows,
    sample,
    sample_token,
)

CYCLE = [0, 1, 0, 2, 3, 2, 4]  # after a 0 comes 1 or 2: the prior must look two steps back


def toy_codes(n: int) -> torch.Tensor:
    """Two levels: level 0 cycles through CYCLE, level 1 depends on level 0 now and one step back."""
    level0 = torch.tensor([CYCLE[t % len(CYCLE)] for t in range(n)])
    level1 = (3 * level0 + torch.roll(level0, 1)) % 8
    return torch.stack([level0, level1])


TOY_CONFIG = PriorConfig(levels=2, codebook_size=8, d_model=32, n_layers=2, n_heads=2, ff_mult=2, dropout=0.0,
                         context_frames=16)


@pytest.fixture(scope="module")
def toy_prior() -> CodePrior:
    torch.manual_seed(0)
    prior = CodePrior(TOY_CONFIG)
    optimizer = torch.optim.AdamW(prior.parameters(), lr=3e-3)
    sequence = toy_codes(700)
    gen = cpu_generator(0)
    for _ in range(100):
        prior_train_step(prior, optimizer, random_code_windows([sequence], 12, 16, gen))
    return prior.eval()


def peaked_prior(seed: int = 0) -> CodePrior:
    """An untrained prior whose heads give peaked, but not deterministic, distributions."""
    torch.manual_seed(seed)
    prior = CodePrior(PriorConfig(levels=2, codebook_size=16, d_model=32, n_layers=1, n_heads=2, ff_mult=2,
                                  dropout=0.0, context_frames=32))
    with torch.no_grad():
        for head in prior.heads:
            head[1].weight.normal_(0.0, 0.3)
            head[-1].weight.normal_(0.0, 0.3)
    return prior.eval()


def entropy(codes: torch.Tensor, k: int) -> float:
    p = torch.bincount(codes.flatten(), minlength=k).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def test_prior_learns_the_toy_sequence(toy_prior: CodePrior) -> None:
    stats = evaluate_prior(toy_prior, toy_codes(16 * 8).view(2, 8, 16).permute(1, 0, 2).contiguous())
    assert stats["accuracy"] > 0.9
    assert stats["perplexity"] < 1.5


def test_greedy_reproduces_cycle_beyond_the_context(toy_prior: CodePrior) -> None:
    reference = toy_codes(80)
    out = sample(toy_prior, 50, cpu_generator(1), temperature=0.0, prompt=reference[:, :4])
    assert out.shape == (2, 50)
    assert torch.equal(out, reference[:, 4:54])  # 50 steps > context 16: several sliding windows


@pytest.mark.parametrize("hop", [1, 7, 14])
def test_sliding_window_hops(toy_prior: CodePrior, hop: int) -> None:
    reference = toy_codes(60)
    out = sample(toy_prior, 30, cpu_generator(1), temperature=0.0, prompt=reference[:, :5], hop=hop)
    assert torch.equal(out, reference[:, 5:35])


def test_cached_sampling_matches_teacher_forcing() -> None:
    prior = peaked_prior()
    codes = sample(prior, 20, cpu_generator(0), temperature=0.0)
    logits = prior(codes.unsqueeze(0))
    for level in range(2):
        assert torch.equal(logits[level][0].argmax(-1), codes[level])


@pytest.mark.parametrize("kwargs", [{}, {"top_p": 0.8}, {"temperature": 0.6, "top_k": 5}, {"hop": 5}])
def test_cached_sampling_draws_the_same_codes_as_uncached(kwargs: dict) -> None:
    """The key/value cache is an optimisation only: across sliding windows (40 steps, context 32) the
    cached sampler draws exactly the codes of the one that re-runs the whole window every step."""
    prior = peaked_prior(3)
    prompt = torch.randint(0, 16, (2, 6), generator=cpu_generator(1))
    cached = sample(prior, 40, cpu_generator(5), prompt=prompt, **kwargs)
    uncached = sample(prior, 40, cpu_generator(5), prompt=prompt, use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)
    assert len(set(cached[0].tolist())) > 3  # really sampled, not a constant


def test_sampling_restores_the_thread_count() -> None:
    threads = torch.get_num_threads()
    sample(peaked_prior(), 5, cpu_generator(0))
    assert torch.get_num_threads() == threads


def test_draw_is_torch_multinomial() -> None:
    probs = torch.softmax(torch.randn(3, 50, generator=cpu_generator(2)) * 2, dim=-1)
    probs[1, 10:] = 0.0
    probs[1] /= probs[1].sum()
    for seed in range(20):
        expected = torch.multinomial(probs, 1, generator=cpu_generator(seed)).squeeze(-1)
        assert torch.equal(draw(probs, cpu_generator(seed)), expected)


def test_same_seed_same_codes_and_different_seed_different() -> None:
    prior = peaked_prior()
    a = sample(prior, 40, cpu_generator(7))
    b = sample(prior, 40, cpu_generator(7))
    c = sample(prior, 40, cpu_generator(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def first_steps(prior: CodePrior, n: int, seed: int, **kwargs) -> torch.Tensor:
    """``n`` independent draws of the first step (no context): the sampling distribution itself."""
    gen = cpu_generator(seed)
    return torch.cat([sample(prior, 1, gen, **kwargs) for _ in range(n)], dim=1)


def test_temperature_raises_entropy() -> None:
    prior = peaked_prior()
    cold = first_steps(prior, 120, 3, temperature=0.3)
    hot = first_steps(prior, 120, 3, temperature=3.0)
    assert entropy(hot, 16) > entropy(cold, 16) + 0.3
    logits = torch.randn(1, 32, generator=cpu_generator(0)) * 2
    draws = {t: torch.stack([sample_token(logits, g, temperature=t) for _ in range(600)])
             for t, g in ((0.5, cpu_generator(1)), (1.0, cpu_generator(1)), (2.0, cpu_generator(1)))}
    h = {t: entropy(d, 32) for t, d in draws.items()}
    assert h[0.5] < h[1.0] < h[2.0]


def test_top_k_one_is_greedy_and_zero_temperature_is_argmax() -> None:
    prior = peaked_prior()
    greedy = sample(prior, 30, cpu_generator(0), temperature=0.0)
    top1 = sample(prior, 30, cpu_generator(5), temperature=1.5, top_k=1)
    assert torch.equal(greedy, top1)
    logits = torch.randn(4, 10, generator=cpu_generator(2))
    assert torch.equal(sample_token(logits, cpu_generator(0), temperature=0.0), logits.argmax(-1))


def test_small_top_p_and_top_k_reduce_distinct_codes() -> None:
    prior = peaked_prior()
    full = first_steps(prior, 120, 4, temperature=2.0)
    nucleus = first_steps(prior, 120, 4, temperature=2.0, top_p=0.2)
    top3 = first_steps(prior, 120, 4, temperature=2.0, top_k=3)
    assert len(nucleus[0].unique()) < len(full[0].unique())
    assert len(top3[0].unique()) <= 3 < len(full[0].unique())
    assert entropy(top3, 16) < entropy(full, 16)


def test_filter_probs_values() -> None:
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert torch.allclose(filter_probs(logits, top_p=0.7), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert torch.allclose(filter_probs(logits, top_p=0.5), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(filter_probs(logits, top_k=3), torch.tensor([[0.5, 0.3, 0.15, 0.0]]) / 0.95)
    assert torch.allclose(filter_probs(logits), torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    hot = filter_probs(logits, temperature=4.0)
    assert hot.max() < 0.5 and math.isclose(float(hot.sum()), 1.0, rel_tol=1e-6)


def test_prior_loss_reports_levels_and_perplexity() -> None:
    prior = CodePrior(TOY_CONFIG)
    loss, stats = prior_loss(prior, toy_codes(32).view(2, 2, 16).permute(1, 0, 2))
    assert loss.ndim == 0 and loss.requires_grad
    assert {"ce_0", "ce_1", "perplexity_0", "perplexity_1", "perplexity", "accuracy", "loss"} <= set(stats)
    assert 4.0 < stats["perplexity"] < 16.0  # near-uniform over 8 codes at initialisation
    with pytest.raises(ValueError):
        prior(torch.zeros(1, 3, 8, dtype=torch.long))  # wrong level count
    with pytest.raises(ValueError):
        prior(torch.zeros(1, 2, 17, dtype=torch.long))  # longer than the context
    with pytest.raises(ValueError):
        prior(torch.full((1, 2, 4), 8, dtype=torch.long))  # code out of range


def test_sample_checks_arguments_events_and_cancel() -> None:
    prior = peaked_prior()
    for kwargs in ({"temperature": -1.0}, {"top_p": 0.0}, {"top_k": -2}, {"hop": 40},
                   {"prompt": torch.zeros(3, 4, dtype=torch.long)}, {"prompt": torch.full((2, 3), 99)}):
        with pytest.raises(ValueError):
            sample(prior, 5, cpu_generator(0), **kwargs)
    events = []
    out = sample(prior, 12, cpu_generator(0), on_event=events.append)
    assert out.shape == (2, 12) and out.dtype == torch.long
    assert {e.kind for e in events} == {"progress"} and events[-1].step == events[-1].total == 12
    assert events[-1].job == "generate"
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        sample(prior, 12, cpu_generator(0), cancel=token)
    assert sample(prior, 0, cpu_generator(0)).shape == (2, 0)


def test_random_code_windows_loops_short_sequences() -> None:
    seqs = [toy_codes(5), toy_codes(100)]
    batch = random_code_windows(seqs, 6, 12, cpu_generator(0))
    assert batch.shape == (6, 2, 12)
    again = random_code_windows(seqs, 6, 12, cpu_generator(0))
    assert torch.equal(batch, again)


def test_preset_priors_build() -> None:
    for name, spec in SIZES.items():
        prior = CodePrior(spec.prior)
        n = min(8, spec.prior.context_frames)
        logits = prior(torch.zeros(1, spec.prior.levels, n, dtype=torch.long))
        assert len(logits) == spec.prior.levels, name
        assert logits[0].shape == (1, n, spec.prior.codebook_size)


def test_memorisation_monitor_stops_on_rising_validation() -> None:
    monitor = MemorisationMonitor(patience=3)
    train = [20, 12, 8, 6, 4.5, 3.5, 2.8, 2.2]
    val = [21, 14, 10, 9, 9.6, 10.4, 11.5, 12.8]
    verdicts = [monitor.update(100 * (i + 1), t, v) for i, (t, v) in enumerate(zip(train, val, strict=True))]
    stops = [v.stop for v in verdicts]
    assert stops == [False] * 6 + [True, True]
    assert verdicts[6].best_step == 400 and verdicts[6].best_val_perplexity == 9
    assert "memoris" in verdicts[6].reason
    restored = MemorisationMonitor.from_dict(monitor.to_dict())
    assert restored.best_step == 400 and restored.update(900, 2.0, 14.0).stop


def test_memorisation_monitor_keeps_going_when_validation_falls_or_training_stalls() -> None:
    falling = MemorisationMonitor(patience=2)
    assert not any(falling.update(i, 20 / (i + 1), 21 / (i + 1)).stop for i in range(10))
    both_rise = MemorisationMonitor(patience=2)  # divergence, not memorisation
    assert not any(both_rise.update(i, 5 + i, 6 + i).stop for i in range(10))
    noisy = MemorisationMonitor(patience=3)  # within tolerance of the best: not "rising"
    assert not any(noisy.update(i, 10 - 0.1 * i, 5.0 if i % 2 else 5.01).stop for i in range(10))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_seed_gives_the_same_codes_on_cuda() -> None:
    prior = peaked_prior()
    on_cpu = sample(prior, 40, cpu_generator(11), top_p=0.9)
    on_gpu = sample(prior.to("cuda"), 40, cpu_generator(11), top_p=0.9)
    assert on_gpu.device.type == "cpu"
    assert torch.equal(on_cpu, on_gpu)
