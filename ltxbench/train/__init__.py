"""The train stage: a LoRA on the LTX-2 transformer from cached latents and text embeddings (notebooks/03_train.ipynb,
``python -m ltxbench.train``).

Modules: :mod:`.loop` (the stage and its loop), :mod:`.schedule` (noise levels, learning rate, stages), :mod:`.setup`
(optimizer, quantization, sharding, state), :mod:`.data` (clips, caches, the sampler), :mod:`.prior` (prior
preservation), :mod:`.state` (resume), :mod:`.vram` and :mod:`.plan` (memory and time before launch), :mod:`.flops`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltxbench.util.exports import lazy_exports

if TYPE_CHECKING:
    from ltxbench.train.loop import TrainResult, train

_WHERE = {
    "train": "ltxbench.train.loop",
    "TrainResult": "ltxbench.train.loop",
}
__all__ = ["TrainResult", "train"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
