# losslab exercise: bce-with-logits
# Write your code between the Begin and End markers, then run:  losslab grade bce_with_logits.py
import numpy as np


def bce_with_logits(x, t):
    r'''Binary cross-entropy of sigmoid(x) against targets t, averaged over all elements.

    Parameters:
    - x: logits, a float numpy.ndarray of shape (B, K)
    - t: targets in [0, 1], same shape
    Returns:
    - the mean loss, a float; finite even for |x| = 1000
    '''
    ########## Begin ##########
    pass
    ########## End ##########


def bce_with_logits_backward(x, t):
    r'''Gradient of bce_with_logits(x, t) with respect to x: an array of x's shape and dtype.'''
    ########## Begin ##########
    pass
    ########## End ##########
