"""Every option that sizes memory or time is bounded before work starts
(issue 22), with one line naming the limit: the command line's counts and
the attribution methods' options, through the CLI and the API."""
from __future__ import annotations

import pytest

from cnnviz.cli.main import main
from cnnviz.common.errors import CnnvizError

# (command line, the limit it names)
TOO_BIG = {
    "top-patches -k": (["top-patches", "mnist_small", "--layer", "conv1", "-k", "5000"], "at most 1,000"),
    "top-patches --batch-size": (["top-patches", "mnist_small", "--layer", "conv1", "--batch-size", "99999"],
                                 "at most 4,096"),
    "predict --mc-dropout": (["predict", "skimage:camera", "-m", "mnist_small", "--mc-dropout", "200000000"],
                             "at most 1,000,000"),
    "synthesize --steps": (["synthesize", "mnist_small", "--layer", "conv1", "--steps", "10000000"],
                           "at most 100,000"),
    "synthesize --octaves": (["synthesize", "mnist_small", "--layer", "conv1", "--octaves", "100"], "at most 16"),
    "attack --steps": (["attack", "skimage:camera", "-m", "mnist_small", "--steps", "10000000", "-o", "a.png"],
                       "at most 100000"),
    "train --batch-size": (["train", "mnist_small", "--batch-size", "1000000"], "at most 4,096"),
    "train --epochs": (["train", "mnist_small", "--epochs", "10000000"], "at most 100,000"),
    "finetune --head dense:1e12": (["finetune", "mnist_small", "--dataset", "mnist", "--head", "dense:1e12"],
                                   "at most 65,536 units"),
    "finetune --head dense:inf": (["finetune", "mnist_small", "--dataset", "mnist", "--head", "dense:inf"],
                                  "at most 65,536 units"),
    "explain smoothgrad samples": (["explain", "skimage:camera", "--model", "mnist_small", "--methods", "smoothgrad",
                                    "--option", "smoothgrad.samples=100000000"], "at most 10000"),
    "explain lime samples": (["explain", "skimage:camera", "--model", "mnist_small", "--methods", "lime",
                              "--option", "lime.samples=1000000000"], "at most 100000"),
    "explain batch size": (["explain", "skimage:camera", "--model", "mnist_small", "--methods", "saliency",
                            "--option", "saliency.batch_size=10000000"], "at most 4096"),
}


@pytest.mark.parametrize("case", list(TOO_BIG))
def test_a_count_too_big_is_one_line_naming_the_limit(capsys, case):
    argv, limit = TOO_BIG[case]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and limit in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("method,option,value", [("smoothgrad", "samples", 10**8), ("lime", "samples", 10**9),
                                                 ("integrated_gradients", "steps", 10**7),
                                                 ("lime", "segments", 10**6)])
def test_the_api_bounds_the_same_options(method, option, value):
    from cnnviz.attribution.registry import check_options

    with pytest.raises(CnnvizError, match="too large: use at most"):
        check_options(method, {option: value})
