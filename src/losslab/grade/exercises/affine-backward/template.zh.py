# losslab 练习：affine-backward
# 在 Begin 和 End 两行标记之间编写代码，然后运行：  losslab grade affine_backward.py --lang zh
import numpy as np


class Affine:
    def __init__(self, W, b):
        self.W = W  # (D, M)
        self.b = b  # (M,)
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        # 已经给出：任意形状 (N, ...) 的 batch 先被展平成 (N, D)。
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        r'''给定形状为 (N, M) 的 dout，求这一层的梯度。

        把 self.dW（形状与 W 相同）和 self.db（形状与 b 相同）保存下来；
        返回 dx，形状与 forward 收到的原始输入相同。
        '''
        ########## Begin ##########
        pass
        ########## End ##########
