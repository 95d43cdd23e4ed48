"""The training lab: training any model your way (optimizers, augmentation,
resumable checkpoints, model cards), evaluation, transfer learning (features,
a linear probe, fine-tuning) and MC dropout. It sits above :mod:`cnnviz.models`
and uses the data, the dataset-job engines and the training figures."""
from .evaluate import Evaluation, evaluate
from .training import OPTIMIZERS, TrainResult, train
from .transfer import Features, dataset_features, extract_features, finetune, fit_transfer
from .uncertainty import MCDropoutResult, mc_dropout

__all__ = ["Evaluation", "evaluate", "OPTIMIZERS", "TrainResult", "train", "Features", "dataset_features",
           "extract_features", "finetune", "fit_transfer", "MCDropoutResult", "mc_dropout"]
