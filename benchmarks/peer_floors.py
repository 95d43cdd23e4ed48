"""The peers' side of ``python benchmarks/run.py --peers``: a worker run in
the peers' virtual environment (../shared/PEERS.md: xplique, tf-keras-vis,
cleverhans on Keras 3) that reads one JSON request a line on stdin and
answers one JSON line on stdout:

- ``{"op": "names"}``: the peer libraries installed here, with versions;
- ``{"op": "prepare", "job": ..., "batch": ...}``: builds every peer that has
  the job on the same model, inputs and sizes as floors.py, warms each up
  (tracing) and answers the names of those that ran;
- ``{"op": "run", "peer": ...}``: times one call of that peer, in seconds.

A peer that fails to build or run is left out of the row, its error on stderr.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import time
import traceback

import floors
import numpy as np

LIBRARIES = ("xplique", "tf-keras-vis", "cleverhans")


def installed() -> list[str]:
    names = []
    for library in LIBRARIES:
        try:
            names.append(f"{library} {importlib.metadata.version(library)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return names


def _functional(model):
    import keras

    return keras.Model(model.inputs, model.outputs)          # tf-keras-vis needs a functional model


def xplique_peers(job, model, logits, x, hot, o) -> dict:
    """xplique's explainer of ``job`` (all take the logits model but the black boxes, which take probabilities)."""
    import tensorflow as tf
    import xplique.attributions as xa

    from cnnviz.attribution.lime import Superpixels

    made = {
        "saliency": lambda: xa.Saliency(logits, batch_size=floors.CHUNK),
        "gradient_x_input": lambda: xa.GradientInput(logits, batch_size=floors.CHUNK),
        "smoothgrad": lambda: xa.SmoothGrad(logits, batch_size=floors.CHUNK, nb_samples=o.get("samples"),
                                            noise=o.get("noise")),
        "integrated_gradients": lambda: xa.IntegratedGradients(logits, batch_size=floors.CHUNK,
                                                               steps=o.get("steps", 0) + 1, baseline_value=0.0),
        "guided_backprop": lambda: xa.GuidedBackprop(_fresh_logits(), batch_size=floors.CHUNK),
        "gradcam": lambda: xa.GradCAM(logits, batch_size=floors.CHUNK, conv_layer=floors.LAYER),
        "gradcam++": lambda: xa.GradCAMPP(logits, batch_size=floors.CHUNK, conv_layer=floors.LAYER),
        "occlusion": lambda: xa.Occlusion(model, batch_size=floors.CHUNK, patch_size=o.get("patch"),
                                          patch_stride=o.get("stride"), occlusion_value=0.5),
        "rise": lambda: xa.Rise(model, batch_size=floors.CHUNK, nb_samples=o.get("n_masks"), grid_size=7,
                                preservation_probability=0.5),
        "lime": lambda: xa.Lime(model, batch_size=100, nb_samples=o.get("samples"),
                                map_to_interpret_space=lambda image: tf.constant(
                                    Superpixels()(np.asarray(image, np.float64)), tf.int32)),
    }
    if job not in made:
        return {}
    explainer = made[job]()
    return {f"xplique {type(explainer).__name__}": lambda: np.asarray(explainer.explain(x, hot))}


def _fresh_logits():
    """xplique's GuidedBackprop overrides the ReLUs of the model it is given: a copy of its own."""
    from cnnviz import load_model
    from cnnviz.models.surgery import logits_model

    return logits_model(load_model(floors.MODEL))


def tf_keras_vis_peers(job, model, x, targets, o) -> dict:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore(list(targets))
    linear = {"model_modifier": ReplaceToLinear(), "clone": True}
    if job == "saliency":
        tool = Saliency(_functional(model), **linear)
        return {"tf-keras-vis Saliency": lambda: tool(score, x)}
    if job == "smoothgrad":
        tool = Saliency(_functional(model), **linear)
        return {"tf-keras-vis Saliency (smooth)": lambda: tool(score, x, smooth_samples=o["samples"],
                                                               smooth_noise=o["noise"])}
    if job in ("gradcam", "gradcam++"):
        kind = Gradcam if job == "gradcam" else GradcamPlusPlus
        tool = kind(_functional(model), **linear)
        return {f"tf-keras-vis {kind.__name__}": lambda: tool(score, x, penultimate_layer=floors.LAYER)}
    if job == "scorecam":
        tool = Scorecam(_functional(model), clone=True)
        return {"tf-keras-vis Scorecam": lambda: tool(score, x, penultimate_layer=floors.LAYER,
                                                      batch_size=floors.CHUNK)}
    return {}


def cleverhans_peers(job, model, logits, pixels, targets, o) -> dict:
    if job not in floors.ATTACKS:
        return {}
    import tensorflow as tf
    from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    x, y, eps = tf.constant(pixels), tf.constant(targets), o["eps"]     # cifar10_cnn takes [0, 1] pixels

    def run():
        if job == "fgsm":
            adv = fast_gradient_method(logits, x, eps, np.inf, clip_min=0.0, clip_max=1.0, y=y)
        else:
            steps = o["steps"]
            adv = projected_gradient_descent(logits, x, eps, 2.5 * eps / steps, steps, np.inf, clip_min=0.0,
                                             clip_max=1.0, y=y, rand_init=True, sanity_checks=False)
        return adv.numpy(), tf.nn.softmax(logits(adv)).numpy()         # to predictions, as cnnviz

    return {"cleverhans " + ("fast_gradient_method" if job == "fgsm" else "projected_gradient_descent"): run}


class Worker:
    def __init__(self):
        import keras

        from cnnviz import load_model
        from cnnviz.models.surgery import logits_model

        keras.config.disable_interactive_logging()        # tf-keras-vis calls model.predict: no progress bars
        self.model = load_model(floors.MODEL)
        self.logits = logits_model(self.model)
        self.runs: dict = {}

    def prepare(self, job: str, batch: int) -> list[str]:
        from cnnviz.attribution.base import onehot

        x, pixels, targets = floors.inputs(self.model, batch)
        hot = onehot(targets, int(self.model.outputs[0].shape[-1]))
        o = floors.options(job, batch)
        builders = {"xplique": lambda: xplique_peers(job, self.model, self.logits, x, hot, o),
                    "tf-keras-vis": lambda: tf_keras_vis_peers(job, self.model, x, targets, o),
                    "cleverhans": lambda: cleverhans_peers(job, self.model, self.logits, pixels, targets, o)}
        self.runs = {}
        for library, build in builders.items():
            try:
                for name, run in build().items():
                    run()                                   # warm-up: tracing
                    self.runs[name] = run
            except Exception:                               # a peer that fails is left out, and says why
                print(f"{library} on {job}, batch {batch}:\n{traceback.format_exc()}", file=sys.stderr)
        return list(self.runs)

    def time(self, peer: str) -> float:
        start = time.perf_counter()
        self.runs[peer]()
        return time.perf_counter() - start


def main() -> int:
    answers = os.fdopen(os.dup(1), "w")      # the answers' own channel: whatever the libraries print goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker()
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "names":
            answer = {"names": installed()}
        elif request["op"] == "prepare":
            answer = {"ready": worker.prepare(request["job"], request["batch"])}
        else:
            answer = {"seconds": worker.time(request["peer"])}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
