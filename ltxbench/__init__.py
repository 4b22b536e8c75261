"""ltxbench: train and judge character LoRAs on LTX Video 2.3.

Stages (each a papermill notebook in notebooks/ that calls one function here):
``curate.curate(run)``, ``caption.caption(run)``, ``train.train(run)``, ``evaluate.evaluate(run)``.
A run folder is opened with :func:`open_run`. Importing the package loads no model and
configures no logging.
"""

from ltxbench.run.folder import Run, open_run

__version__ = "0.1.0"
__all__ = ["Run", "open_run", "__version__"]
