"""Training: mini-batch fit, history, model files, evaluation, and one configured run (``losslab train``)."""

from .evaluate import Evaluation, evaluate
from .losses import HEADS, TARGET_KINDS, encode_targets, make_loss
from .persist import SavedModel, load_model, read_model, save_model
from .run import DEFAULT_LR, TrainConfig, run
from .trainer import History, TrainingDiverged, TrainingInterrupted, accuracy, evaluate_loss, fit

__all__ = [
    "fit",
    "History",
    "TrainingDiverged",
    "TrainingInterrupted",
    "accuracy",
    "evaluate_loss",
    "encode_targets",
    "make_loss",
    "TARGET_KINDS",
    "HEADS",
    "TrainConfig",
    "DEFAULT_LR",
    "run",
    "save_model",
    "load_model",
    "read_model",
    "SavedModel",
    "evaluate",
    "Evaluation",
]
