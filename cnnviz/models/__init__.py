"""Models: the zoo and shipped models, loading (safe by default), training,
transfer learning (features, fine-tuning), MC dropout, the compiled forward
pass, predictions, evaluation, and model surgery (softmax to logits, guided
ReLUs, sub-models) in one place, on the layer graph walked in :mod:`.graph`."""
from .zoo import ARCHS, ZOO_NAMES, ModelInfo, build_model, input_shape, load_model, model_info
from .predict import Prediction, predict, probabilities
from .evaluate import Evaluation, evaluate
from .training import TrainResult, train
from .transfer import Features, dataset_features, extract_features, finetune, fit_transfer
from .uncertainty import MCDropoutResult, mc_dropout

__all__ = ["ARCHS", "ZOO_NAMES", "ModelInfo", "build_model", "input_shape", "load_model", "model_info", "Prediction",
           "predict", "probabilities", "Evaluation", "evaluate", "TrainResult", "train", "Features", "dataset_features", "extract_features", "finetune", "fit_transfer", "MCDropoutResult",
           "mc_dropout"]
