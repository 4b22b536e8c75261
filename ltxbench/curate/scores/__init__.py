"""Clip scoring for the curate stage: one small module per measurement, one entry point.

:func:`clip.score_clip` turns a clip's decoded frames into the manifest's ``scores`` and the
face/quality reasons; curate adds the source-level reasons and the run-level duplicate groups.

=================  ==========================================================================
module             measures
=================  ==========================================================================
``identity``       which character's reference photos the faces match (dlib distance)
``pose``           head yaw from the 68 landmarks, front / three_quarter / profile
``expression``     smile from the mouth corners, talking from mouth-opening variation
``lighting``       brightness, RMS contrast, McCamy colour temperature, dark / normal / bright
``framing``        close_up / medium / wide from the face height
``sharpness``      focus (normalised Laplacian variance) and motion-blur anisotropy of the face
``compression``    8x8 blockiness at the source resolution
``style``          photoreal footage or stylised animation (smooth surfaces without grain)
``duplicates``     DCT hash for near-duplicates, colour layout of the background
``reasons``        the reason codes and their sentences
=================  ==========================================================================
"""
