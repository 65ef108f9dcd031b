# losslab 练习：sigmoid-backward
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade sigmoid_backward.py --lang zh
import numpy as np


class Sigmoid:
    def __init__(self):
        self.out = None  # forward 的输出 y = sigmoid(x)

    def forward(self, x):
        # 已经给出。
        out = 1 / (1 + np.exp(-x))
        self.out = out
        return out

    def backward(self, dout):
        r'''给定 dout（输出的梯度），求对 forward 输入的梯度。

        返回 dx，形状和 dtype 与 x 相同。不要修改 dout。
        '''
        ########## Begin ##########
        pass
        ########## End ##########
