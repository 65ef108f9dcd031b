# losslab 练习：relu-backward
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade relu_backward.py --lang zh
import numpy as np


class Relu:
    def __init__(self):
        self.mask = None  # 输入 <= 0 的位置为 True

    def forward(self, x):
        # 已经给出。
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        r'''给定 dout（输出的梯度），求对 forward 输入的梯度。

        返回 dx，形状与 x 相同。不要修改 dout：调用者可能还要用它。
        '''
        ########## Begin ##########
        pass
        ########## End ##########
