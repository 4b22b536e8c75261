"""Model FLOPs of the LTX-2 audio-video transformer, counted analytically from its config.

Used for model-FLOPs utilisation (MFU) in ``benchmarks/bench_train_step_gpu.py``. Counts matrix
multiplies only (one multiply-add = 2 FLOPs), which is where all but a fraction of a percent of
the work is: every Linear of the 48 blocks and the in/out projections, plus the attention scores
(``Q·Kᵀ``) and the weighted sum (``A·V``). Left out, because they are per-sample rather than
per-token or element-wise: the timestep/σ embedding MLPs and modulation tables, norms, RoPE,
activations, softmax. ``tests/test_train.py`` checks the count against PyTorch's own
``FlopCounterMode`` on the tiny transformer, with attention on SDPA's math backend (two ``bmm``
per call): the forward's attention matmuls agree exactly, its weight matmuls within 1% (the
per-sample MLPs left out). Under the fused attention kernels the counter's total depends on the torch
version (torch 2.14.1 has no formula for the CPU flash kernel and reports about half), so these
FLOPs are the model's, whatever kernel runs them.

Per block (``dv``/``da`` video/audio widths, ``Hv``/``Ha`` heads, ``cv``/``ca`` text widths the
cross-attention keys read, ``Tv``/``Ta``/``Tt`` video/audio/text tokens, feed-forward 4× wide):

* video self-attention: q, k, v, out (``4·dv²``) and per-head gate (``dv·Hv``) on ``Tv`` tokens,
  scores and sum ``2·Tv²·dv``;
* video→text cross-attention: q, out, gate on ``Tv``; k, v (``cv → dv``) on ``Tt``; ``2·Tv·Tt·dv``;
* the same two for audio (``da``, ``Ha``, ``ca``, ``Ta``);
* audio→video attention (video queries, audio keys, inner width ``da``): q ``dv → da`` and out
  ``da → dv`` and gate on ``Tv``; k, v ``da → da`` on ``Ta``; ``2·Tv·Ta·da``;
* video→audio attention (audio queries, video keys): q, out ``da → da`` and gate on ``Ta``;
  k, v ``dv → da`` on ``Tv``; ``2·Ta·Tv·da``;
* feed-forward ``dv → 4dv → dv`` on ``Tv``, ``da → 4da → da`` on ``Ta``.

A LoRA training step on a frozen base costs the forward plus a backward that computes activation
gradients only: one matmul per weight matmul (no weight gradients for the frozen base), two per
attention matmul (both of its operands are activations), so weight matmuls count 2× and
attention matmuls 3× their forward FLOPs. This is the usual "model FLOPs" convention and an upper
bound on what autograd runs: it skips the gradients no input needs (the patch-in projections of
the data, the key/value projections of the frozen text embeddings), 5% of the step on the tiny
model with every attention projection adapted. The LoRA's own matmuls (rank ≪ width: about 1% at
rank 32 on a 4096 width) are not counted. Gradient checkpointing adds a recomputed forward: hardware FLOPs, not model FLOPs, so
MFU (model FLOPs / time / peak) does not credit it — the convention of the PaLM paper's MFU.
"""

from __future__ import annotations

from typing import Any, Mapping

FF_MULT = 4  # diffusers' FeedForward default, used by both LTX-2 streams


def forward_flops_split(config: Mapping[str, Any], video_tokens: int, audio_tokens: int, text_tokens: int
                        ) -> tuple[int, int]:
    """Matmul FLOPs of one forward pass, split into (weight matmuls, attention score/sum matmuls)."""
    hv, ha = config["num_attention_heads"], config["audio_num_attention_heads"]
    dv, da = hv * config["attention_head_dim"], ha * config["audio_attention_head_dim"]
    cv, ca = config["cross_attention_dim"], config["audio_cross_attention_dim"]
    tv, ta, tt = video_tokens, audio_tokens, text_tokens
    weights = (
        tv * (4 * dv * dv + dv * hv) + ta * (4 * da * da + da * ha)  # self-attention: q, k, v, out, gate
        + tv * (2 * dv * dv + dv * hv) + tt * 2 * cv * dv  # video <- text
        + ta * (2 * da * da + da * ha) + tt * 2 * ca * da  # audio <- text
        + tv * (2 * dv * da + dv * ha) + ta * 2 * da * da  # audio -> video (video queries)
        + ta * (2 * da * da + da * ha) + tv * 2 * dv * da  # video -> audio (audio queries)
        + tv * 2 * FF_MULT * dv * dv + ta * 2 * FF_MULT * da * da  # feed-forward
    ) * config["num_layers"]
    weights += tv * (config["in_channels"] * dv + dv * config["out_channels"])  # patch projections
    weights += ta * (config["audio_in_channels"] * da + da * config["audio_out_channels"])
    attention = (2 * tv * tv * dv + 2 * ta * ta * da + 2 * tv * tt * dv + 2 * ta * tt * da
                 + 2 * tv * ta * da + 2 * ta * tv * da) * config["num_layers"]  # Q·Kᵀ and A·V
    return 2 * weights, 2 * attention


def transformer_forward_flops(config: Mapping[str, Any], video_tokens: int, audio_tokens: int, text_tokens: int) -> int:
    """Matmul FLOPs of one forward pass of ``LTX2VideoTransformer3DModel`` with ``config``."""
    return sum(forward_flops_split(config, video_tokens, audio_tokens, text_tokens))


def train_step_model_flops(config: Mapping[str, Any], video_tokens: int, audio_tokens: int, text_tokens: int,
                           batch_size: int = 1) -> int:
    """Model FLOPs of one LoRA training step on a frozen base: weight matmuls 2× their forward
    (forward + input gradient), attention matmuls 3× (both operands need gradients)."""
    weights, attention = forward_flops_split(config, video_tokens, audio_tokens, text_tokens)
    return batch_size * (2 * weights + 3 * attention)


def video_tokens(num_frames: int, height: int, width: int) -> int:
    """Video latent tokens: ``((F-1)/8 + 1) · H/32 · W/32`` (patch size 1)."""
    return ((num_frames - 1) // 8 + 1) * (height // 32) * (width // 32)


def audio_tokens(num_frames: int, frame_rate: float, per_second: float = 25.0) -> int:
    """Audio latent tokens paired with ``num_frames`` at ``frame_rate`` (25 per second, as the pipeline)."""
    return round(num_frames / frame_rate * per_second)
