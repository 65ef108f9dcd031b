"""The exercises' inputs, probes (run in the sandbox) and judges (run in the judge's process), by family.

``losses``: levels 1 and 2 of the platform's exercise (SoftmaxWithLoss, MeanSquaredError);
``functions``: cross_entropy_error, numerical_gradient, BCE with logits; ``layers``: the
Relu, Sigmoid and Affine backward passes; ``optim``: one SGD step. The catalog
(:mod:`losslab.grade.catalog`) ties each exercise to its module's pieces.
"""

from . import functions, layers, losses, optim

__all__ = ["functions", "layers", "losses", "optim"]
