"""The kinds of item the decks share, each a function of the :class:`Lab`
that computes cnnviz's figure and number with cnnviz's own API (the same
calls the printed command makes) and says how it differs from the deck's."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..data.datasets import class_sample, mixed_sample
from ..data.sources import load_dataset
from ..data.stream import list_images
from ..inside.activations import channel_histograms
from ..inside.arithmetic import FIXED_KERNELS, FIXED_TEXT, apply_fixed_kernel, unit_arithmetic
from ..inside.filters import filter_weights
from ..inside.network import model_graph
from ..inside.top_patches import silent_channels
from ..lab.evaluate import evaluate
from ..lab.training import run_label, stage_marks
from ..lab.transfer import dataset_features, fit_transfer
from ..models import zoo
from ..models.inputs import dataset_inputs, load_image
from ..models.predict import predict
from ..synthesis.maximize import synthesize_channels
from .base import NOT_RECORDED, Lab, Outcome, accuracy_difference, count_difference

# matplotlib's figures load with the first item that draws (heavy, like every figure module's import)


def parameters(arch: str, deck: Optional[int], approximate: bool = False):
    """The architecture's parameter count against the deck's."""
    def run(lab: Lab) -> Outcome:
        count = zoo.build_model(arch).count_params()
        return Outcome(f"{count:,} parameters", count_difference(deck, count, approximate),
                       [f"cnnviz summary {arch}"])
    return run


def training(arch: str, deck_accuracy: Optional[float] = None, key: Optional[str] = None,
             flags: tuple[str, ...] = (), **options):
    """Train the architecture by the run's recipe: its test accuracy and learning curves."""
    def run(lab: Lab) -> Outcome:
        from ..plots.training import curves_figure

        name = key or arch
        _, card, command = lab.trained(arch, name, flags, **options)
        accuracy = card["metrics"]["test_accuracy"]
        figure_path = lab.path(f"{name}_curves.png")
        fig = curves_figure([card["history"]], [run_label(card, name)],
                            f"{arch} on {card['dataset']}: test accuracy {accuracy:.2%}", [stage_marks(card)])
        notes = f"; {card['head']}" if card.get("head") else ""
        epochs = f"{card['epochs']} epoch{'s' if card['epochs'] != 1 else ''}"
        return Outcome(f"test accuracy {accuracy:.2%} after {epochs} on "
                       f"{card['recipe']['train_images']:,} images{notes}",
                       accuracy_difference(lab, deck_accuracy, accuracy, "test accuracy"),
                       [command, f"cnnviz curves {lab.shown(lab.path('models', name + '.keras'))} -o "
                                 f"{lab.shown(figure_path)}"], fig)
    return run


def confusion(arch: str, key: Optional[str] = None, shipped: bool = False):
    """The trained (or ``shipped``) model's confusion matrix on test images, class names on both axes."""
    def run(lab: Lab) -> Outcome:
        from ..plots.inside import confusion_figure

        name = key or arch
        if shipped:
            model, commands, spec = zoo.load_model(arch), [], arch
        else:
            model, _, command = lab.trained(arch, name)
            commands, spec = [command], lab.shown(lab.path("models", name + ".keras"))
        limit = lab.recipe.test_limit
        result = evaluate(model, limit=limit, progress=lab.progress, cancel=lab.cancel)
        worst = np.unravel_index(np.argmax(result.confusion - np.diag(np.diag(result.confusion))),
                                 result.confusion.shape)
        fig = confusion_figure(result.confusion, result.classes,
                               f"{name} on {result.n} {result.dataset} test images: accuracy {result.accuracy:.2%}")
        limit_flag = f" --limit {limit}" if limit else ""
        return Outcome(f"accuracy {result.accuracy:.2%} on {result.n:,} test images; most confused: "
                       f"true {result.classes[worst[0]]} as {result.classes[worst[1]]} "
                       f"({result.confusion[worst]} images)", f"{NOT_RECORDED}; rows and columns named by class",
                       [*commands, f"cnnviz evaluate {spec}{limit_flag} -o "
                                   f"{lab.shown(lab.path(name + '_confusion.png'))}"],
                       fig, not zoo.model_info(model).trained)
    return run


