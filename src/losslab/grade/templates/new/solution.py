# The reference solution: every check compares a submission's answer with this one's.
import numpy as np


def mean_absolute_error(y, t):
    return np.mean(np.abs(y - t))
