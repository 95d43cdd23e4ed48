"""The contract every attribution method keeps, on every zoo model (VGG16
with random weights), gray and colour, for a batch of 4 and a batch of 1:
one finite float32 map per image at the input's resolution, the predicted
class explained by default, and each image's map independent of the batch
it came in. A concept method (craft) keeps it too, on concepts found on a
folder of the same images, and gives one map per concept beside it."""
import numpy as np
import pytest

from cnnviz import ZOO_NAMES, build_model, load_model
from cnnviz.attribution.registry import REGISTRY, explain_one
from cnnviz.models.predict import probabilities

# light settings: the contract is about shapes and frames, not quality
LIGHT = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 2}, "lime": {"samples": 12, "segments": 8,
                                                                                        "segmentation": "slic"},
         "rise": {"n_masks": 2}, "scorecam": {"max_n": 1}}
CLASSIFIERS = [name for name in ZOO_NAMES if name != "vgg16_notop"]


@pytest.fixture(scope="module", params=CLASSIFIERS)
def model_and_images(request):
    name = request.param
    model = build_model(name) if name == "vgg16" else load_model(name)
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4,) + shape).astype(np.float32)
    from cnnviz.models.preprocessing import preprocess
    from cnnviz.models.zoo import model_info

    return model, preprocess(pixels, model_info(model).preprocessing), pixels.astype(np.uint8)


def _options(method, model, x, pixels, folder):
    options = dict(LIGHT.get(method, {}))
    if method == "occlusion":
        options.update(patch=x.shape[1] // 2, stride=x.shape[1] // 2)
    if REGISTRY[method].concepts:
        options.update(dataset=_image_folder(pixels, folder), layer=_last_relu_conv(model), k=2, limit=4, designs=2,
                       patch=x.shape[1] // 2)
    return options


def _image_folder(pixels, folder) -> str:
    import imageio.v3 as iio

    for i, im in enumerate(pixels):
        iio.imwrite(folder / f"{i}.png", im[..., 0] if im.shape[-1] == 1 else im)
    return str(folder)


def _last_relu_conv(model) -> str:
    """A layer with non-negative activations, as CRAFT's factorization needs."""
    return [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"
            and getattr(layer.activation, "__name__", "") == "relu"][-1]


@pytest.mark.parametrize("method", list(REGISTRY))
def test_method_contract(model_and_images, method, tmp_path):
    model, x, pixels = model_and_images
    options = _options(method, model, x, pixels, tmp_path)
    batch = explain_one(model, x, method, **options)
    single = explain_one(model, x[:1], method, **options)
    assert batch.maps.shape == x.shape[:3] and single.maps.shape == (1,) + x.shape[1:3]
    assert batch.maps.dtype == np.float32 and np.all(np.isfinite(batch.maps))
    assert list(batch.targets) == list(np.argmax(probabilities(model, x), axis=-1))
    scale = max(float(np.abs(batch.maps[0]).max()), 1e-12)
    np.testing.assert_allclose(single.maps[0] / scale, batch.maps[0] / scale, atol=2e-3)
    assert batch.method == method and batch.seconds > 0
    if REGISTRY[method].concepts:
        maps, importances = batch.extras["concept_maps"], batch.extras["importances"]
        assert maps.shape == x.shape[:3] + (2,) and maps.dtype == np.float32 and np.all(np.isfinite(maps))
        assert importances.shape == (len(x), 2) and np.all(importances >= 0)
        np.testing.assert_allclose(batch.maps, np.einsum("nhwk,nk->nhw", maps, importances), rtol=1e-5, atol=1e-6)
        assert single.extras["from_cache"].all()          # the batch's concepts were cached and read back
