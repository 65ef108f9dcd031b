# losslab 练习：cross-entropy-error
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade cross_entropy_error.py --lang zh
import numpy as np


def cross_entropy_error(y, t):
    r'''预测概率在一个 mini-batch 上的平均交叉熵。

    参数：
    - y：概率，形状为 (B, C)，或者形状为 (C,) 的单个样本
    - t：标签，可以是与 y 形状相同的 one-hot 行，也可以是形状为 (B,) 的类别索引
    返回：
    - 对 batch 求平均后的损失，一个浮点数
    '''
    ########## Begin ##########
    pass
    ########## End ##########