def predictions(arch: str, dataset: str, per_class: int = 2, key: Optional[str] = None):
    """Test images from a folder (one sub-folder per class) with true and predicted class."""
    def run(lab: Lab) -> Outcome:
        from ..plots.training import image_grid_figure

        name = key or arch
        model, _, command = lab.trained(arch, name)
        folder = lab.test_folder(dataset, per_class)
        files = list_images(folder)
        loaded = [load_image(p, model) for p in files.paths]
        results = predict(model, np.stack([im.x for im in loaded]), 1)
        truths = [files.classes[i] for i in files.labels]
        right = [r[0].name == t for r, t in zip(results, truths)]
        captions = [f"true {t}\n{r[0].name} {r[0].probability:.0%}" for r, t in zip(results, truths)]
        fig = image_grid_figure([im.display for im in loaded], captions,
                                f"{name}: true class (folder) and top class of {len(loaded)} images",
                                ["darkgreen" if ok else "firebrick" for ok in right])
        return Outcome(f"{sum(right)} of {len(right)} test images classified right", NOT_RECORDED,
                       [command, f"cnnviz predict {lab.shown(folder)} --model "
                                 f"{lab.shown(lab.path('models', name + '.keras'))} -o "
                                 f"{lab.shown(lab.path(name + '_predictions.png'))}"], fig)
    return run


def samples(dataset: str, per_class: int = 8, mixed: Optional[int] = None):
    """A seeded sample of each class of the dataset, a row per class, or
    ``mixed`` images of every class in one grid, each captioned."""
    def run(lab: Lab) -> Outcome:
        from ..plots.training import image_grid_figure, samples_figure

        data = load_dataset(dataset, progress=lab.progress, cancel=lab.cancel)
        y = np.asarray(data.y_train).reshape(-1)
        out = lab.shown(lab.path(dataset + "_samples.png"))
        if mixed:
            pick = mixed_sample(y, mixed, lab.seed)
            fig = image_grid_figure(data.x_train[pick], [data.classes[c] for c in y[pick]],
                                    f"{data.name}: {mixed} random train images, classes mixed", max_cols=10)
            command = f"cnnviz samples {dataset} --mixed {mixed} --seed {lab.seed} -o {out}"
        else:
            pick = class_sample(y, per_class, lab.seed)
            fig = samples_figure(data.x_train[pick], y[pick], data.classes,
                                 f"{data.name}: {per_class} random train images per class")
            command = f"cnnviz samples {dataset} --per-class {per_class} --seed {lab.seed} -o {out}"
        counts = np.bincount(y, minlength=len(data.classes))
        shown = np.bincount(y[pick], minlength=len(data.classes))
        return Outcome(f"{len(data.classes)} classes, {len(y):,} training images ({counts.min():,} to "
                       f"{counts.max():,} per class); the grid: {len(pick)} images, {shown.min()} to {shown.max()} "
                       f"of each class", f"{NOT_RECORDED}; cnnviz's sample is seeded ({lab.seed})", [command], fig)
    return run


