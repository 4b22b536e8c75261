"""Per-video evaluation metrics: pure functions on frames, face tracks and embeddings.

One module per question the evaluate stage asks of a generated video (``docs/evaluation.md``
defines every metric, its scale and its direction):

* :mod:`.identity`: is it the character? (dlib identity similarity; FaceSim-Arc with ArcFace)
* :mod:`.drift`: does the face stay the same person through the clip?
* :mod:`.bleed`: with several characters, does one prompt's face look like another character?
* :mod:`.motion`: does the LoRA keep the base model's motion?
* :mod:`.overfit`: does it copy training clips, and do different prompts still give different videos?
* :mod:`.adherence`: does the video match its prompt (CLIP score)?
* :mod:`.stats`: bootstrap confidence intervals for the per-checkpoint summaries.

Nothing here reads or writes run folders; :mod:`ltxbench.evaluate` wires these into the stage.
No metric is ever invented: a value that cannot be measured (no face, too few frames) is absent
or ``None``, never 0.
"""
