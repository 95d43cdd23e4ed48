"""Dataset-scale jobs: one computation over every image of a folder, run by an
engine that already exists rather than one of cnnviz's own.

- :mod:`.base`: what a job is (a worker made once per process and applied to
  each shard of the stream, and the merge of the workers' partial results).
- :mod:`.merge`: the merges, by each job's algebra (top-k keeps the k largest,
  sums add, per-image outputs are already on storage).
- :mod:`.local`: one machine, ``tf.data`` (:mod:`cnnviz.data.stream`).
- :mod:`.ray_engine`: Ray Data, on a local Ray instance or a cluster
  (the optional extra ``pip install "cnnviz[ray]"``).

The jobs themselves live with what they compute: top patches in
:mod:`cnnviz.inside.top_patches`, per-image explanations in
:mod:`cnnviz.attribution.folder`, scores in :mod:`cnnviz.lab.evaluate`.
"""
from .base import Job
from .engines import ENGINES, check_engine, run

__all__ = ["ENGINES", "Job", "check_engine", "run"]
