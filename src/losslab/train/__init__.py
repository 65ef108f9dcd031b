"""Training: mini-batch fit, history, model files, and one configured run (``losslab train``)."""

from .persist import load_model, save_model
from .run import TrainConfig, run
from .trainer import TARGET_KINDS, History, accuracy, encode_targets, fit, make_loss

__all__ = ["fit", "History", "accuracy", "encode_targets", "make_loss", "TARGET_KINDS",
           "TrainConfig", "run", "save_model", "load_model"]
