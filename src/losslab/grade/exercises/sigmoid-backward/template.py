# losslab exercise: sigmoid-backward
# Write your code between the Begin and End markers, then run:  losslab grade sigmoid_backward.py
import numpy as np


class Sigmoid:
    def __init__(self):
        self.out = None  # the forward output y = sigmoid(x)

    def forward(self, x):
        # Given.
        out = 1 / (1 + np.exp(-x))
        self.out = out
        return out

    def backward(self, dout):
        r'''Gradient with respect to forward's input, given dout (the gradient of the output).

        Returns dx, an array of x's shape and dtype. Do not modify dout.
        '''
        ########## Begin ##########
        pass
        ########## End ##########
