# losslab 练习：sgd-step
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade sgd_step.py --lang zh
import numpy as np


class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        r'''对每个参数做一步梯度下降。

        params 和 grads 是键相同（'W1'、'b1'……）的 numpy 数组字典。
        原地更新 params 中的数组；grads 保持不变。
        '''
        ########## Begin ##########
        pass
        ########## End ##########
