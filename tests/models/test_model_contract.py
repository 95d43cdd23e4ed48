"""A user's own model and images, read as the user reads them: every
preprocessing choice against plain Keras, and a corpus of user-model shapes
(tests/user_models.py) through predict, evaluate, explain, attack,
robustness and top-patches, with folders labelled by the model's own
predictions (which must score 100%)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from user_models import CONV_CORPUS, CORPUS, class_score_cam, images, minus_one_to_one, write_images

import cnnviz
from cnnviz.attribution.cam import default_layer
from cnnviz.attribution.registry import METHODS
from cnnviz.common.errors import CnnvizError
from cnnviz.lab import evaluate
from cnnviz.models.inputs import prepare
from cnnviz.models.predict import probabilities, softmax
from cnnviz.models.preprocessing import PREPROCESSINGS
from cnnviz.models.zoo import card_path, model_info, write_card

IDS = [m.name for m in CORPUS]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return {m.name: m.save(folder) for m in CORPUS}


def _inputs(model, pixels):
    return np.stack([prepare(p[..., 0] if p.shape[-1] == 1 else p, model).x for p in pixels])


def _keras_preprocess():
    """Each preprocessing as its user writes it: by hand, or keras.applications' own preprocess_input."""
    from keras.applications import densenet, mobilenet_v2, vgg16

    return {"scale01": lambda x: x / 255.0, "raw": lambda x: x, "caffe": lambda x: vgg16.preprocess_input(x.copy()),
            "vgg16": lambda x: vgg16.preprocess_input(x.copy()),
            "tf": lambda x: mobilenet_v2.preprocess_input(x.copy()),
            "torch": lambda x: densenet.preprocess_input(x.copy())}


def test_every_preprocess_choice_equals_plain_keras(tmp_path):
    path = tmp_path / "plain.keras"
    minus_one_to_one().save(path)
    pixels = images(3, 6)
    theirs_by_mode = _keras_preprocess()
    assert set(theirs_by_mode) == set(PREPROCESSINGS)
    for mode in PREPROCESSINGS:
        model = cnnviz.load_model(path, preprocess=mode)
        assert model_info(model).source("preprocessing") == "option"
        ours = _inputs(model, pixels)
        theirs = theirs_by_mode[mode](pixels.astype(np.float32))
        np.testing.assert_array_equal(ours, theirs, err_msg=mode)            # the very same input, bit for bit
        np.testing.assert_array_equal(probabilities(model, ours), np.asarray(model.predict(theirs, verbose=0)))


@pytest.mark.parametrize("user", CORPUS, ids=IDS)
def test_predictions_equal_the_users_own_pipeline(saved, user):
    model = cnnviz.load_model(saved[user.name])
    pixels = images(user.channels)
    ours = _inputs(model, pixels)
    np.testing.assert_array_equal(ours, user.pipeline(pixels))
    expected = np.asarray(model.predict(user.pipeline(pixels), verbose=0))
    if user.name == "logits":
        expected = softmax(expected)
    np.testing.assert_allclose(probabilities(model, ours), expected, rtol=1e-6, atol=1e-7)
    assert len(set(expected.argmax(-1))) >= 2, "the corpus images must not all get one class"


def test_each_part_names_its_source(saved):
    info = {m.name: model_info(cnnviz.load_model(saved[m.name])) for m in CORPUS}
    assert (info["rescaling"].preprocessing, info["rescaling"].source("preprocessing")) == ("raw", "graph")
    assert "rescale" in info["rescaling"].why["preprocessing"]
    assert (info["normalization"].preprocessing, info["normalization"].source("preprocessing")) == ("raw", "graph")
    assert (info["minus_one"].preprocessing, info["minus_one"].source("preprocessing")) == ("tf", "card")
    assert (info["nested"].preprocessing, info["nested"].source("preprocessing")) == ("scale01", "default")
    assert "give --preprocess" in info["nested"].preprocessing_note
    assert (info["logits"].output, info["logits"].source("output")) == ("logit", "graph")
    assert (info["gray"].classes, info["gray"].source("classes")) == (("zebra", "apple", "mango"), "card")
    assert (info["dense"].image_shape, info["dense"].flat) == ((12, 12, 1), True)
    assert info["nested"].classes == ("class 0", "class 1", "class 2")
    assert info["nested"].source("classes") == "default"
    given = model_info(cnnviz.load_model(saved["minus_one"], preprocess="raw", classes="x,y,z"))
    assert (given.preprocessing, given.source("preprocessing")) == ("raw", "option")       # an option beats the card
    assert (given.classes, given.source("classes")) == (("x", "y", "z"), "option")
    assert given.contract()["classes"] == {"value": ["x", "y", "z"], "source": "option", "why": ""}


