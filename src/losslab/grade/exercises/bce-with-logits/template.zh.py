# losslab 练习：bce-with-logits
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade bce_with_logits.py --lang zh
import numpy as np


def bce_with_logits(x, t):
    r'''sigmoid(x) 相对于目标 t 的二元交叉熵，对所有元素求平均。

    参数：
    - x：logits，形状为 (B, K) 的浮点 numpy.ndarray
    - t：取值于 [0, 1] 的目标，形状与 x 相同
    返回：
    - 平均损失，一个浮点数；即使 |x| = 1000 也必须是有限值
    '''
    ########## Begin ##########
    pass
    ########## End ##########


def bce_with_logits_backward(x, t):
    r'''bce_with_logits(x, t) 对 x 的梯度：形状和 dtype 与 x 相同的数组。'''
    ########## Begin ##########
    pass
    ########## End ##########
