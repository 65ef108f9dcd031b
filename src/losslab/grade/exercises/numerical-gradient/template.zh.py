# losslab 练习：numerical-gradient
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade numerical_gradient.py --lang zh
import numpy as np


def numerical_gradient(f, x):
    r'''用中心差分求标量函数 f 在 x 处的梯度。

    参数：
    - f：一个函数，接收与 x 形状相同的数组，返回一个数
    - x：任意形状（一维、二维……）的浮点 numpy.ndarray
    返回：
    - grad：与 x 形状相同的数组，grad[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)，h = 1e-4
    函数返回时 x 必须恢复为原来的值。
    '''
    h = 1e-4
    ########## Begin ##########
    pass
    ########## End ##########
