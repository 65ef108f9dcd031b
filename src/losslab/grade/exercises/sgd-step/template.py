# losslab exercise: sgd-step
# Write your code between the Begin and End markers, then run:  losslab grade sgd_step.py
import numpy as np


class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        r'''One gradient-descent step on every parameter.

        params and grads are dicts of numpy arrays with the same keys ('W1', 'b1', ...).
        Update the arrays of params in place; grads stays unchanged.
        '''
        ########## Begin ##########
        pass
        ########## End ##########
