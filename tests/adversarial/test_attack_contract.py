"""The contract every declared attack keeps on every zoo model (VGG16 with
random weights), gray and colour, in every norm it declares (on VGG16's
224x224 inputs in its default norm only, for time): adversarials of the
input's shape, float32 pixels in [0, 1] within the budget in pixel units
(minimal-perturbation attacks: within the cap given), an 8-bit result within
the same budget, success and 8-bit success that say what the model says,
targeted attacks that reach the target or move towards it (a
minimal-perturbation attack that finds nothing gives the original back),
progress that reaches the end; and, on mnist_small, cancel that stops
between batches and bad options refused in one line. Few steps: the
contract is about shapes, budgets and truthfulness, not strength
(tests/adversarial/test_attacks.py checks that)."""
import inspect

import numpy as np
import pytest

from cnnviz import ZOO_NAMES, Cancelled, CancelToken, CnnvizError, build_model, load_model
from cnnviz.adversarial import ATTACKS, attack
from cnnviz.adversarial.base import pixel_probabilities

LIGHT = {"pgd": {"steps": 2}, "cw": {"steps": 2, "binary_steps": 2}, "deepfool": {"steps": 2}}
CLASSIFIERS = [name for name in ZOO_NAMES if name != "vgg16_notop"]
CASES = [(name, norm) for name, spec in ATTACKS.items() for norm in spec.norms]
INPUTS = {"labels", "indices", "original_probs", "progress", "cancel"}   # what is attacked, not how


def budget(norm: str) -> float:
    return 8 / 255 if norm == "inf" else 0.5


def size(delta: np.ndarray, norm: str) -> np.ndarray:
    flat = delta.reshape(len(delta), -1).astype(np.float64)
    return np.abs(flat).max(1) if norm == "inf" else np.linalg.norm(flat, axis=1)


@pytest.fixture(scope="module", params=CLASSIFIERS)
def model_and_pixels(request):
    name = request.param
    model = build_model(name) if name == "vgg16" else load_model(name)
    shape = tuple(model.inputs[0].shape[1:])
    return model, np.random.default_rng(0).integers(0, 256, (2,) + shape, dtype=np.uint8)


@pytest.mark.parametrize("method, norm", CASES)
def test_attack_contract(model_and_pixels, method, norm):
    model, pixels = model_and_pixels
    if pixels.shape[1] > 64 and norm != ATTACKS[method].norms[0]:
        pytest.skip("224x224 inputs: each attack in its default norm only (the norms differ in 28x28 and 32x32)")
    eps = budget(norm)
    calls = []
    result = attack(model, pixels, method=method, norm=norm, eps=eps, progress=lambda d, t, m: calls.append((d, t)),
                    **LIGHT.get(method, {}))
    original = pixels.astype(np.float32) / 255
    assert result.adversarial.shape == pixels.shape and result.adversarial.dtype == np.float32
    assert np.all(np.isfinite(result.adversarial)) and result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    np.testing.assert_array_equal(result.original, original)
    assert (size(result.adversarial - original, norm) <= eps + 1e-5).all()
    assert result.rounded.dtype == np.uint8 and result.rounded.shape == pixels.shape
    assert (size(result.rounded / 255.0 - pixels / 255.0, norm) <= eps + 1e-9).all()
    n_classes = int(model.outputs[0].shape[-1])
    assert result.adversarial_probs.shape == result.original_probs.shape == (2, n_classes)
    assert result.success.dtype == bool and result.steps_used.shape == (2,) and (result.steps_used >= 0).all()
    said = pixel_probabilities(model, result.adversarial).argmax(-1)
    assert np.array_equal(result.success, said != result.labels)
    said_8bit = pixel_probabilities(model, result.rounded / np.float32(255)).argmax(-1)
    assert np.array_equal(result.rounded_success, said_8bit != result.labels)
    assert result.method == method and result.norm == norm and result.settings
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] > 0


@pytest.mark.parametrize("method", list(ATTACKS))
def test_targeted_attacks_reach_or_approach_the_target(model_and_pixels, method):
    model, pixels = model_and_pixels
    spec = ATTACKS[method]
    norm = spec.norms[0]
    labels = pixel_probabilities(model, pixels / np.float32(255)).argmax(-1)
    target = (labels + 1) % int(model.outputs[0].shape[-1])
    result = attack(model, pixels, target, method=method, eps=budget(norm) * 4, **LIGHT.get(method, {}))
    assert np.array_equal(result.target, target) and result.targeted
    hit = result.adversarial_prediction == target
    assert np.array_equal(result.success, hit)
    rows = np.arange(2)
    moved = result.adversarial_probs[rows, target] > result.original_probs[rows, target]
    # a minimal-perturbation attack that found nothing in so few steps gives the original back, and says so
    unchanged = (result.adversarial == result.original).all(axis=(1, 2, 3)) & spec.minimal
    assert (hit | moved | unchanged).all()


@pytest.mark.parametrize("method", list(ATTACKS))
def test_cancel_stops_between_batches(method):
    model = load_model("mnist_small")
    pixels = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    token = CancelToken()

    def cancel_at_first_report(done, total, message):
        token.cancel()

    with pytest.raises(Cancelled):
        attack(model, pixels, method=method, batch_size=1, progress=cancel_at_first_report, cancel=token,
               **LIGHT.get(method, {}))


def bad_values(spec):
    """(options, message) pairs every attack must refuse before any work."""
    yield {"nope": 1}, f"{spec.name} has no option 'nope'"
    yield {"norm": "1"}, "unknown norm '1'"
    for option in spec.options:
        if option.minimum is not None:
            yield {option.name: option.minimum - 1}, f"{spec.name}.{option.name}="
        if option.kind in (int, float):
            yield {option.name: "abc"}, f"{spec.name}.{option.name}='abc' is not a valid {option.kind.__name__}"
        if option.kind is bool:
            yield {option.name: "maybe"}, f"{spec.name}.{option.name}='maybe' is not a valid bool"
        if option.choices:
            yield {option.name: "nonsense"}, "nonsense"


@pytest.mark.parametrize("method", list(ATTACKS))
def test_bad_options_are_refused_in_one_line(method):
    model = load_model("mnist_small")
    pixels = np.zeros((1, 28, 28, 1), np.uint8)
    for options, message in bad_values(ATTACKS[method]):
        with pytest.raises(CnnvizError, match=message.replace(".", r"\.").replace("(", r"\(")) as caught:
            attack(model, pixels, method=method, **options)
        assert len(str(caught.value).splitlines()) == 1


def test_models_without_class_scores_are_refused():
    features = build_model("vgg16_notop")
    for method in ATTACKS:
        with pytest.raises(CnnvizError, match="does not output class scores"):
            attack(features, np.zeros((1, 224, 224, 3), np.uint8), method=method)


@pytest.mark.parametrize("method", list(ATTACKS))
def test_declared_options_are_the_functions_keyword_options(method):
    """A declaration cannot drift from its function: same names, same defaults."""
    spec = ATTACKS[method]
    params = inspect.signature(spec.function).parameters
    keyword = {p.name: p.default for p in params.values() if p.kind == p.KEYWORD_ONLY and p.name not in INPUTS}
    assert {o.name: o.default for o in spec.options} == keyword
    assert list(params)[:3] == ["model", "images", "target"]
