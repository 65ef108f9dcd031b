# Level 1, broken: MeanSquaredError.forward calls sys.exit.
import numpy as np


def softmax(x):
    x = x - np.max(x, axis=1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None

    def forward(self, x, t):
        ########## Begin ##########
        y = softmax(x)
        batch_size = y.shape[0]
        # 1e-7 keeps log away from log(0)
        loss = -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
        self.loss = loss
        return loss
        ########## End ##########


class MeanSquaredError:
    def __init__(self):
        self.loss = None

    def forward(self, y, t):
        ########## Begin ##########
        import sys

        sys.exit(3)
        loss = 0.5 * np.sum((y - t) ** 2)
        self.loss = loss
        return loss
        ########## End ##########
