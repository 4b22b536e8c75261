"""Sweeps: the same notebooks over a grid of parameter overrides, each combination its own run.

A sweep file (``params/sweeps/*.yaml``, see :mod:`ltxbench.sweep.spec`) names a base params file
and a grid and/or a list of dotted-key overrides. :func:`run_sweep`:

1. validates every combination against the params schema before anything runs
   (:class:`SweepError` lists every problem and the runs it affects);
2. runs each combination through :func:`ltxbench.pipeline.run_pipeline` (the papermill pipeline
   of ``ltxbench run``) into ``runs/<sweep>/<run id>/``, the run id read from its overrides
   (``rank-8_lr-1e-3``);
3. on a local process pool (one GPU per run where GPUs exist) or as Ray tasks;
4. recording every run's status in ``runs/<sweep>/sweep.json`` (:mod:`ltxbench.sweep.state`):
   a failing run never stops the others, a rerun skips completed runs (and failed ones unless
   ``retry_failed``), a completed run is never overwritten, and Ctrl-C leaves the file consistent.

The comparison of a sweep's runs is :mod:`ltxbench.compare` (notebook ``05_compare.ipynb``).
Importing this package starts nothing and imports neither Ray nor papermill.
"""

from ltxbench.sweep.command import add_sweep_parser, main, run_sweep_cli
from ltxbench.sweep.executors import ExecutorUnavailable, RunTask, execute_run, visible_gpus
from ltxbench.sweep.runner import RunPlan, SweepResult, plan_runs, run_sweep
from ltxbench.sweep.spec import Sweep, SweepError, SweepRun, assign_ids, load_sweep, readable_id, value_label
from ltxbench.sweep.state import SWEEP_JSON, SweepBusy, read_sweep_json

__all__ = [
    "SWEEP_JSON", "ExecutorUnavailable", "RunPlan", "RunTask", "Sweep", "SweepBusy", "SweepError", "SweepResult",
    "SweepRun", "add_sweep_parser", "assign_ids", "execute_run", "load_sweep", "main", "plan_runs",
    "read_sweep_json", "readable_id", "run_sweep", "run_sweep_cli", "value_label", "visible_gpus",
]
