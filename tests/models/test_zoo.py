"""The model zoo reproduces the lecture's parameter counts; models load safely
and round-trip through files."""
import keras
import numpy as np
import pytest

from cnnviz import CnnvizError, build_model, load_model, model_info
from cnnviz.inside.summary import format_summary, summarize
from cnnviz.models.preprocessing import deprocess, preprocess
from cnnviz.models.zoo import DECK_ARCHS, FAMILIES, load_model_file, shapes_only


def params_by_layer(model):
    return {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}


def test_mnist_small_matches_lecture_counts():
    model = build_model("mnist_small")
    assert params_by_layer(model) == {"conv1": 80, "conv2": 584, "dense1": 12864, "predictions": 650}
    assert model.count_params() == 14178
    text = format_summary(summarize(model))
    for figure in ("80", "584", "12,864", "650", "Total params: 14,178"):
        assert figure in text


@pytest.mark.parametrize("name, total", [
    ("mnist_small_bn", 14178 + 2 * 4 * 8),
    ("mnist_cnn", 93322),
    ("lenet", 1256080),
    ("cifar10_cnn", 1250858),
    ("vgg16_notop", 14714688),
    ("vgg16", 138357544),
])
def test_zoo_parameter_counts(name, total):
    assert build_model(name).count_params() == total


@pytest.mark.parametrize("name", ["vgg16", "alexnet"])
def test_an_architecture_only_model_has_its_counts_and_no_weight_values(name):
    """`cnnviz models`, `summary` and `graph` of VGG16 or AlexNet allocate none
    of their 138M / 62M weights, not even when a later scope of Keras' own ends."""
    total = {"vgg16": 138357544, "alexnet": 62378344}[name]
    model = load_model(name, weights=None, architecture_only=True)
    assert summarize(model).total == total and not model_info(model).weights_loaded
    with keras.StatelessScope():         # on leaving, Keras fills in the variables it still holds deferred
        pass
    assert all(v._value is None for v in model.weights)        # no value was ever allocated
    with shapes_only():
        assert build_model(name).count_params() == total


def test_zoo_layer_structure():
    bn = build_model("mnist_small_bn")
    assert [type(layer).__name__ for layer in bn.layers[1:4]] == ["Conv2D", "BatchNormalization", "MaxPooling2D"]
    lenet = build_model("lenet")
    assert lenet.get_layer("conv1").kernel_size == (5, 5) and lenet.get_layer("conv1").padding == "same"
    assert tuple(lenet.get_layer("pool2").output.shape[1:]) == (7, 7, 50)
    cifar = build_model("cifar10_cnn")
    assert [layer.rate for layer in cifar.layers if isinstance(layer, keras.layers.Dropout)] == [0.25, 0.25, 0.5]
    vgg = build_model("vgg16_notop")
    assert tuple(vgg.inputs[0].shape[1:]) == (None, None, 3)
    assert vgg.get_layer("block1_conv1").get_weights()[0].shape == (3, 3, 3, 64)


def test_zoo_models_know_their_classes():
    assert model_info(build_model("cifar10_cnn")).classes[3] == "cat"
    info = model_info(build_model("vgg16"))
    assert len(info.classes) == 1000 and info.classes[9] == "ostrich" and info.preprocessing == "vgg16"
    assert info.trained is False


def test_unknown_model_names_the_choices():
    with pytest.raises(CnnvizError, match="unknown model 'resnet'.*mnist_small"):
        load_model("resnet")
    with pytest.raises(CnnvizError, match="does not exist"):
        load_model("missing/model.keras")


def _nested_model():
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D()], name="backbone")
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(3, activation="softmax")(inner(inputs))
    return keras.Model(inputs, outputs, name="nested")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("make", ["sequential", "functional", "nested"])
