# 在 Begin 和 End 两行标记之间编写代码。
import numpy as np


def mean_absolute_error(y, t):
    ########## Begin ##########
    pass
    ########## End ##########
