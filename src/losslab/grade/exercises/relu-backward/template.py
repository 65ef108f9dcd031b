# losslab exercise: relu-backward
# Write your code between the Begin and End markers, then run:  losslab grade relu_backward.py
import numpy as np


class Relu:
    def __init__(self):
        self.mask = None  # True where the input was <= 0

    def forward(self, x):
        # Given.
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        r'''Gradient with respect to forward's input, given dout (the gradient of the output).

        Returns dx, an array of x's shape. Do not modify dout: the caller may still need it.
        '''
        ########## Begin ##########
        pass
        ########## End ##########
