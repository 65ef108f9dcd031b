# losslab exercise: cross-entropy-error
# Write your code between the Begin and End markers, then run:  losslab grade cross_entropy_error.py
import numpy as np


def cross_entropy_error(y, t):
    r'''Mean cross-entropy of predicted probabilities over a mini-batch.

    Parameters:
    - y: probabilities, shape (B, C), or one sample of shape (C,)
    - t: labels, either one-hot rows of y's shape, or class indices of shape (B,)
    Returns:
    - the loss averaged over the batch, a float
    '''
    ########## Begin ##########
    pass
    ########## End ##########