def histograms(arch: str, layer: str, n: int = 256, key: Optional[str] = None):
    """Per-channel histograms of a trained model's layer over test images."""
    def run(lab: Lab) -> Outcome:
        from ..plots.inside import histograms_figure

        name = key or arch
        model, _, command = lab.trained(arch, name)
        data = load_dataset(zoo.model_info(model).dataset)
        images = data.x_test[class_sample(np.asarray(data.y_test).reshape(-1), max(1, n // 10), lab.seed)]
        hist = channel_histograms(model, dataset_inputs(model, images), layer)
        silent = silent_channels(model, layer, hist.channels, hist.maximum,
                                 f"did not fire on these {len(images):,} images")
        fig = histograms_figure(hist, silent,
                                title=f"{name} {layer}: values per channel over {len(images)} test images")
        return Outcome(f"{layer}: channel means {hist.mean.min():.2f} to {hist.mean.max():.2f}, standard "
                       f"deviations {hist.std.min():.2f} to {hist.std.max():.2f}; {len(silent)} silent channel(s)",
                       NOT_RECORDED,
                       [command, f"cnnviz histograms {lab.shown(lab.path('models', name + '.keras'))} --layer "
                                 f"{layer} --n {len(images)} --seed {lab.seed} -o "
                                 f"{lab.shown(lab.path(name + '_' + layer + '_histograms.png'))}"], fig)
    return run


def synthesis(arch: str, layer: str, channels: Sequence[int], steps: int = 128, per_channel: int = 1,
              deck_per_channel: Optional[int] = None, key: Optional[str] = None):
    """Synthesized images that maximize channels of a trained model's layer,
    ``per_channel`` diverse ones each (a row per channel)."""
    def run(lab: Lab) -> Outcome:
        from ..plots.inside import synthesis_figure

        name = key or arch
        model, _, command = lab.trained(arch, name)
        chosen = list(channels)
        result = synthesize_channels(model, layer, chosen, steps=steps, seed=lab.seed, per_channel=per_channel,
                                     progress=lab.progress, cancel=lab.cancel)
        silent = silent_channels(model, layer, result.indices[::per_channel],
                                 result.activations.reshape(-1, per_channel), "synthesis did not make it fire")
        fig = synthesis_figure(result, None, f"{name} {layer}: {per_channel} synthesized image(s) per channel "
                               f"({steps} steps)", silent)
        ch = ",".join(str(c) for c in chosen)
        many = f" --per-channel {per_channel}" if per_channel > 1 else ""
        if deck_per_channel is None:
            difference = f"{NOT_RECORDED}; {per_channel} image(s) per channel"
        elif deck_per_channel == per_channel:
            difference = f"none in number: {per_channel} images per neuron, as the deck shows"
        else:
            difference = f"{per_channel} images per channel, the deck shows {deck_per_channel}"
        return Outcome(f"{len(chosen)} channels x {per_channel}: activations {result.activations.min():.2f} to "
                       f"{result.activations.max():.2f}; {len(silent)} silent channel(s)", difference,
                       [command, f"cnnviz synthesize {lab.shown(lab.path('models', name + '.keras'))} "
                                 f"--layer {layer} --channels {ch}{many} --steps {steps} --seed {lab.seed} -o "
                                 f"{lab.shown(lab.path(name + '_' + layer + '_synthesis.png'))}"], fig)
    return run


def filters(arch: str, key: Optional[str] = None):
    """The first convolution's filters of a trained model."""
    def run(lab: Lab) -> Outcome:
        from ..plots.inside import filters_figure

        name = key or arch
        model, _, command = lab.trained(arch, name)
        weights = filter_weights(model)
        return Outcome(f"{weights.layer}: kernel {weights.shape}", NOT_RECORDED,
                       [command, f"cnnviz filters {lab.shown(lab.path('models', name + '.keras'))} -o "
                                 f"{lab.shown(lab.path(name + '_filters.png'))}"], filters_figure(weights))
    return run


def shipped_curves(names: Sequence[str], title: str):
    """The learning curves of shipped models, overlaid from their cards."""
    def run(lab: Lab) -> Outcome:
        from ..plots.training import curves_figure

        cards = [zoo.read_card(zoo.shipped_model_path(n)) for n in names]
        best = [max(c["history"]["val_accuracy"]) for c in cards]
        fig = curves_figure([c["history"] for c in cards], [run_label(c, n) for c, n in zip(cards, names)], title,
                            [stage_marks(c) for c in cards])
        value = "; ".join(f"{n}: best validation accuracy {b:.2%}" for n, b in zip(names, best))
        return Outcome(value, f"{NOT_RECORDED}; cnnviz's shipped models, read from their cards",
                       [f"cnnviz curves {' '.join(names)} -o {lab.shown(lab.path('_'.join(names) + '_curves.png'))}"],
                       fig)
    return run


def optimizers(arch: str, names: Sequence[str], learning_rates: dict):
    """One model trained with each optimizer by the run's recipe, curves overlaid."""
    def run(lab: Lab) -> Outcome:
        from ..plots.training import curves_figure

        cards, commands, keys = [], [], []
        for opt in names:
            key = f"{arch}_{opt}"
            lr = learning_rates.get(opt)
            flags = ("--optimizer", opt) + (("--lr", f"{lr:g}") if lr else ())
            _, card, command = lab.trained(arch, key, flags, optimizer=opt, learning_rate=lr)
            cards.append(card)
            commands.append(command)
            keys.append(key)
        labels = [run_label(c, k.removeprefix(arch + "_")) for c, k in zip(cards, keys)]
        fig = curves_figure([c["history"] for c in cards], labels, f"{arch}: optimizers on {cards[0]['dataset']}")
        accuracies = {k.removeprefix(arch + "_"): c["metrics"]["test_accuracy"] for c, k in zip(cards, keys)}
        value = ", ".join(f"{k} {a:.2%}" for k, a in accuracies.items())
        paths = " ".join(lab.shown(lab.path("models", k + ".keras")) for k in keys)
        return Outcome(f"test accuracy: {value}", f"{NOT_RECORDED}; every optimizer by cnnviz's recipe",
                       [*commands, f"cnnviz curves {paths} -o {lab.shown(lab.path(arch + '_optimizers.png'))}"], fig)
    return run


def transfer(backbone: str, layer: str, classes: Sequence[str], limit: int):
    """A shipped backbone's features of some classes and a logistic regression on them."""
    def run(lab: Lab) -> Outcome:
        from ..plots import mark_untrained
        from ..plots.training import transfer_figure

        model = zoo.load_model(backbone)
        n = min(limit, lab.recipe.limit or limit)
        train_feats = dataset_features(model, layer, zoo.model_info(model).dataset, split="train", classes=classes,
                                       limit=n, seed=lab.seed, progress=lab.progress, cancel=lab.cancel)
        test_feats = dataset_features(model, layer, zoo.model_info(model).dataset, split="test", classes=classes,
                                      limit=n, seed=lab.seed, progress=lab.progress, cancel=lab.cancel)
        result = fit_transfer(train_feats, seed=lab.seed, test=test_feats)
        fig = transfer_figure(result.confusion_train, result.confusion_test, result.classes, result.train_accuracy,
                              result.test_accuracy, f"logistic regression on {backbone} {layer}")
        mark_untrained(fig, not result.weights_note)
        cls = ",".join(classes)

        def out(name):
            return lab.shown(lab.path(name))

        return Outcome(f"train accuracy {result.train_accuracy:.2%} ({result.n_train} images), test accuracy "
                       f"{result.test_accuracy:.2%} ({result.n_test} images)", NOT_RECORDED,
                       [f"cnnviz features {backbone} --layer {layer} --dataset {zoo.model_info(model).dataset} "
                        f"--split train --classes {cls} --limit {n} --seed {lab.seed} -o {out('train.npz')} --force",
                        f"cnnviz features {backbone} --layer {layer} --dataset {zoo.model_info(model).dataset} "
                        f"--split test --classes {cls} --limit {n} --seed {lab.seed} -o {out('test.npz')} --force",
                        f"cnnviz transfer {out('train.npz')} --test {out('test.npz')} --seed {lab.seed} -o "
                        f"{out(backbone + '_transfer.png')}"], fig, bool(result.weights_note))
    return run


def compared(archs: Sequence[str], title: str):
    """Several architectures trained by the run's recipe, their curves overlaid."""
    def run(lab: Lab) -> Outcome:
        from ..plots.training import curves_figure

        trained = [lab.trained(arch) for arch in archs]
        cards = [card for _, card, _ in trained]
        fig = curves_figure([c["history"] for c in cards], [run_label(c, a) for c, a in zip(cards, archs)],
                            f"{title} on {cards[0]['dataset']}", [stage_marks(c) for c in cards])
        value = "; ".join(f"{a}: test accuracy {c['metrics']['test_accuracy']:.2%}, best validation accuracy "
                          f"{max(c['history']['val_accuracy']):.2%}" for a, c in zip(archs, cards))
        paths = " ".join(lab.shown(lab.path("models", a + ".keras")) for a in archs)
        notes = "".join(bn_note(model, card, arch) for (model, card, _), arch in zip(trained, archs))
        return Outcome(value, f"{NOT_RECORDED}; both trained by cnnviz's {lab.form} recipe, same seed{notes}",
                       [*(command for _, _, command in trained),
                        f"cnnviz curves {paths} -o {lab.shown(lab.path('_'.join(archs) + '_curves.png'))}"], fig)
    return run


def bn_note(model, card: dict, name: str) -> str:
    """What a short run leaves in a model's batch-normalization moving averages,
    where they still hold over 5% of their initial values ("" otherwise): the
    model then infers with statistics that are not its data's."""
    momenta = [layer.momentum for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    if not momenta:
        return ""
    steps = len(card["history"]["loss"]) * -(-card["recipe"]["train_images"] // card["recipe"]["batch_size"])
    left = max(momenta) ** steps
    if left <= 0.05:
        return ""
    return (f"; after {steps} steps {name}'s batch-normalization moving averages (momentum {max(momenta):g}) still "
            f"hold {left:.0%} of their initial values, so it infers with other statistics than it trained with "
            f"(validation accuracy {card['history']['val_accuracy'][-1]:.2%} against training "
            f"{card['history']['accuracy'][-1]:.2%}): --full trains the architecture's own epochs")


def structure(arch: str, train: bool = True, deck_layers: Sequence[str] = ()):
    """The network-structure plot of the model (trained by the run's recipe,
    or with ``train`` False its bare architecture: the drawing uses no
    weights), its layers checked against the deck's ``deck_layers`` if given."""
    def run(lab: Lab) -> Outcome:
        from ..plots.graph import graph_figure

        if train:
            model, _, command = lab.trained(arch)
            commands, spec = [command], lab.shown(lab.path("models", arch + ".keras"))
        else:
            model, commands, spec = zoo.build_model(arch), [], arch
        graph = model_graph(model)
        kinds = [node.kind for node in graph.nodes if node.kind != "input"]
        counts = ", ".join(f"{kinds.count(k)} {k}" for k in ("conv", "pool", "dense") if k in kinds)
        return Outcome(f"{len(kinds)} layers ({counts}), {len(graph.edges)} edges, "
                       f"{model.count_params():,} parameters", layers_difference(graph, deck_layers),
                       [*commands, f"cnnviz graph {spec} -o {lab.shown(lab.path(arch + '_graph.png'))}"],
                       graph_figure(graph, title=f"{arch}: {len(kinds)} layers"))
    return run


def layers_difference(graph, deck_layers: Sequence[str]) -> str:
    """How the graph's layers differ from the deck's list of named layers."""
    if not deck_layers:
        return f"{NOT_RECORDED}; drawn from the model itself (the drawing uses no weights)"
    names = [node.name for node in graph.nodes if node.kind != "input"]
    found = [name for name in names if name in deck_layers]
    if found != list(deck_layers):
        missing = [name for name in deck_layers if name not in names]
        return f"the deck's layers {', '.join(deck_layers)} are not all there in order (missing: {missing})"
    extra = [name for name in names if name not in deck_layers]
    return (f"none in the named layers ({', '.join(deck_layers)} in order); cnnviz's also has "
            f"{', '.join(extra)}")


def output_sizes(model) -> list[str]:
    """Each convolution's and pooling layer's output size worked from its
    input size, kernel, stride and padding (floor((n + pad - k) / s) + 1),
    checked against the layer's own output."""
    lines = []
    for node in model_graph(model).nodes:
        if node.kind not in ("conv", "pool") or not node.kernel:
            continue
        layer = model.get_layer(node.name)
        n, k, s = int(layer.input.shape[1]), int(node.kernel[0]), int(node.stride[0])
        pad = max((-(-n // s) - 1) * s + k - n, 0) if node.padding == "same" else 0     # TensorFlow's total
        out = (n + pad - k) // s + 1
        check = "" if out == node.output_shape[0] else f" (the layer gives {node.output_shape[0]})"
        lines.append(f"{node.name}: ({n} + {pad} - {k}) // {s} + 1 = {out}{check}")
    return lines


def arithmetic(arch: str, dataset: str, conv: str, pool: str):
    """Worked numbers of a trained model on a test image: a convolution unit
    at the corner (its window in the padding) and inside, a pooling unit, and
    every layer's output size from its kernel, stride and padding."""
    def run(lab: Lab) -> Outcome:
        from ..plots.inside import arithmetic_figure

        model, _, command = lab.trained(arch)
        path = Path(list_images(lab.test_folder(dataset, 1)).paths[0])
        image = load_image(path, model)
        middle = int(model.get_layer(conv).output.shape[1]) // 2
        steps = [unit_arithmetic(model, image.x, conv, at=at) for at in ((0, 0), (middle, middle))]
        steps.append(unit_arithmetic(model, image.x, pool, at=(0, 0)))
        sizes = output_sizes(model)
        fig = arithmetic_figure(steps, f"{arch} on {path.parent.name}/{path.name}: worked numbers")
        shown = lab.shown(str(path))
        spec = lab.shown(lab.path("models", arch + ".keras"))
        corner = steps[0]
        return Outcome(f"{conv} unit (0, 0): {int((~corner.valid).sum())} of {corner.valid.size} window entries in "
                       f"the padding, sum + bias = {corner.pre_activation:.4g}, value {corner.value:.4g}; "
                       f"{pool} unit (0, 0) = {steps[2].value:.4g}; "
                       f"{'every value equals the layer' if all(s.matches for s in steps) else 'A VALUE DIFFERS'}"
                       f"'s own; output sizes: " + "; ".join(sizes), f"{NOT_RECORDED}; on cnnviz's trained {arch}",
                       [command, *(f"cnnviz arithmetic {spec} {shown} --layer {s.layer} --at {s.at[0]},{s.at[1]}"
                                   for s in steps), f"cnnviz summary {spec}"], fig)
    return run


def fixed_kernels(image: str = "skimage:camera"):
    """The lectures' smoothing and gradient kernels applied to an image."""
    def run(lab: Lab) -> Outcome:
        from ..data.images import read_image
        from ..plots.inside import kernels_figure

        pixels = read_image(image)
        gray = pixels.mean(axis=-1) if pixels.ndim == 3 else pixels
        filtered = {name: apply_fixed_kernel(gray, name) for name in FIXED_KERNELS}
        value = "; ".join(f"{name}: {result.min():.4g} to {result.max():.4g}" for name, result in filtered.items())
        return Outcome(f"output ranges on {image} (0-255 grey levels): {value}",
                       f"{NOT_RECORDED}; cnnviz's kernels: " + ", ".join(FIXED_TEXT.values()),
                       [f"cnnviz kernels {image} --at 100,100 -o {lab.shown(lab.path('fixed_kernels.png'))}"],
                       kernels_figure(gray, filtered, FIXED_KERNELS, FIXED_TEXT, f"fixed kernels on {image}"))
    return run
