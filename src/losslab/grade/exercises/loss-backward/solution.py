# The textbook's solution of level 2 (loss backward), as the platform expects it.
import numpy as np


def softmax(x):
    x = x - np.max(x, axis=1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        y = softmax(x)
        batch_size = y.shape[0]
        loss = -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
        self.loss = loss
        self.y = y
        self.t = t
        return loss

    def backward(self):
        ########## Begin ##########
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        dx = dx / batch_size
        return dx
        ########## End ##########


class MeanSquaredError:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, y, t):
        loss = 0.5 * np.sum((y - t) ** 2)
        self.loss = loss
        self.y = y
        self.t = t
        return loss

    def backward(self):
        ########## Begin ##########
        return self.y - self.t
        ########## End ##########
