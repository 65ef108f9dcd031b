# losslab exercise: loss-forward (level 1)
# Write your code between the Begin and End markers, then run:  losslab grade loss_forward.py
import numpy as np


def softmax(x):
    # Given: row-wise softmax of a (B, C) array. The row maximum is subtracted first,
    # which leaves the result unchanged but keeps np.exp from overflowing.
    x = x - np.max(x, axis=1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None

    def forward(self, x, t):
        r'''Softmax followed by cross-entropy, averaged over the batch.

        Parameters:
        - x: numpy.ndarray of shape (B, C), the scores (logits) of B samples over C classes
        - t: numpy.ndarray of shape (B,), int, the correct class of each sample
        Returns:
        - loss: a float, also stored in self.loss
        '''
        ########## Begin ##########
        pass
        ########## End ##########


class MeanSquaredError:
    def __init__(self):
        self.loss = None

    def forward(self, y, t):
        r'''Half the sum of squared errors over all elements.

        Parameters:
        - y: numpy.ndarray of shape (B, N), the outputs
        - t: numpy.ndarray of shape (B, N), the targets
        Returns:
        - loss: a float, also stored in self.loss
        '''
        ########## Begin ##########
        pass
        ########## End ##########
