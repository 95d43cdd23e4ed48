"""The Concepts tab on the planted-concept model (trained here; diagonal
stripes mark class 0): TCAV of a stripes folder at conv2 is significant
for the striped class, CRAFT lists concepts with crops, clicking one shows
it in the current image; the folders are remembered; a run can be cancelled."""

import pytest

pytest.importorskip("pytestqt")

import planted  # noqa: E402
from test_gui import make_window, open_image, open_model, shot, window  # noqa: E402,F401


def _pngs(folder, images):
    return str(planted.write_pngs(folder, images))


@pytest.fixture(scope="module")
def planted_files(tmp_path_factory, planted_model):
    root = planted.write_model_and_classes(tmp_path_factory.mktemp("gui-concepts"), planted_model, 12)
    _pngs(root / "stripes", planted.concept("stripes", 12))
    _pngs(root / "random", planted.concept("random", 40, seed=3))
    return root


def test_concepts_tab_tcav_craft_and_maps(qtbot, window, planted_files, tmp_path):  # noqa: F811
    root = planted_files
    open_model(qtbot, window, str(root / "planted.keras"))
    open_image(qtbot, window, str(root / "data" / "striped" / "00.png"))
    window.session.set_layer("conv2")
    view = window.view("concepts")
    window.tabs.setCurrentIndex(window.views.index(view))
    view.target.setCurrentIndex(view.target.findData(0))
    view.set_class_folder(str(root / "data"))
    view.add_concept(str(root / "stripes"))
    view.choose_random_folder(str(root / "random"))
    view.runs.setValue(4)
    assert view.tcav_button.isEnabled()
    view.run_tcav()
    qtbot.waitUntil(lambda: view.tcav_result is not None, timeout=120000)
    assert "stripes" in view.tcav_summary.text() and view.tcav_result.mean[0, 0] > 0.9
    assert view.tcav_view.rgb is not None
    view.k.setValue(3)
    view.patch.setValue(16)
    view.run_craft()
    qtbot.waitUntil(lambda: view.craft_result is not None, timeout=120000)
    assert view.concept_view.count() == 3 and view.concept_view.currentRow() == 0
    qtbot.waitUntil(lambda: view.map_view.rgb is not None, timeout=60000)
    assert "concept 1" in view.map_caption.text()
    view.concept_view.setCurrentRow(2)
    qtbot.waitUntil(lambda: "concept 3" in view.map_caption.text(), timeout=60000)
    shot(window, "concepts")
    assert view.settings()["concepts"] == [["stripes", str(root / "stripes")]]
    view.k.setValue(5)                                 # a new question, then Cancel: the app stays usable
    view.run_craft()
    qtbot.waitUntil(window.cancel_button.isVisible, timeout=30000)
    window.cancel_jobs()
    qtbot.waitUntil(lambda: "Cancelled" in view.craft_summary.text(), timeout=30000)
    assert view.craft_button.isEnabled()
    view.set_class_folder(None)
    assert view.tcav_result is None                    # another question: the old answer is gone


def test_concept_folders_are_remembered(qtbot, planted_files, tmp_path):
    settings = tmp_path / "settings.ini"
    first = make_window(qtbot, settings)
    first.view("concepts").add_concept(str(planted_files / "stripes"))
    first.view("concepts").choose_random_folder(str(planted_files / "random"))
    first.close()
    first.runner.shutdown(timeout=20)
    second = make_window(qtbot, settings)
    view = second.view("concepts")
    assert view.concepts == [("stripes", str(planted_files / "stripes"))]
    assert view.random_folder == str(planted_files / "random")
    second.runner.shutdown(timeout=20)
