# losslab exercise: affine-backward
# Write your code between the Begin and End markers, then run:  losslab grade affine_backward.py
import numpy as np


class Affine:
    def __init__(self, W, b):
        self.W = W  # (D, M)
        self.b = b  # (M,)
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        # Given: a batch of any shape (N, ...) is flattened to (N, D) first.
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        r'''Gradients of the layer, given dout of shape (N, M).

        Stores self.dW (W's shape) and self.db (b's shape); returns dx with the shape
        of forward's original input.
        '''
        ########## Begin ##########
        pass
        ########## End ##########
