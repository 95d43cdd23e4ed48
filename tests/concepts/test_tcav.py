"""TCAV on a model trained here with a planted concept (diagonal stripes
mark class 0): the stripes concept is significant and near 1 for that class
at the layer that sees it, a random concept is significant for no class;
CAVs repeat for a seed; bad concept folders are refused or their bad files
named."""
from __future__ import annotations

import numpy as np
import planted
import pytest

from cnnviz.common.errors import CnnvizError
from cnnviz.concepts import tcav
from cnnviz.concepts.tcav import fit_cav, images_needed, tcav_score

NOISE_SEEDS = (9, 10, 11, 12)      # random concepts: samples of the random images' own distribution


@pytest.fixture(scope="module")
def concept_sets():
    sets = {"stripes": planted.concept("stripes", 24)}
    sets.update({f"noise{s}": planted.concept("random", 24, seed=s) for s in NOISE_SEEDS})
    return sets


@pytest.fixture(scope="module")
def random_pool():
    return planted.concept("random", 96, seed=3)


@pytest.fixture(scope="module")
def results(planted_model, planted_data, concept_sets, random_pool):
    x, y = planted_data
    return {c: tcav(planted_model, x[y == c], c, ["conv1", "conv2"] if c == 0 else ["conv2"], concept_sets,
                    random_pool, runs=10) for c in range(len(planted.CLASSES))}


def test_planted_stripes_are_significant_and_near_one_for_their_class(results):
    r = results[0]
    li, ki = r.layers.index("conv2"), r.concepts.index("stripes")
    assert r.mean[li, ki] > 0.9
    assert r.significant[li, ki] and r.p_values[li, ki] < 0.01
    assert r.accuracies[li, ki].mean() > 0.9            # the CAV separates stripes from random images


def test_stripes_do_not_raise_the_other_classes(results):
    """For the other classes the stripes are no significant positive concept
    (the paper's two-sided test marks a score held near 0, a concept that
    consistently lowers the class, as significant too)."""
    for c in (1, 2):
        r = results[c]
        li, ki = r.layers.index("conv2"), r.concepts.index("stripes")
        assert r.mean[li, ki] < 0.5
        assert not (r.significant[li, ki] and r.mean[li, ki] > 0.5)


def test_random_concepts_are_significant_no_more_often_than_chance(results):
    """Four random concepts for three classes: twelve tests at alpha 0.05, of
    which chance alone makes three or more significant with probability 2 %."""
    p_values, accuracies = [], []
    for r in results.values():
        li = r.layers.index("conv2")
        for s in NOISE_SEEDS:
            ki = r.concepts.index(f"noise{s}")
            p_values.append(r.p_values[li, ki])
            accuracies.append(r.accuracies[li, ki].mean())
    assert np.sum(np.array(p_values) < 0.05) <= 2, p_values
    assert np.median(p_values) > 0.2
    assert max(accuracies) < 0.75              # random against random: no direction to find


def test_result_shapes_json_and_cavs(results, concept_sets):
    r = results[0]
    k = len(concept_sets)
    assert r.scores.shape == (2, k, 10) and r.random_scores.shape == (2, 10)
    assert r.cavs["conv2"].shape[:2] == (k, 10)
    norms = np.linalg.norm(r.cavs["conv2"].reshape(k * 10, -1), axis=1)
    assert np.allclose(norms, 1, atol=1e-5)
    data = r.to_json()
    assert {row["concept"] for row in data["results"]} == {"stripes", "random", *(f"noise{s}" for s in NOISE_SEEDS)}
    assert "not significant" in r.table()


def test_cav_repeats_for_a_seed_and_points_to_the_concept():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, (20, 5)), rng.normal(-1, 1, (20, 5))
    v1, acc1 = fit_cav(pos, neg, seed=4)
    v2, acc2 = fit_cav(pos, neg, seed=4)
    assert np.array_equal(v1, v2) and acc1 == acc2
    assert v1.sum() > 0 and acc1 > 0.8
    logistic, _ = fit_cav(pos, neg, "logistic", seed=4)
    assert logistic @ np.ones(5) > 0


def test_tcav_score_counts_positive_directional_derivatives():
    g = np.array([[1.0, 0], [0, 1], [-1, 0], [-2, 1]])
    assert tcav_score(g, np.array([1.0, 0])) == 0.25
    assert tcav_score(g, np.array([0.0, 1])) == 0.5
    assert tcav_score(g, np.array([-1.0, 1])) == 0.75


def _write_pngs(folder, images):
    import imageio.v3 as iio

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        iio.imwrite(folder / f"{i:02d}.png", im[..., 0])


def test_small_concept_folder_refused_with_the_number_needed(planted_model, planted_data, random_pool, tmp_path):
    x, y = planted_data
    _write_pngs(tmp_path / "few", planted.concept("stripes", 3))
    (tmp_path / "few" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(CnnvizError, match=rf"few has 3 readable image\(s\) \(skipped 1 unreadable: broken.png\).*"
                                          rf"at least {images_needed(0.2)}"):
        tcav(planted_model, x[y == 0], 0, "conv2", {"few": str(tmp_path / "few")}, random_pool)


def test_unreadable_concept_files_are_skipped_and_named(planted_model, planted_data, random_pool, tmp_path):
    x, y = planted_data
    _write_pngs(tmp_path / "stripes", planted.concept("stripes", 12))
    (tmp_path / "stripes" / "broken.png").write_bytes(b"not an image")
    r = tcav(planted_model, x[y == 0], 0, "conv2", {"stripes": str(tmp_path / "stripes")}, random_pool, runs=3)
    entry = next(s for s in r.sets if s["name"] == "stripes")
    assert entry["images"] == 12 and [s["file"].endswith("broken.png") for s in entry["skipped"]] == [True]


def test_too_few_random_images_and_runs_refused(planted_model, planted_data, concept_sets):
    x, y = planted_data
    with pytest.raises(CnnvizError, match="random has 30 readable.*at least 48"):
        tcav(planted_model, x[y == 0], 0, "conv2", concept_sets, planted.concept("random", 30))
    with pytest.raises(CnnvizError, match="at least 2 random runs"):
        tcav(planted_model, x[y == 0], 0, "conv2", concept_sets, planted.concept("random", 60), runs=1)
    with pytest.raises(CnnvizError, match="no layer 'nope'"):
        tcav(planted_model, x[y == 0], 0, "nope", concept_sets, planted.concept("random", 60))


def test_concept_images_of_any_size_and_mode_are_converted_like_single_images(planted_model, tmp_path):
    import imageio.v3 as iio

    from cnnviz.concepts import image_set
    from cnnviz.models.inputs import load_image

    rng = np.random.default_rng(0)
    iio.imwrite(tmp_path / "rgb.png", rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    iio.imwrite(tmp_path / "rgba.png", rng.integers(0, 256, (20, 20, 4), dtype=np.uint8))
    iio.imwrite(tmp_path / "gray16.png", rng.integers(0, 65535, (40, 40), dtype=np.uint16))
    iio.imwrite(tmp_path / "small.jpg", rng.integers(0, 256, (9, 12, 3), dtype=np.uint8))
    s = image_set(planted_model, "mixed", str(tmp_path))
    assert s.x.shape == (4, 32, 32, 1) and not s.skipped
    for path, x in zip(s.files, s.x):
        assert np.allclose(x, load_image(path, planted_model).x, atol=1e-6)
