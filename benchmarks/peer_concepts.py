"""cnnviz's TCAV and CRAFT against xplique's ``Cav`` / ``Tcav`` / ``CraftTf``
on the same model, layer, images and seeds, timed in the same run.

Run in the peers' virtual environment (xplique there, as ../shared/PEERS.md
says; never a cnnviz dependency)::

    PYTHONPATH=. CNNVIZ_DATA=... /work/peers-venv/bin/python benchmarks/peer_concepts.py

Model: the shipped ``mnist_cnn`` with its softmax made linear, for both
sides (xplique's ``Tcav`` differentiates ``model.output``, which for a
softmax model is the probability; TCAV's paper and cnnviz use the logit);
images: MNIST test images. For each run i cnnviz fits its CAV with one ``RandomState(seed + i)``
for the split and the SGD classifier; xplique's ``Cav`` draws both from
NumPy's global state, seeded with ``np.random.seed(seed + i)`` before its fit,
so both fit the same classifier on the same split. CRAFT: the same crops
(``tf.image.extract_patches`` and bicubic resizing on both sides), NMF with
``alpha_W=1e-2`` and its deterministic NNDSVDA start, Halton designs and
Jansen's estimator.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def tcav_side_by_side(model, x, y, layer: str, runs: int, seed: int = 0) -> dict:
    from sklearn.model_selection import train_test_split
    from xplique.concepts import Cav, Tcav

    from cnnviz.concepts import tcav
    from cnnviz.concepts.tcav import _random_sets
    from cnnviz.models.inputs import dataset_inputs
    rng = np.random.default_rng(seed)
    target = 7
    concepts = {"ones": x[y == 1][:50], "zeros": x[y == 0][:50]}
    pool = x[rng.choice(np.flatnonzero((y != 1) & (y != 0) & (y != target)), 200, replace=False)]
    images = x[y == target][:100]
    ours, t_ours = _timed(lambda: tcav(model, images, target, layer, concepts, pool, runs=runs, seed=seed))

    logits = model
    inputs = {name: dataset_inputs(model, px) for name, px in concepts.items()}
    pool_x, target_x = dataset_inputs(model, pool), dataset_inputs(model, images)
    pairs = _random_sets(len(pool_x), 50, runs, seed)

    def xplique_runs():
        tester = Tcav(logits, layer, batch_size=64)
        scores, accs = np.zeros((len(concepts), runs)), np.zeros((len(concepts), runs))
        rscores, raccs = np.zeros(runs), np.zeros(runs)
        for i, (others, negatives) in enumerate(pairs):
            sets = [(k, inputs[name]) for k, name in enumerate(concepts)] + [(None, pool_x[others])]
            for k, positive in sets:
                cav_maker = Cav(logits, layer, classifier="SGD", test_fraction=0.2, batch_size=64)
                np.random.seed(seed + i)
                cav = cav_maker.fit(positive, pool_x[negatives])
                np.random.seed(seed + i)              # xplique's own split again, to read its held-out accuracy
                acts = np.concatenate([cav_maker.bottleneck_model.predict(positive, verbose=0),
                                       cav_maker.bottleneck_model.predict(pool_x[negatives], verbose=0)])
                labels = np.array([1] * len(positive) + [0] * len(negatives), np.float32)
                _, x_test, _, y_test = train_test_split(acts.reshape(len(acts), -1), labels, test_size=0.2)
                accuracy = cav_maker.classifier.score(x_test, y_test)
                score = tester.score(target_x, target, cav)
                if k is None:
                    rscores[i], raccs[i] = score, accuracy
                else:
                    scores[k, i], accs[k, i] = score, accuracy
        return scores, accs, rscores, raccs

    (scores, accs, rscores, raccs), t_peer = _timed(xplique_runs)
    return {"layer": layer, "runs": runs, "concepts": list(concepts),
            "scores_equal": bool(np.array_equal(ours.scores[0], scores) and np.array_equal(ours.random_scores[0],
                                                                                           rscores)),
            "accuracies_equal": bool(np.array_equal(ours.accuracies[0], accs)
                                     and np.array_equal(ours.random_accuracies[0], raccs)),
            "max_score_difference": float(max(np.abs(ours.scores[0] - scores).max(),
                                              np.abs(ours.random_scores[0] - rscores).max())),
            "max_accuracy_difference": float(max(np.abs(ours.accuracies[0] - accs).max(),
                                                 np.abs(ours.random_accuracies[0] - raccs).max())),
            "cnnviz_mean": ours.mean[0].tolist(), "xplique_mean": scores.mean(1).tolist(),
            "p_values": ours.p_values[0].tolist(), "cnnviz_s": t_ours, "xplique_s": t_peer}


def craft_side_by_side(model, x, y, layer: str, k: int, patch: int, n: int) -> dict:
    from xplique.concepts import CraftTf

    from cnnviz.concepts import craft
    from cnnviz.models.graph import feature_model
    from cnnviz.models.inputs import dataset_inputs
    from cnnviz.models.surgery import head_model

    target = 3
    images = x[y == target][:n]
    ours, t_ours = _timed(lambda: craft(model, images, target, layer, k=k, patch=patch, designs=32))
    latent, head = feature_model(model, [layer]), head_model(model, layer)
    inputs = dataset_inputs(model, images)

    def xplique_run():
        peer = CraftTf(latent, head, number_of_concepts=k, batch_size=64, patch_size=patch)
        _, u, w = peer.fit(inputs, class_id=target)
        return w, peer.estimate_importance(nb_design=32)

    (w, importances), t_peer = _timed(xplique_run)
    w_ours = np.empty_like(ours.bank)
    w_ours[ours.components] = ours.bank                    # back to the NMF's own order
    imp_ours = np.empty_like(ours.importances)
    imp_ours[ours.components] = ours.importances
    return {"layer": layer, "k": k, "patch": patch, "images": int(len(images)), "crops": ours.n_crops,
            "bank_max_relative_difference": float(np.abs(w_ours - w).max() / max(np.abs(w).max(), 1e-12)),
            "importance_max_difference": float(np.abs(imp_ours - np.asarray(importances)).max()),
            "same_ranking": bool(np.array_equal(np.argsort(-imp_ours), np.argsort(-np.asarray(importances)))),
            "cnnviz_importances": imp_ours.tolist(), "xplique_importances": np.asarray(importances).tolist(),
            "cnnviz_s": t_ours, "xplique_s": t_peer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--layer", default="conv2")
    parser.add_argument("--craft-images", type=int, default=50)
    args = parser.parse_args()
    import keras  # TensorFlow and cnnviz's model code are heavy: loaded once the arguments are read

    from cnnviz.data.datasets import load_mnist
    from cnnviz.models.zoo import load_model

    keras.config.disable_interactive_logging()       # no progress line per predict call
    shipped = load_model("mnist_cnn")
    model = keras.models.clone_model(shipped)      # with layers of its own: xplique reads ``layer.output``
    model.set_weights(shipped.get_weights())
    model.layers[-1].activation = keras.activations.linear     # the logits, for both sides
    (_, _), (x, y) = load_mnist()
    x = x[..., None]
    tcav_rows = tcav_side_by_side(model, x, y, args.layer, args.runs)
    tcav_side_by_side(model, x, y, args.layer, 2)        # both sides warm now (compiled functions, Keras graphs)
    tcav_rows = tcav_side_by_side(model, x, y, args.layer, args.runs)
    craft_side_by_side(model, x, y, args.layer, 5, 10, 5)
    craft_rows = craft_side_by_side(model, x, y, args.layer, 5, 10, args.craft_images)
    print(json.dumps({"tcav": tcav_rows, "craft": craft_rows}, indent=2))
    print(f"\n| method | cnnviz s | xplique s | xplique / cnnviz | equal |\n|---|---|---|---|---|\n"
          f"| TCAV, 2 concepts + random, {args.runs} runs, {args.layer} | {tcav_rows['cnnviz_s']:.2f} | "
          f"{tcav_rows['xplique_s']:.2f} | {tcav_rows['xplique_s'] / tcav_rows['cnnviz_s']:.1f} | "
          f"scores {tcav_rows['scores_equal']}, accuracies {tcav_rows['accuracies_equal']} |\n"
          f"| CRAFT, k=5, {args.craft_images} images, patch 10, {args.layer} | {craft_rows['cnnviz_s']:.2f} | "
          f"{craft_rows['xplique_s']:.2f} | {craft_rows['xplique_s'] / craft_rows['cnnviz_s']:.1f} | "
          f"W rel. diff {craft_rows['bank_max_relative_difference']:.1e}, importances diff "
          f"{craft_rows['importance_max_difference']:.1e}, ranking {craft_rows['same_ranking']} |")


if __name__ == "__main__":
    main()