def test_classes_from_a_file_and_bad_counts(saved, tmp_path):
    names = tmp_path / "labels.txt"
    names.write_text("cat\n\ndog\nbird\n")
    assert model_info(cnnviz.load_model(saved["nested"], classes=str(names))).classes == ("cat", "dog", "bird")
    with pytest.raises(CnnvizError, match="2 class names given but .* has 3 outputs"):
        cnnviz.load_model(saved["nested"], classes=["a", "b"])
    with pytest.raises(CnnvizError, match="given twice"):
        cnnviz.load_model(saved["nested"], classes="a,a,b")
    with pytest.raises(CnnvizError, match="unknown preprocessing"):
        cnnviz.load_model(saved["nested"], preprocess="imagenet")


def test_card_is_updated_keeping_what_it_does_not_set(tmp_path):
    path = tmp_path / "m.keras"
    minus_one_to_one().save(path)
    card_path(path).write_text(json.dumps({"preprocessing": "tf", "notes": "mine", "metrics": {"a": 1}}))
    write_card(path, classes=["x", "y", "z"])
    card = json.loads(card_path(path).read_text())
    assert card == {"preprocessing": "tf", "notes": "mine", "metrics": {"a": 1}, "classes": ["x", "y", "z"]}
    write_card(path, preprocessing="raw")
    assert json.loads(card_path(path).read_text())["classes"] == ["x", "y", "z"]
    info = model_info(cnnviz.load_model(path))
    assert (info.preprocessing, info.classes, info.source("classes")) == ("raw", ("x", "y", "z"), "card")
    with pytest.raises(CnnvizError, match="4 class names"):
        write_card(path, classes="a,b,c,d")
    assert json.loads(card_path(path).read_text())["classes"] == ["x", "y", "z"]      # a refused update writes nothing
    card_path(path).write_text("{not json")
    with pytest.raises(CnnvizError, match="not readable JSON"):
        cnnviz.load_model(path)


# ---------------------------------------------------------------- folders labelled by the model itself

def _own_prediction_folder(model, user, root, by_index=False):
    pixels = images(user.channels)
    predicted = probabilities(model, _inputs(model, pixels)).argmax(-1)
    classes = model_info(model).classes
    for i, (image, c) in enumerate(zip(pixels, predicted)):
        write_images(root / (str(c) if by_index else classes[c]), image[None], [f"{i}.png"])
    return pixels, predicted


@pytest.mark.parametrize("user", CORPUS, ids=IDS)
def test_evaluate_on_a_folder_of_its_own_predictions_scores_100(saved, user, tmp_path):
    model = cnnviz.load_model(saved[user.name])
    _own_prediction_folder(model, user, tmp_path / "named")
    result = evaluate(model, str(tmp_path / "named"))
    assert result.accuracy == 1.0 and result.n == 24
    assert result.classes == list(model_info(model).classes)
    _own_prediction_folder(model, user, tmp_path / "index", by_index=True)
    assert evaluate(model, str(tmp_path / "index")).accuracy == 1.0


