"""What the concept methods share: a layer set's activations in one batched
forward pass, and the gradients of a class logit with respect to several
layers in one backward pass, each compiled once per model and layer set; and
per-image rows (activations) of an image set streamed from disk as a dataset
job, on the local engine or Ray, so only the rows stay in memory."""
from __future__ import annotations

import weakref
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.runtime import model_cache
from ..data.stream import ImageFiles
from ..jobs import run as run_job
from ..jobs.base import Job
from ..models.engine import feature_function, once_per_model
from ..models.graph import feature_model, layer_names, qualified_name
from ..models.inputs import dataset_inputs, stream_size
from ..models.surgery import logits_layer_name, logits_model

BATCH = 64
_GRADIENTS: "weakref.WeakKeyDictionary" = model_cache()


def layer_list(model, layers) -> list[str]:
    """``layers`` (one name or several) as qualified names, checked against the model."""
    names = [layers] if isinstance(layers, str) else list(layers or [])
    if not names:
        raise CnnvizError("no layer given: name at least one layer of the model (--layer NAME)")
    return list(dict.fromkeys(qualified_name(model, n) for n in names))


def activations(model, x: np.ndarray, layers: Sequence[str], batch_size: int = BATCH,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                message: str = "activations") -> list[np.ndarray]:
    """Each layer's activations for ``x``, one forward pass per batch shared by all layers."""
    fn = feature_function(model, tuple(layers))
    parts = []
    for start in range(0, len(x), batch_size):
        check(cancel)
        report(progress, start, len(x), message)
        outs = fn(np.asarray(x[start:start + batch_size], np.float32))
        parts.append([np.asarray(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])])
    report(progress, len(x), len(x), message)
    return [np.concatenate(p) for p in zip(*parts)]


def _gradient_function(model, layers: tuple[str, ...]):
    """Compiled ``(x, onehot) -> [dS/dA_l for each layer]`` with S the selected
    logit (the pre-softmax class score, as TCAV's directional derivative uses)."""
    per_model = _GRADIENTS.setdefault(model, {})
    if layers not in per_model:
        import tensorflow as tf


        logits = logits_model(model)
        net = feature_model(logits, [*(logits_layer_name(model, n) for n in layers), layer_names(logits)[-1]])

        def fn(x, selector):
            with tf.GradientTape() as tape:
                outs = net(x, training=False)
                score = tf.reduce_sum(outs[-1] * selector, axis=-1)
            return tape.gradient(score, list(outs[:-1]))

        per_model[layers] = once_per_model(fn)
    return per_model[layers]


def class_gradients(model, x: np.ndarray, target: int, layers: Sequence[str], batch_size: int = BATCH,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> list[np.ndarray]:
    """Gradients of the ``target`` logit with respect to each layer's
    activations, (N, *layer shape) per layer, from one backward pass per batch."""
    fn = _gradient_function(model, tuple(layers))
    n_classes = int(model.outputs[0].shape[-1])
    selector = np.zeros((1, n_classes), np.float32)
    selector[0, target] = 1
    parts = []
    for start in range(0, len(x), batch_size):
        check(cancel)
        report(progress, start, len(x), "class gradients")
        batch = np.asarray(x[start:start + batch_size], np.float32)
        parts.append([np.asarray(g) for g in fn(batch, np.repeat(selector, len(batch), 0))])
    report(progress, len(x), len(x), "class gradients")
    return [np.concatenate(p) for p in zip(*parts)]


def flat(a: np.ndarray) -> np.ndarray:
    """(N, ...) to (N, D)."""
    return a.reshape(len(a), -1)


def layer_rows(model, x: np.ndarray, layers: Sequence[str]) -> list[np.ndarray]:
    """The layers' activations of a batch: the rows TCAV's sets stream."""
    return activations(model, x, layers, len(x))


class RowsJob(Job):
    """Per shard of an image set's files: ``rows(model, x)`` (arrays with one
    row block per image) with the images' positions in the listing, so the
    partials merge in any order and sort back into the listing's."""

    def __init__(self, rows):
        self.rows = rows

    def worker(self, model):
        def work(shard) -> dict:
            if not len(shard.index):
                return {}
            outs = self.rows(model, dataset_inputs(model, shard.pixels))
            return {"index": shard.index.astype(np.int64), **{f"rows{i}": o for i, o in enumerate(outs)}}

        return work

    def empty(self) -> dict:
        return {}

    def merge(self, total: dict, partial: dict) -> dict:
        return {key: np.concatenate([total[key], part]) if key in total else part
                for key, part in partial.items()} or total


def stream_rows(model, files: ImageFiles, rows, batch_size: int, engine: str, workers: Optional[int] = None,
                address: Optional[str] = None, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None):
    """``rows`` of every image of ``files`` decoded through the stream on
    ``engine``: (the arrays in the listing's order, the decoded images'
    positions in it, the stream's report)."""
    total, read = run_job(RowsJob(rows), model, files, stream_size(model), batch_size, engine, workers, address,
                          progress, cancel)
    order = np.argsort(total["index"], kind="stable")
    n = len([key for key in total if key.startswith("rows")])
    return [total[f"rows{i}"][order] for i in range(n)], total["index"][order], read
