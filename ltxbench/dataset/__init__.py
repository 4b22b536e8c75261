"""The dataset contract every stage reads: the manifest (:mod:`.manifest`) and the reasons a clip is rejected (:mod:`.reasons`)."""

from __future__ import annotations
