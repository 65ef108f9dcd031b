# losslab 练习：loss-forward（第 1 关）
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade loss_forward.py --lang zh
import numpy as np


def softmax(x):
    # 已经给出：对形状为 (B, C) 的数组按行做 softmax。先减去每行的最大值，
    # 结果不变，但可以避免 np.exp 溢出。
    x = x - np.max(x, axis=1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None

    def forward(self, x, t):
        r'''先做 softmax，再计算交叉熵，对 batch 求平均。

        参数：
        - x：形状为 (B, C) 的 numpy.ndarray，B 个样本在 C 个类别上的得分（logits）
        - t：形状为 (B,) 的整数 numpy.ndarray，每个样本的正确类别
        返回：
        - loss：一个浮点数，同时保存到 self.loss
        '''
        ########## Begin ##########
        pass
        ########## End ##########


class MeanSquaredError:
    def __init__(self):
        self.loss = None

    def forward(self, y, t):
        r'''所有元素误差平方和的一半。

        参数：
        - y：形状为 (B, N) 的 numpy.ndarray，网络的输出
        - t：形状为 (B, N) 的 numpy.ndarray，目标值
        返回：
        - loss：一个浮点数，同时保存到 self.loss
        '''
        ########## Begin ##########
        pass
        ########## End ##########