def test_save_load_round_trip_identical_predictions(tmp_path, suffix, make, rng):
    keras.utils.set_random_seed(3)
    if make == "sequential":
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                                  keras.layers.Dense(3, activation="softmax")])
    elif make == "functional":
        model = build_model("mnist_small")
    else:
        model = _nested_model()
    x = rng.random((4, *model.inputs[0].shape[1:]), dtype=np.float32)
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = load_model(str(path))
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def _lambda_model():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    return keras.Model(inputs, keras.layers.Flatten()(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layers_need_explicit_opt_in(tmp_path, suffix):
    path = tmp_path / f"lambda{suffix}"
    _lambda_model().save(path)
    with pytest.raises(CnnvizError, match=r"Lambda layer\(s\) double.*--unsafe"):
        load_model_file(path)
    model = load_model_file(path, unsafe=True)
    np.testing.assert_allclose(model(np.ones((1, 4, 4, 1), np.float32)).numpy(), 2.0)


def test_corrupt_and_wrong_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(CnnvizError, match="bad.keras is not a readable Keras model file"):
        load_model(str(bad))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CnnvizError, match="not a .keras or .h5 model file"):
        load_model(str(text))


def test_card_beside_model_file_sets_dataset(tmp_path):
    import json

    model = build_model("mnist_small")
    path = tmp_path / "mine.keras"
    model.save(path)
    (tmp_path / "mine.card.json").write_text(json.dumps({"architecture": "mnist_small", "dataset": "mnist"}))
    info = model_info(load_model(str(path)))
    assert info.dataset == "mnist" and info.classes[7] == "7" and info.path == str(path)


def test_user_model_without_card_gets_neutral_info(tiny_cnn):
    info = model_info(tiny_cnn)
    assert info.classes == ("class 0", "class 1", "class 2", "class 3")
    assert info.preprocessing == "scale01" and info.family is None
    assert "unknown model: assumed input pixels / 255" in info.preprocessing_note


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_each_family_preprocesses_as_its_keras_preprocess_input(family, rng):
    """cnnviz's mode for a family gives what keras.applications.<module>.preprocess_input
    gives (the identity where the model rescales inside), and deprocess inverts it."""
    import importlib

    pixels = rng.uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    keras_fn = importlib.import_module(f"keras.applications.{family.module}").preprocess_input
    x = preprocess(pixels, family.preprocessing)
    np.testing.assert_allclose(x, keras_fn(pixels.copy()), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(deprocess(x, family.preprocessing), pixels, atol=1e-3)


@pytest.mark.parametrize("build, size, family, mode", [
    (lambda s: keras.applications.ResNet50(weights=None, include_top=False, input_shape=s), 32, "ResNet", "caffe"),
    (lambda s: keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=s), 32, "MobileNetV2", "tf"),
    (lambda s: keras.applications.DenseNet121(weights=None, include_top=False, input_shape=s), 32, "DenseNet", "torch"),
    (lambda s: keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=s), 32, "EfficientNet",
     "raw"),
    (lambda s: keras.applications.MobileNetV3Small(weights=None, include_top=False, input_shape=s,
                                                   include_preprocessing=False), 32, "MobileNetV3", "tf"),
], ids=["resnet50", "mobilenetv2", "densenet121", "efficientnetb0", "mobilenetv3-bare"])
def test_keras_applications_families_are_recognized_in_saved_files(tmp_path, build, size, family, mode):
    """A user's model built on a keras.applications base, renamed, with 1000
    outputs: saved, reloaded, it gets the base's preprocessing and ImageNet's
    names, and the note says so; --preprocess overrides."""
    base = build((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    model = keras.Model(base.input, keras.layers.Dense(1000, name="head")(x), name="my_classifier")
    path = tmp_path / "mine.keras"
    model.save(path)
    info = model_info(load_model(str(path)))
    assert (info.family, info.preprocessing) == (family, mode)
    assert info.classes[9] == "ostrich" and f"keras.applications {family}" in info.preprocessing_note
    assert model_info(load_model(str(path), preprocessing="scale01")).preprocessing == "scale01"


def test_a_family_base_nested_in_a_sequential_is_recognized():
    model = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.applications.ResNet50V2(weights=None, include_top=False),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    info = model_info(model)
    assert info.preprocessing == "tf" and info.classes == ("class 0", "class 1", "class 2")


def test_summary_expands_nested_models():
    summary = summarize(_nested_model())
    names = [r.name for r in summary.layers]
    assert "backbone" in names and any(name.startswith("backbone/") for name in names)
    assert summary.total == _nested_model().count_params()
    assert summary.to_json()["layers"][0]["name"] == summary.layers[0].name


def _fake_weights(tmp_path, size=3_000_000):
    import hashlib

    source = tmp_path / "served.h5"
    source.write_bytes(np.random.default_rng(0).bytes(size))
    return source, hashlib.md5(source.read_bytes()).hexdigest()


def test_vgg16_weights_download_reports_progress_and_checks_md5(tmp_path):
    from cnnviz.models.zoo import VGG16_WEIGHTS_FILES, download_vgg16_weights

    source, md5 = _fake_weights(tmp_path)
    calls = []
    path = download_vgg16_weights(False, url=source.as_uri(), md5=md5, folder=tmp_path / "models",
                                  progress=lambda *a: calls.append(a))
    assert path == tmp_path / "models" / VGG16_WEIGHTS_FILES[False]
    assert path.read_bytes() == source.read_bytes()
    assert calls[0][:2] == (0, 3_000_000) and calls[-1][:2] == (3_000_000, 3_000_000) and len(calls) >= 4
    with pytest.raises(CnnvizError, match="damaged"):
        download_vgg16_weights(True, url=source.as_uri(), md5="0" * 32, folder=tmp_path / "models")
    assert not (tmp_path / "models" / VGG16_WEIGHTS_FILES[True]).exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [VGG16_WEIGHTS_FILES[False]]   # no leftovers


def test_vgg16_weights_download_cancels_and_fails_clearly(tmp_path):
    from cnnviz import Cancelled, CancelToken
    from cnnviz.models.zoo import download_vgg16_weights

    source, _ = _fake_weights(tmp_path)
    token = CancelToken()

    def progress(done, total, message):
        if done >= 1 << 20:
            token.cancel()

    with pytest.raises(Cancelled):
        download_vgg16_weights(url=source.as_uri(), folder=tmp_path / "models", progress=progress, cancel=token)
    assert list((tmp_path / "models").iterdir()) == []
    with pytest.raises(CnnvizError, match="could not download VGG16's ImageNet weights.*local weights file"):
        download_vgg16_weights(url=(tmp_path / "absent.h5").as_uri(), folder=tmp_path / "models")


def test_vgg16_weights_available(tmp_path, monkeypatch):
    from cnnviz.models import zoo

    monkeypatch.delenv("CNNVIZ_VGG16_WEIGHTS", raising=False)
    monkeypatch.setattr(zoo, "keras_models_dir", lambda: tmp_path)
    assert zoo.vgg16_weights_path(True) == tmp_path / zoo.VGG16_WEIGHTS_FILES[True]
    assert not zoo.vgg16_weights_available(True)
    zoo.vgg16_weights_path(True).write_bytes(b"x")
    assert zoo.vgg16_weights_available(True) and not zoo.vgg16_weights_available(False)
    monkeypatch.setenv("CNNVIZ_VGG16_WEIGHTS", str(tmp_path / "mine.h5"))
    assert not zoo.vgg16_weights_available(False)
    (tmp_path / "mine.h5").write_bytes(b"x")
    assert zoo.vgg16_weights_available(False)
    monkeypatch.undo()
    assert zoo.keras_models_dir().name == "models"


@pytest.fixture(scope="module")
def vgg16_notop_weights(tmp_path_factory):
    """VGG16's convolutional weights (random, fixed) in both layouts a user may
    hold: Keras' legacy HDF5 (as Keras ships them) and Keras 3's .weights.h5."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(3)
    model = keras.applications.VGG16(weights=None, include_top=False)
    folder = tmp_path_factory.mktemp("vgg16-weights")
    with h5py.File(folder / "legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    model.save_weights(folder / "mine.weights.h5")
    return folder, model.get_layer("block5_conv3").get_weights()[0]


@pytest.mark.parametrize("file", ["legacy.h5", "mine.weights.h5"])
def test_vgg16_loads_its_weights_from_either_layout(vgg16_notop_weights, file):
    folder, kernel = vgg16_notop_weights
    model = load_model("vgg16_notop", weights=str(folder / file))
    assert np.array_equal(model.get_layer("block5_conv3").get_weights()[0], kernel)
    assert model_info(model).trained


@pytest.mark.parametrize("case, message", [
    ("notop for top", r"holds block1_conv1, block1_conv2, .*not VGG16's 16 \(block1_conv1 \.\.\. predictions\)"),
    ("keras 3 notop for top", r"holds 13 layers with weights, not VGG16's 16"),
    ("a small model", r"holds conv1, conv2, dense1, predictions, not VGG16's 16"),
    ("random bytes", r"not an HDF5 weights file"),
    ("empty HDF5", r"holds no layers with weights"),
])
def test_a_weights_file_that_cannot_be_vgg16s_is_refused_before_the_build(vgg16_notop_weights, tmp_path,
                                                                          monkeypatch, case, message):
    import h5py

    folder, _ = vgg16_notop_weights
    path = {"notop for top": folder / "legacy.h5", "keras 3 notop for top": folder / "mine.weights.h5"}.get(case)
    if case == "a small model":
        path = tmp_path / "small.h5"
        build_model("mnist_small").save(path)
    elif case == "random bytes":
        path = tmp_path / "random.h5"
        path.write_bytes(np.random.default_rng(0).bytes(2048))
    elif case == "empty HDF5":
        path = tmp_path / "empty.h5"
        h5py.File(path, "w").close()
    built = []
    monkeypatch.setattr(keras.applications, "VGG16", lambda *a, **k: built.append(k))
    with pytest.raises(CnnvizError, match=message) as error:
        load_model("vgg16", weights=str(path))
    assert built == [] and "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in str(error.value)


def test_the_decks_architectures_have_the_decks_counts():
    """The zoo's deck networks are tests/decks.py's (the decks' layer tables), taking images."""
    from decks import DECKS

    for name, build in DECKS.items():
        assert build_model(name).count_params() == build().count_params(), name
    assert all(len(build_model(name).inputs[0].shape) == 4 for name in DECK_ARCHS if name != "alexnet")
    assert model_info(build_model("sick_cnn1")).classes[3] == "cat" and DECK_ARCHS["sick_cnn1"].deck == "sick"


def test_lenet5_is_the_1998_layout():
    model = build_model("lenet5")
    names = ("pad", "C1", "S2", "C3", "S4", "C5", "F6")
    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in names}
    assert shapes == {"pad": (32, 32, 1), "C1": (28, 28, 6), "S2": (14, 14, 6), "C3": (10, 10, 16),
                      "S4": (5, 5, 16), "C5": (1, 1, 120), "F6": (84,)}
    # C1 156, C3 2,416 (fully connected; the paper's table has 1,516), C5 48,120, F6 10,164, output 850
    assert params_by_layer(model) == {"C1": 156, "C3": 2416, "C5": 48120, "F6": 10164, "predictions": 850}


def test_sakrs_networks_differ_by_width_and_batch_normalization_alone():
    plain, bn = build_model("sakr_cifar"), build_model("sakr_bn64")
    assert [type(layer).__name__ for layer in bn.layers][:4] == ["Conv2D", "BatchNormalization", "Activation",
                                                                 "MaxPooling2D"]
    assert plain.get_layer("conv1").filters == 32 and bn.get_layer("conv2").filters == 64
    assert tuple(plain.get_layer("pool2").output.shape[1:]) == (8, 8, 32)
    assert tuple(bn.get_layer("pool2").output.shape[1:]) == (8, 8, 64)
    # conv 896 + 9,248, dense 2,048x128 + 128, output 1,290; the BN variant 1,792 + 256 + 36,928 + 256 + ...
    assert (plain.count_params(), bn.count_params()) == (273_706, 564_938)
    assert {DECK_ARCHS[n].deck for n in ("sakr_cifar", "sakr_bn64")} == {"sakr"}
    assert model_info(plain).classes[0] == "airplane"


def test_alexnet_is_an_architecture_without_weights(tmp_path):
    model = load_model("alexnet", architecture_only=True)
    assert model.count_params() == 62_378_344 and tuple(model.get_layer("conv1").output.shape[1:]) == (55, 55, 96)
    assert not model_info(model).trained
    with pytest.raises(CnnvizError, match="alexnet ships without trained weights: train it .* --weights none"):
        load_model("alexnet")
    small = build_model("sick_cnn2")
    small.save_weights(tmp_path / "s.weights.h5")
    loaded = load_model("sick_cnn2", weights=str(tmp_path / "s.weights.h5"))
    assert model_info(loaded).trained
    np.testing.assert_array_equal(loaded.get_weights()[0], small.get_weights()[0])
