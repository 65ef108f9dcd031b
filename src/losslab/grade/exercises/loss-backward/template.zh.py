# losslab 练习：loss-backward（第 2 关）
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade loss_backward.py --lang zh
import numpy as np


def softmax(x):
    # 已经给出：对形状为 (B, C) 的数组按行做 softmax，先减去每行的最大值（避免溢出）。
    x = x - np.max(x, axis=1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None  # softmax 的输出，由 forward 保存
        self.t = None  # 标签，由 forward 保存

    def forward(self, x, t):
        r'''已经给出：softmax 加交叉熵（对 batch 求平均）；保存 y 和 t 供 backward 使用。'''
        y = softmax(x)
        batch_size = y.shape[0]
        loss = -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
        self.loss = loss
        self.y = y
        self.t = t
        return loss

    def backward(self):
        r'''损失对 forward 的输入 x 的梯度。

        返回：
        - dx：形状为 (B, C) 的 numpy.ndarray，形状和 dtype 与 x 相同
        '''
        ########## Begin ##########
        pass
        ########## End ##########


class MeanSquaredError:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, y, t):
        r'''已经给出：误差平方和的一半；保存 y 和 t 供 backward 使用。'''
        loss = 0.5 * np.sum((y - t) ** 2)
        self.loss = loss
        self.y = y
        self.t = t
        return loss

    def backward(self):
        r'''损失对 forward 的输入 y 的梯度。

        返回：
        - dy：形状为 (B, N) 的 numpy.ndarray，形状和 dtype 与 y 相同
        '''
        ########## Begin ##########
        pass
        ########## End ##########
