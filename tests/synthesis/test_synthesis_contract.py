"""The contract every synthesis objective (a channel's mean, one unit of each
channel, a class's score) keeps on every zoo model (VGG16 with random
weights; class images on the classifiers): one image per target at the
model's input size, float32 pixels in [0, 1], the objective reached reported
truthfully (it is what the model says on the returned images), the
objective higher at the end than at the start, each image independent of the
batch it came in, progress that reaches the end, cancel that stops, and bad
options refused in one line. Few steps: shapes and truthfulness, not beauty
(tests/synthesis/test_synthesis.py checks that)."""
import numpy as np
import pytest

from cnnviz import ZOO_NAMES, Cancelled, CancelToken, CnnvizError, build_model, load_model
from cnnviz.inside.activations import spatial_layers
from cnnviz.models.engine import features
from cnnviz.models.graph import get_layer
from cnnviz.models.predict import probabilities
from cnnviz.models.preprocessing import preprocess
from cnnviz.models.zoo import model_info
from cnnviz.synthesis import synthesize_channels, synthesize_class
from cnnviz.synthesis.maximize import CHUNK

LIGHT = {"steps": 3, "octaves": 1, "cache": False}


def last_map_layer(model) -> str:
    return [n for n in spatial_layers(model) if type(get_layer(model, n)).__name__ != "InputLayer"][-1]


def centre(model, layer):
    h, w = get_layer(model, layer).output.shape[1:3]
    return h // 2, w // 2


def channel(model, targets, **options):
    return synthesize_channels(model, last_map_layer(model), targets, **options)


def unit(model, targets, **options):
    layer = last_map_layer(model)
    return synthesize_channels(model, layer, targets, unit=centre(model, layer), **options)


def klass(model, targets, **options):
    return synthesize_class(model, targets, **options)


OBJECTIVES = {"channel": channel, "unit": unit, "class": klass}
CASES = [(name, objective) for name in ZOO_NAMES for objective in OBJECTIVES
         if not (name == "vgg16_notop" and objective == "class")]


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = build_model(name) if name.startswith("vgg16") else load_model(name)
        return cache[name]

    return get


def reached(model, objective, images, targets):
    """What the model says on ``images``: the channel's mean, the centre unit or the class probability."""
    x = preprocess(images * 255, model_info(model).preprocessing)
    if objective == "class":
        return probabilities(model, x)[np.arange(len(targets)), targets]
    layer = last_map_layer(model)
    (maps,) = features(model, x, (layer,))
    maps = maps[..., targets].transpose(0, 3, 1, 2)[np.arange(len(targets)), np.arange(len(targets))]
    if objective == "unit":
        row, col = centre(model, layer)
        return maps[:, row, col]
    return maps.mean(axis=(1, 2))


@pytest.mark.parametrize("name, objective", CASES)
def test_objective_contract(models, name, objective):
    model = models(name)
    calls = []
    result = OBJECTIVES[objective](model, [0, 1], progress=lambda d, t, m: calls.append((d, t)), **LIGHT)
    shape = tuple(model.inputs[0].shape[1:])
    assert result.images.shape == (2, *shape) and result.images.dtype == np.float32
    assert np.isfinite(result.images).all() and result.images.min() >= 0 and result.images.max() <= 1
    assert list(result.indices) == [0, 1] and result.activations.shape == (2,)
    assert result.history.shape == (LIGHT["steps"], 2) and np.isfinite(result.history).all()
    said = reached(model, objective, result.images, np.array([0, 1]))
    truth = result.probabilities if objective == "class" else result.activations
    np.testing.assert_allclose(truth, said, rtol=1e-3, atol=1e-5)
    assert result.history[-1].sum() > result.history[0].sum()
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] > 0
    single = OBJECTIVES[objective](model, [1], **LIGHT)
    scale = max(float(np.abs(result.images[1]).max()), 1e-6)
    np.testing.assert_allclose(single.images[0] / scale, result.images[1] / scale, atol=2e-3)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_cancel_stops_between_chunks(models, objective):
    token = CancelToken()
    with pytest.raises(Cancelled):
        OBJECTIVES[objective](models("mnist_small"), [0], cancel=token, progress=lambda *_: token.cancel(),
                              **{**LIGHT, "steps": 2 * CHUNK})


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("options, message", [
    ({"steps": 0}, "steps must be a whole number of at least 1"),
    ({"learning_rate": 0.0}, "learning_rate must be above 0"),
    ({"l2": float("nan")}, "l2 must be a finite number"),
    ({"stpes": 4}, "no synthesis option 'stpes' (did you mean steps?)"),
])
def test_bad_options_are_refused_in_one_line(models, objective, options, message):
    with pytest.raises(CnnvizError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")) as e:
        OBJECTIVES[objective](models("mnist_small"), [0], **{**LIGHT, **options})
    assert len(str(e.value).splitlines()) == 1


def test_class_images_need_a_classifier(models):
    with pytest.raises(CnnvizError, match="does not output class scores"):
        synthesize_class(models("vgg16_notop"), [0], **LIGHT)