def test_folder_cases_for_a_model_whose_classes_are_not_alphabetical(saved, tmp_path):
    user = next(m for m in CORPUS if m.name == "gray")
    model = cnnviz.load_model(saved[user.name])
    pixels, predicted = _own_prediction_folder(model, user, tmp_path / "named")
    # names in another case still match
    for folder in (tmp_path / "named").iterdir():
        folder.rename(folder.with_name(folder.name.upper()))
    assert evaluate(model, str(tmp_path / "named")).accuracy == 1.0
    # a class without a folder is noted; an unreadable file is skipped and named
    present = sorted({int(c) for c in predicted})
    dropped = model_info(model).classes[present[0]]
    for f in (tmp_path / "named" / dropped.upper()).iterdir():
        f.unlink()
    (tmp_path / "named" / dropped.upper()).rmdir()
    kept = next(iter((tmp_path / "named").iterdir()))
    (kept / "broken.png").write_bytes(b"not a png")
    (kept / "notes.txt").write_text("no image")
    result = evaluate(model, str(tmp_path / "named"))
    assert result.accuracy == 1.0
    assert any(dropped in note and "no images" in note for note in result.notes)
    assert sorted(p.split("/")[-1] for p, _ in result.skipped) == ["broken.png", "notes.txt"]
    assert {"file", "reason"} <= set(result.to_json()["skipped"][0])
    # a folder that matches no class is refused, naming it and the classes
    (tmp_path / "named" / "pear").mkdir()
    write_images(tmp_path / "named" / "pear", pixels[:1], ["p.png"])
    with pytest.raises(CnnvizError, match="pear match no class of the model \\(zebra, apple, mango\\)"):
        evaluate(model, str(tmp_path / "named"))
    # a loose folder has no labels
    write_images(tmp_path / "loose", pixels[:3], ["a.png", "b.png", "c.png"])
    with pytest.raises(CnnvizError, match="loose images without labels"):
        evaluate(model, str(tmp_path / "loose"))
    # a labels CSV
    classes = model_info(model).classes
    rows = ["file,label"] + [f"{name},{classes[int(c)]}" for name, c in zip(["a.png", "b.png", "c.png"], predicted)]
    (tmp_path / "loose" / "labels.csv").write_text("\n".join(rows))
    result = evaluate(model, str(tmp_path / "loose" / "labels.csv"))
    assert (result.accuracy, result.n) == (1.0, 3)


def test_alphabetical_order_only_when_asked(saved, tmp_path):
    user = next(m for m in CORPUS if m.name == "nested")           # no class names: "class 0" ...
    model = cnnviz.load_model(saved[user.name])
    write_images(tmp_path / "f" / "apple", images(3, 2), ["a.png", "b.png"])
    write_images(tmp_path / "f" / "pear", images(3, 2, seed=1), ["a.png", "b.png"])
    with pytest.raises(CnnvizError, match="apple, pear match no class"):
        evaluate(model, str(tmp_path / "f"))
    assert evaluate(model, str(tmp_path / "f"), labels_by_order=True).n == 4


# ---------------------------------------------------------------- every method and attack on every shape

@pytest.mark.parametrize("user", CONV_CORPUS, ids=[m.name for m in CONV_CORPUS])
def test_explain_attack_robustness_and_top_patches(saved, user, tmp_path):
    from cnnviz.inside.top_patches import top_patches_files

    model = cnnviz.load_model(saved[user.name])
    pixels, predicted = _own_prediction_folder(model, user, tmp_path / "own")
    x = _inputs(model, pixels[:2])
    results = cnnviz.explain(model, x, methods=METHODS, options={"lime": {"samples": 64, "segments": 8},
                                                                   "occlusion": {"patch": 4, "stride": 4}})
    for name, result in results.items():
        assert result.maps.shape == (2, 12, 12) and np.isfinite(result.maps).all(), name
        assert (result.targets == predicted[:2]).all(), name
    assert results["gradcam"].params["layer"].endswith("conv2")
    attack = cnnviz.attack(model, pixels[:4], method="fgsm", eps=8 / 255)
    change = np.abs(attack.adversarial - attack.original) * 255
    assert change.max() <= 8 + 1e-3 and change.max() > 7          # the budget is in pixel units, whatever the scale
    curve = cnnviz.robustness(model, dataset=str(tmp_path / "own"), method="fgsm", eps=[0.0, 8 / 255], n=8)
    assert curve.clean_accuracy == 1.0 and curve.accuracy[0] == 1.0
    write_images(tmp_path / "loose", pixels[:6], [f"{i}.png" for i in range(6)])
    patches = top_patches_files(model, str(tmp_path / "loose"), [results["gradcam"].params["layer"]], k=3, cache=False)
    assert patches.layers


def test_default_cam_layer_is_a_feature_map_not_a_class_score_map():
    model = class_score_cam()
    assert default_layer(model) == "conv2"


def test_default_cam_layer_inside_a_nested_block_resolves(saved):
    model = cnnviz.load_model(saved["nested"])
    layer = default_layer(model)
    assert layer == "features_block/b_conv2"
    from cnnviz.models.graph import get_layer

    assert get_layer(model, layer).name == "b_conv2"
