"""Training checkpoints know whose run they hold (issue 22): ``--resume``
refuses a checkpoint of another run (other data, classes, split or seed),
a damaged state is one line with the fix, and a kill between writing an
epoch's model and its state resumes from the state's epoch."""
import json
import shutil

import pytest
from conftest import needs_data

from cnnviz import Cancelled, CancelToken, CnnvizError
from cnnviz.lab.training import checkpoint_dir, train

SUBSET = 600


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run of mnist_small stopped after its first epoch of 3: the checkpoint folder."""
    out = tmp_path_factory.mktemp("run") / "small.keras"
    cancel = CancelToken()
    with pytest.raises(Cancelled, match="--resume"):
        train("mnist_small", epochs=3, limit=SUBSET, out=str(out), on_epoch=lambda *a: cancel.cancel(),
              cancel=cancel)
    return out


@pytest.fixture
def run(interrupted, tmp_path):
    """A copy of the interrupted run, for a test to spoil."""
    out = tmp_path / "small.keras"
    shutil.copytree(checkpoint_dir(interrupted), checkpoint_dir(out))
    return out


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("change,what", [({"limit": SUBSET + 100}, "limit"), ({"seed": 1}, "seed"),
                                         ({"validation": 0.2}, "validation"),
                                         ({"standardize": True}, "standardize")])
def test_resume_refuses_another_runs_checkpoint(run, change, what):
    kwargs = {"epochs": 3, "limit": SUBSET, **change}
    with pytest.raises(CnnvizError, match=f"of another run \\(its .*{what}.* differ\\)"):
        train("mnist_small", out=str(run), resume=True, **kwargs)


def _state(out):
    return checkpoint_dir(out) / "state.json"


DAMAGED = {
    "not JSON": ("{half", "damaged"),
    "a list": ("[1, 2]", "a list, not an object"),
    "negative epochs": ('{"epochs_done": -1}', "epochs_done is -1"),
    "text epochs": ('{"epochs_done": "one"}', "epochs_done is 'one'"),
    "history text": ('{"epochs_done": 1, "history": "loss"}', "history is not a table"),
    "history nested": ('{"epochs_done": 1, "history": {"loss": [[1]]}}', "history is not a table"),
    "history nulls": ('{"epochs_done": 1, "history": {"loss": [null]}}', "history is not a table"),
    "commands numbers": ('{"epochs_done": 1, "commands": [1]}', "commands is not a list of texts"),
    "model a path": ('{"epochs_done": 1, "model": "../../x.keras"}', "model is not a file name"),
    "model missing": ('{"epochs_done": 1, "model": "model-0009.keras"}', "model-0009.keras is missing"),
}


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_state_is_one_line_with_the_fix(run, case):
    text, message = DAMAGED[case]
    _state(run).write_text(text)
    with pytest.raises(CnnvizError, match="--force") as err:
        train("mnist_small", epochs=3, limit=SUBSET, out=str(run), resume=True)
    assert message in str(err.value) and str(checkpoint_dir(run)) in str(err.value)


@needs_data
@pytest.mark.data
def test_a_kill_between_an_epochs_model_and_its_state_resumes_at_the_states_epoch(run):
    ckpt = checkpoint_dir(run)
    state = json.loads(_state(run).read_text())
    assert state["model"] == "model-0001.keras" and sorted(p.name for p in ckpt.iterdir()) == \
        ["model-0001.keras", "state.json"]
    shutil.copy(ckpt / "model-0001.keras", ckpt / "model-0002.keras")   # epoch 2's model written, then killed
    seen = []
    result = train("mnist_small", epochs=3, limit=SUBSET, out=str(run), resume=True,
                   on_epoch=lambda e, n, logs: seen.append(e))
    assert seen == [2, 3] and result.card["epochs"] == 3 and not ckpt.exists()
