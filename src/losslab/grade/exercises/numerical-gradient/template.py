# losslab exercise: numerical-gradient
# Write your code between the Begin and End markers, then run:  losslab grade numerical_gradient.py
import numpy as np


def numerical_gradient(f, x):
    r'''Gradient of the scalar function f at x, by central differences.

    Parameters:
    - f: a function taking an array shaped like x and returning a number
    - x: a float numpy.ndarray of any shape (1-D, 2-D, ...)
    Returns:
    - grad: an array of x's shape, grad[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2 h), h = 1e-4
    x must hold its original values when the function returns.
    '''
    h = 1e-4
    ########## Begin ##########
    pass
    ########## End ##########
