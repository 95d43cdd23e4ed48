"""The trained models that ship in models/: present in the installed package,
small, documented by their cards, and as accurate as promised on the real
test sets."""
import json

import pytest
from conftest import needs_data

from cnnviz import load_model, model_info
from cnnviz.common.runtime import shipped_models_dir
from cnnviz.lab.evaluate import evaluate
from cnnviz.models.zoo import ARCHS, card_path, shipped_model_path

REQUIRED_ACCURACY = {"mnist_small": 0.98, "mnist_small_bn": 0.98, "mnist_cnn": 0.99, "lenet": 0.99,
                     "cifar10_cnn": 0.78}


def test_every_lecture_model_ships_with_card_and_curves():
    assert set(REQUIRED_ACCURACY) == set(ARCHS)
    for name in ARCHS:
        path = shipped_model_path(name)
        assert path.is_file(), f"{name} not shipped in {shipped_models_dir()}"
        assert path.stat().st_size < 16 * 2**20
        assert path.with_name(f"{name}.curves.png").is_file()
        card = json.loads(card_path(path).read_text())
        assert card["architecture"] == name and card["dataset"] == ARCHS[name].dataset
        assert card["metrics"]["test_accuracy"] >= REQUIRED_ACCURACY[name]
        assert card["command"].startswith(f"cnnviz train {name}")
        assert len(card["history"]["loss"]) == card["epochs"]


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("name", sorted(REQUIRED_ACCURACY))
def test_shipped_model_reaches_its_accuracy_on_the_real_test_set(name):
    model = load_model(name)
    result = evaluate(model)
    assert result.n == 10000
    assert result.accuracy >= REQUIRED_ACCURACY[name]
    card = model_info(model).card
    assert result.accuracy == pytest.approx(card["metrics"]["test_accuracy"], abs=0.002)
