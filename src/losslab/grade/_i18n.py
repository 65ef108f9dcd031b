"""Every sentence the judge prints, in English and in Chinese, in one table.

A message is a key and its parameters (:class:`Msg`); it is put into words only when
printed, so one grading run can be shown in either language. Keys starting with
``mistake.`` name a likely mistake and say how to fix it; ``case.`` keys say what a
check tested; ``reason.`` keys say why it failed.

>>> Msg("reason.shape", {"got": (3,), "expected": (2, 3)}).text("en")
'shape (3,), expected (2, 3)'
>>> Msg("reason.shape", {"got": (3,), "expected": (2, 3)}).text("zh")
'形状为 (3,)，应为 (2, 3)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGS: tuple[str, ...] = ("en", "zh")
"""The languages of the judge's feedback, statements and templates: English and Chinese."""

MESSAGES: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- what a check tested
    "case.platform": ("the platform's test: random inputs of shape {shape}", "平台的测试：形状为 {shape} 的随机输入"),
    "case.batch1": ("batch size 1, shape {shape}", "批大小为 1，形状 {shape}"),
    "case.large_logits": (
        "large logits (each row shifted by +1000 or -1000)",
        "很大的 logits（每一行整体加上 +1000 或 -1000）",
    ),
    "case.large_x": ("large inputs (|x| = 1000)", "很大的输入（|x| = 1000）"),
    "case.float32": ("float32 inputs", "float32 类型的输入"),
    "case.self_loss": ("self.loss holds the returned loss", "self.loss 中保存了返回的损失"),
    "case.unchanged": ("the caller's arrays are left unchanged", "调用者传入的数组没有被修改"),
    "case.shape_dtype": (
        "the gradient has the input's shape {shape} and dtype {dtype}",
        "梯度的形状 {shape} 和 dtype {dtype} 与输入一致",
    ),
    "case.twice": ("calling backward() twice gives the same gradient", "连续调用两次 backward() 得到相同的梯度"),
    "case.gradcheck": (
        "gradient check: backward agrees with central differences of forward",
        "梯度检验：backward 的结果与对 forward 做中心差分得到的数值梯度一致",
    ),
    "case.gradcheck_fn": (
        "gradient check: the gradient agrees with central differences of the loss",
        "梯度检验：梯度与对损失函数做中心差分得到的数值梯度一致",
    ),
    "case.given_forward": (
        "the given forward still returns the reference loss",
        "题目给出的 forward 仍然返回正确的损失",
    ),
    "case.single": (
        "one sample: 1-D y and one-hot t (the book's example)",
        "单个样本：一维的 y 和 one-hot 的 t（书中的例子）",
    ),
    "case.onehot": ("mini-batch with one-hot labels, shape {shape}", "one-hot 标签的 mini-batch，形状 {shape}"),
    "case.index": ("mini-batch with class-index labels, shape {shape}", "类别索引标签的 mini-batch，形状 {shape}"),
    "case.zero_prob": ("probability 0 at the correct class gives a finite loss", "正确类别的概率为 0 时损失仍是有限值"),
    "case.ng_1d": (
        "f(x) = sum(x**3)/3 + sum(sin x) at a 1-D x of size {n}",
        "f(x) = sum(x**3)/3 + sum(sin x)，x 为长度 {n} 的一维数组",
    ),
    "case.ng_2d": (
        "f(W) = sum(A * W**3)/3 + sum(C * W) at a 2-D W of shape {shape}",
        "f(W) = sum(A * W**3)/3 + sum(C * W)，W 为形状 {shape} 的二维数组",
    ),
    "case.ng_shape": (
        "the result has x's shape {shape} and dtype {dtype}",
        "返回值的形状 {shape} 和 dtype {dtype} 与 x 一致",
    ),
    "case.restored": ("x holds its original values after the call", "调用结束后 x 恢复为原来的值"),
    "case.tensor": (
        "a 4-D input of shape {shape}: dx has the input's shape",
        "形状为 {shape} 的四维输入：dx 的形状与输入相同",
    ),
    "case.grad_dtypes": ("float32 inputs give float32 dx, dW and db", "float32 输入得到 float32 的 dx、dW 和 db"),
    "case.step": ("one step with lr = {lr} on random parameters", "在随机参数上以 lr = {lr} 更新一步"),
    "case.in_place": ("the parameters are updated in place (the same arrays)", "参数被原地更新（仍是原来的数组对象）"),
    "case.default_lr": ("SGD() uses the default learning rate 0.01", "SGD() 使用默认学习率 0.01"),
    "case.two_steps": ("two calls to update() take two steps", "调用两次 update() 更新两步"),
    "case.dtype_kept": ("float32 parameters stay float32", "float32 的参数更新后仍是 float32"),
    "case.import": ("your file can be imported", "你的文件可以被导入"),
    "case.custom": ("{en}", "{zh}"),
    "case.judging": ("judging the answers", "评判答案"),
    "call.import": ("the top-level code of your file", "文件的顶层代码"),
    # ---------------------------------------------------------------- why a check failed
    "reason.raised": ("{call} raised {exc}: {msg}{where}", "{call} 抛出了异常 {exc}: {msg}{where}"),
    "reason.where": (" (line {line})", "（第 {line} 行）"),
    "reason.where_cell": (" (cell {cell}, line {line})", "（第 {cell} 个代码单元格第 {line} 行）"),
    "reason.notebook": ("the judge could not read this notebook: {msg}", "评测程序无法读取这个 notebook:{msg}"),
    "reason.needs": (
        "{exercise} needs {names}, which your file does not define",
        "{exercise} 需要 {names}，但你的文件中没有定义",
    ),
    "note.defined_twice": (
        "{name} is defined more than once (lines {lines}): the last definition is the one graded",
        "{name} 被定义了不止一次（第 {lines} 行）：评测的是最后一个定义",
    ),
    "note.magics": (
        "IPython magics and shell lines were removed before grading: {lines}",
        "评测前删除了 IPython 魔法命令和 shell 命令：{lines}",
    ),
    "note.cell_line": ("cell {cell} line {line} ({text})", "第 {cell} 个单元格第 {line} 行（{text}）"),
    "reason.missing": ("your file does not define {name}", "你的文件中没有定义 {name}"),
    "reason.exit": (
        "{call} called sys.exit({code}): a submission must not end the process",
        "{call} 调用了 sys.exit({code})：提交的代码不能结束进程",
    ),
    "reason.memory": (
        "{call} ran out of memory (the limit is {mb} MiB){where}",
        "{call} 内存不足（上限 {mb} MiB）{where}",
    ),
    "reason.timeout": (
        "timed out after {seconds:g} s while running {call} (an infinite loop?)",
        "运行 {call} 时超时（{seconds:g} 秒），是否有死循环？",
    ),
    "reason.died": (
        "the process ended (exit status {code}) while running {call}",
        "运行 {call} 时进程退出（退出码 {code}）",
    ),
    "reason.signal": (
        "the process was killed by {signal} while running {call}",
        "运行 {call} 时进程被信号 {signal} 终止",
    ),
    "reason.not_run": (
        "not run: the submission stopped earlier, while running {call}",
        "未运行：提交的代码在运行 {call} 时已经停止",
    ),
    "reason.import": ("importing your file failed: {exc}: {msg}{where}", "导入你的文件失败：{exc}: {msg}{where}"),
    "reason.missing_module": (
        "importing your file failed: there is no module named '{module}' (a submission "
        "is one self-contained file that uses only the Python standard library and NumPy)",
        "导入你的文件失败：没有名为 '{module}' 的模块（提交的代码应是一个独立的文件，只使用 Python 标准库和 NumPy）",
    ),
    "reason.start_timeout": (
        "the judge could not start your file within {seconds:g} s: try a longer --timeout",
        "评测程序没能在 {seconds:g} 秒内启动你的文件：请加大 --timeout",
    ),
    "reason.syntax": ("your file does not compile: {msg} (line {line})", "你的文件无法编译：{msg}（第 {line} 行）"),
    "reason.undetected": (
        "could not tell which exercise this file implements: it defines none of {names}",
        "无法判断这个文件对应哪道练习：文件中没有定义 {names} 中的任何一个",
    ),
    "reason.sandbox": ("the judge could not run your file: {msg}", "评测程序无法运行你的文件：{msg}"),
    "reason.protocol": (
        "while running {call}, your file's process sent something that is not an answer ({detail}); it was stopped",
        "运行 {call} 时，你的文件所在进程发回了无法识别的数据（{detail}），已被终止",
    ),
    "reason.memory_all": (
        "ran out of memory while running {call} (the limit is {mb} MiB for all its processes together)",
        "运行 {call} 时内存不足（所有进程合计上限 {mb} MiB）",
    ),
    "reason.unreadable": ("the judge could not read this file: {msg}", "评测程序无法读取这个文件：{msg}"),
    "reason.not_regular": ("not a regular file ({kind}): nothing to grade", "不是普通文件（{kind}）：无法评测"),
    "reason.too_large": (
        "the file is larger than {kib} KiB: not a solution to grade",
        "文件大于 {kib} KiB：不是可以评测的答案",
    ),
    "reason.internal": (
        "internal error of the judge while grading this file ({msg}); please report it",
        "评测这个文件时评测程序内部出错（{msg}），请报告这个问题",
    ),
    "reason.skipped": ("skipped: {why}", "已跳过：{why}"),
    "reason.none": ("returned None (a missing `return`?)", "返回了 None（是不是忘了 return？）"),
    "reason.attr_none": ("{attr} is None (never assigned?)", "{attr} 是 None（没有赋值？）"),
    "reason.not_numeric": (
        "returned a value of type {type}, not a number or a NumPy array",
        "返回了 {type} 类型的值，而不是数值或 NumPy 数组",
    ),
    "reason.not_scalar": (
        "returned an array of shape {shape}, expected a single number",
        "返回了形状为 {shape} 的数组，应为单个数值",
    ),
    "reason.shape": ("shape {got}, expected {expected}", "形状为 {got}，应为 {expected}"),
    "reason.dtype": ("dtype {got}, expected {expected}", "dtype 为 {got}，应为 {expected}"),
    "reason.param_dtype": (
        "params[{key}] is {got}, expected a {expected} array",
        "params[{key}] 为 {got}，应为 {expected} 数组",
    ),
    "reason.nonfinite": (
        "got NaN or inf (expected {expected}, got {got})",
        "结果中出现了 NaN 或 inf（应为 {expected}，实际为 {got}）",
    ),
    "reason.mismatch": ("expected {expected}, got {got}", "应为 {expected}，实际为 {got}"),
    "reason.mismatch_at": (
        "expected {expected}, got {got} at index {index} (largest error {err:.3g})",
        "在下标 {index} 处应为 {expected}，实际为 {got}（最大误差 {err:.3g}）",
    ),
    "reason.changed": ("modified {names} in place", "原地修改了 {names}"),
    "reason.loss_differs": (
        "self.loss = {got}, but forward returned {returned}",
        "self.loss = {got}，但 forward 返回的是 {returned}",
    ),
    "reason.twice": (
        "the second call returned a different gradient (largest difference {err:.3g})",
        "第二次调用返回了不同的梯度（最大差值 {err:.3g}）",
    ),
    "reason.gradcheck": (
        "largest relative error {err:.2e} at index {index}: backward gives {analytic:.6g}, "
        "central differences give {numeric:.6g}",
        "在下标 {index} 处相对误差最大，为 {err:.2e}：backward 给出 {analytic:.6g}，中心差分给出 {numeric:.6g}",
    ),
    "reason.not_in_place": (
        "params[{key}] is a new array; the array the caller passed in was not updated",
        "params[{key}] 被换成了新数组，调用者传入的原数组没有被更新",
    ),
    # ---------------------------------------------------------------- likely mistakes
    "mistake.index_slip": (
        "indexed y[:, t], which picks every row's probability of every label (a B x B "
        "block): pick one per row with y[np.arange(B), t]",
        "写成了 y[:, t]：它取出每一行对所有标签的概率（B x B 的矩阵）；应当用 y[np.arange(B), t] 每行取一个",
    ),
    "mistake.grad_index_slip": (
        "subtracted 1 with dx[:, t], which hits every row at every label's column: use dx[np.arange(B), t] -= 1",
        "用 dx[:, t] 减 1 会在每一行的所有标签列上都减 1：应当写 dx[np.arange(B), t] -= 1",
    ),
    "mistake.grad_in_self_y": (
        "backward changed self.y in place (dx = self.y, then dx[...] -= 1), so the next "
        "call starts from a wrong y: copy it first, dx = self.y.copy()",
        "backward 原地修改了 self.y（dx = self.y 之后 dx[...] -= 1），下一次调用就从错误的 y "
        "开始：先复制，dx = self.y.copy()",
    ),
    "mistake.no_batch_mean": (
        "forgot to average over the batch: divide the summed loss by B",
        "忘记对 batch 求平均：要把总损失除以 B",
    ),
    "mistake.mean_over_all": (
        "averaged over every element (B x C): average over the batch only",
        "对所有元素（B x C 个）求了平均：只应对 batch 求平均",
    ),
    "mistake.loss_sign": ("wrong sign: cross-entropy is -sum(t * log(y))", "符号错误：交叉熵是 -sum(t * log(y))"),
    "mistake.mse_mean": (
        "used the mean instead of the sum: this MSE is 0.5 * np.sum((y - t)**2) over all elements",
        "用了平均值而不是求和：这里的均方误差是对所有元素求 0.5 * np.sum((y - t)**2)",
    ),
    "mistake.mse_batch_mean": (
        "divided by the batch size: this MSE is a plain sum over all elements",
        "除以了批大小：这里的均方误差是对所有元素直接求和",
    ),
    "mistake.mse_no_half": ("dropped the 0.5: E = 0.5 * sum((y - t)**2)", "漏掉了系数 0.5:E = 0.5 * sum((y - t)**2)"),
    "mistake.half_twice": ("off by a factor of 2: the 0.5 is applied twice?", "差了 2 倍：是不是乘了两次 0.5？"),
    "mistake.grad_sign": (
        "gradient with the wrong sign: it is y - t, not t - y",
        "梯度符号错误：应为 y - t，而不是 t - y",
    ),
    "mistake.grad_no_batch": (
        "gradient not divided by B: the loss is a batch mean, so dx = (y - onehot(t)) / B",
        "梯度没有除以 B：损失是 batch 的平均值，所以 dx = (y - onehot(t)) / B",
    ),
    "mistake.grad_batch_twice": ("gradient divided by B twice", "梯度除了两次 B"),
    "mistake.grad_no_onehot": (
        "forgot to subtract 1 at the correct class: dx = (y - onehot(t)) / B",
        "忘记在正确类别处减 1:dx = (y - onehot(t)) / B",
    ),
    "mistake.mse_grad_batch": (
        "gradient divided by B: this MSE is a sum, so dy = y - t",
        "梯度除以了 B：这里的均方误差是求和，所以 dy = y - t",
    ),
    "mistake.mse_grad_count": (
        "gradient divided by the element count: this MSE is a sum, so dy = y - t",
        "梯度除以了元素个数：这里的均方误差是求和，所以 dy = y - t",
    ),
    "mistake.mse_grad_two": (
        "gradient 2 (y - t): the 0.5 in the loss cancels the 2, so dy = y - t",
        "梯度为 2 (y - t)：损失中的 0.5 与求导得到的 2 抵消，所以 dy = y - t",
    ),
    "mistake.no_max_subtraction": (
        "NaN/inf at large logits: subtract each row's maximum before np.exp (x - x.max(axis=1, keepdims=True))",
        "logits 很大时出现 NaN/inf：计算 np.exp 之前先减去每行的最大值（x - x.max(axis=1, keepdims=True)）",
    ),
    "mistake.loss_not_set": (
        "self.loss not set: assign the loss to self.loss before returning it",
        "没有设置 self.loss：返回之前把损失保存到 self.loss",
    ),
    "mistake.no_delta": (
        "log(0) = -inf: add a tiny delta inside the log, np.log(y + 1e-7)",
        "log(0) = -inf：在 log 里加一个很小的值，np.log(y + 1e-7)",
    ),
    "mistake.index_labels": (
        "one-hot labels work but class indices do not: with one label per sample, pick y[np.arange(batch_size), t]",
        "one-hot 标签正确但类别索引标签不正确：每个样本一个标签时，取 y[np.arange(batch_size), t]",
    ),
    "mistake.onehot_labels": (
        "class indices work but one-hot rows do not: when t.size == y.size, "
        "turn the rows into indices with t.argmax(axis=1)",
        "类别索引标签正确但 one-hot 标签不正确：当 t.size == y.size 时，先用 t.argmax(axis=1) 转换成索引",
    ),
    "mistake.single_sample": (
        "mini-batches work but one 1-D sample does not: reshape y and t to one row first (y.reshape(1, y.size))",
        "mini-batch 正确但单个一维样本不正确：先把 y 和 t 变成一行（y.reshape(1, y.size)）",
    ),
    "mistake.one_sided": (
        "one-sided difference (f(x+h) - f(x)) / h: use the central difference (f(x+h) - f(x-h)) / (2*h)",
        "用了单侧差分 (f(x+h) - f(x)) / h：应使用中心差分 (f(x+h) - f(x-h)) / (2*h)",
    ),
    "mistake.h_not_2h": ("divided by h instead of 2*h", "除以了 h 而不是 2*h"),
    "mistake.not_restored": (
        "x not restored: put x[i] back to its old value after evaluating f",
        "没有还原 x：计算完 f 之后要把 x[i] 恢复为原来的值",
    ),
    "mistake.only_1d": (
        "works for 1-D x only: visit every element, e.g. with np.nditer(x, flags=['multi_index'])",
        "只对一维 x 有效：要遍历每个元素，例如使用 np.nditer(x, flags=['multi_index'])",
    ),
    "mistake.dout_in_place": (
        "modified dout in place (as the book's dout[self.mask] = 0 does): work on a copy, dx = dout.copy()",
        "原地修改了 dout（书中的 dout[self.mask] = 0 就是这样）：请在副本上操作，dx = dout.copy()",
    ),
    "mistake.forgot_dout": (
        "forgot to multiply by dout (chain rule: dx = dout * local gradient)",
        "忘记乘以 dout（链式法则：dx = dout * 局部梯度）",
    ),
    "mistake.relu_no_mask": (
        "passed dout through unchanged: set it to 0 where x <= 0",
        "直接把 dout 传了回去：x <= 0 的位置应置为 0",
    ),
    "mistake.relu_inverted_mask": (
        "mask inverted: the gradient flows where x > 0 and is 0 where x <= 0",
        "掩码反了：x > 0 处梯度通过，x <= 0 处梯度为 0",
    ),
    "mistake.sigmoid_used_x": (
        "used the input x in dout * (1 - y) * y: the formula needs the output y = sigmoid(x), kept in self.out",
        "在 dout * (1 - y) * y 中用了输入 x：公式需要的是输出 y = sigmoid(x)，保存在 self.out 中",
    ),
    "mistake.dW_transposed": (
        "dW is transposed: dW = np.dot(x.T, dout) has W's shape (in, out)",
        "dW 转置了：dW = np.dot(x.T, dout)，形状与 W 相同 (in, out)",
    ),
    "mistake.param_batch_mean": (
        "divided by the batch size: dW = np.dot(x.T, dout) and db = np.sum(dout, axis=0), no mean",
        "除以了批大小：dW = np.dot(x.T, dout)，db = np.sum(dout, axis=0)，不求平均",
    ),
    "mistake.db_not_summed": (
        "db not summed over the batch: db = np.sum(dout, axis=0)",
        "db 没有沿 batch 求和：db = np.sum(dout, axis=0)",
    ),
    "mistake.no_reshape": (
        "dx not reshaped back to the input's shape: dx.reshape(*self.original_x_shape)",
        "dx 没有变回输入的形状：dx.reshape(*self.original_x_shape)",
    ),
    "mistake.bce_sum": ("summed instead of averaging over all elements", "对所有元素求了和，应当求平均"),
    "mistake.bce_row_mean": (
        "averaged over rows only: divide by the number of elements, x.size",
        "只对行求了平均：应除以元素个数 x.size",
    ),
    "mistake.unstable_bce": (
        "unstable at large |x| (NaN/inf, or a loss capped by a +1e-7 inside the log): "
        "use np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))",
        "|x| 很大时不稳定（出现 NaN/inf，或者 log 中的 +1e-7 限制了损失的大小）："
        "使用 np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))",
    ),
    "mistake.bce_grad_count": (
        "gradient not divided by the element count: (sigmoid(x) - t) / x.size",
        "梯度没有除以元素个数：(sigmoid(x) - t) / x.size",
    ),
    "mistake.nonfinite_grad": (
        "NaN/inf in the gradient at large |x|: compute sigmoid without overflow",
        "|x| 很大时梯度中出现 NaN/inf：计算 sigmoid 时要避免溢出",
    ),
    "mistake.sgd_sign": (
        "moved up the gradient: subtract it, params[key] -= self.lr * grads[key]",
        "沿梯度方向上升了：应减去梯度，params[key] -= self.lr * grads[key]",
    ),
    "mistake.sgd_no_lr": (
        "ignored the learning rate: multiply the gradient by self.lr",
        "忽略了学习率：梯度要乘以 self.lr",
    ),
    "mistake.not_in_place": (
        "replaced params[key] by a new array: the network's layers still hold the old one; update it in place with -=",
        "把 params[key] 换成了新数组：网络的各层仍然引用旧数组；请用 -= 原地更新",
    ),
    # ---------------------------------------------------------------- report words
    "word.pass": ("PASS", "通过"),
    "word.fail": ("FAIL", "失败"),
    "word.likely": ("; likely mistake: ", "；可能的错误："),
    "word.seed": ("seed", "随机种子"),
    "word.file_header": ("{file}: {exercise} ({title}), seed {seed}", "{file}：{exercise}（{title}），随机种子 {seed}"),
    "word.summary": ("{passed} of {total} checks passed", "{total} 项检查中通过 {passed} 项"),
    "word.reproduce": ("reproduce with: {command}", "复现命令：{command}"),
    "word.all_passed": ("all checks passed", "全部检查通过"),
    "word.advisory": (" (advisory)", "（参考项）"),
    "word.skip": ("SKIP", "跳过"),
    "word.self_name": ("your namespace", "你的命名空间"),
    "word.self_isolation": ("none (a self-check in your own process)", "无（在你自己的进程中自查）"),
    "word.self_header": (
        "self-check of {exercise} (seed {seed}): your code runs here, in your own Python process "
        "(not isolated, no time limit); the grade that counts is `losslab grade`'s",
        "自查 {exercise}（随机种子 {seed}）：你的代码在当前 Python 进程中运行"
        "（没有隔离，也没有时间限制）；"
        "以 `losslab grade` 的评分为准",
    ),
    "word.self_hidden": (
        "; {hidden} hidden checks run only in `losslab grade`",
        "；另有 {hidden} 项隐藏的检查只在 `losslab grade` 中运行",
    ),
    "word.points": (" [{points} points]", "[{points} 分]"),
    "word.hidden": (" (hidden check: no details)", "（隐藏的检查：不显示细节）"),
    "word.hidden_failed": ("a hidden check failed", "有一项隐藏的检查未通过"),
    "word.score": ("score {earned} of {possible}", "得分 {earned} / {possible}"),
    "word.isolation": ("isolation: {mode}", "隔离：{mode}"),
    "word.not_py": ("not a .py or .ipynb file", "不是 .py 或 .ipynb 文件"),
    "word.a_folder": ("a folder", "文件夹"),
    # ---------------------------------------------------------------- the commands' own lines
    "cli.chapter": ("ch. {chapter}", "第 {chapter} 节"),
    "cli.wrote": ("wrote {path}", "已写入 {path}"),
    "cli.wrote_template": (
        "wrote {path}  (the template: fill in the code between Begin and End)",
        "已写入 {path}（模板：在 Begin 和 End 之间填写代码）",
    ),
    "cli.wrote_statement": ("wrote {path}  (the statement)", "已写入 {path}（题目）"),
    "cli.next_grade": ("next: edit {code}, then run: {command}", "下一步：编辑 {code}，然后运行：{command}"),
    "cli.new_wrote": ("wrote {folder}/ : {files}", "已写入 {folder}/：{files}"),
    "cli.new_json": (
        "  exercise.json   name, titles, the names a solution defines, points and visibility per check",
        "  exercise.json   名称、标题、答案要定义的名字，以及每项检查的分值和可见性",
    ),
    "cli.new_files": (
        "  statement.*.md  the statement in English and Chinese; template.py the skeleton; solution.py the reference",
        "  statement.*.md  英文和中文的题目；template.py 是代码框架"
        "（template.zh.py 是注释为中文的同一框架）；"
        "solution.py 是参考答案",
    ),
    "cli.new_checks": (
        "  checks.py       the inputs and what is called and compared",
        "  checks.py       输入数据，以及调用什么、比较什么",
    ),
    "cli.new_next": ("next: edit them, then run: {command}", "下一步：修改这些文件，然后运行：{command}"),
    "cli.new_grade": ("grade with it: {command}", "用它评测：{command}"),
    "cli.test_line": (
        "{label}: {outcome} ({earned:g} of {possible:g} points), {verdict}",
        "{label}：{outcome}（得 {earned:g} 分，满分 {possible:g} 分），{verdict}",
    ),
    "cli.test_passes": ("passes", "通过"),
    "cli.test_fails": ("fails", "未通过"),
    "cli.test_as_it_should": ("as it should", "符合预期"),
    "cli.test_should_not": ("which it should not", "不符合预期"),
    "cli.test_total": (
        "{exercise}: {checks} checks, {points:g} points",
        "{exercise}：{checks} 项检查，共 {points:g} 分",
    ),
    "table.file": ("file", "文件"),
    "table.exercise": ("exercise", "练习"),
    "table.passed": ("passed", "通过数"),
    "table.checks": ("checks", "检查数"),
    "table.score": ("score", "得分"),
    "table.result": ("result", "结果"),
    "table.first_failure": ("first failure", "第一项未通过的检查"),
    "table.summary": (
        "{passed} of {total} files pass every check (seed {seed})",
        "{total} 个文件中有 {passed} 个通过了全部检查（随机种子 {seed}）",
    ),
}


def say(key: str, lang: str = "en", /, **params: Any) -> str:
    """The message ``key`` in ``lang`` ('en' or 'zh'), filled in with ``params``.

    >>> say("word.summary", "en", passed=3, total=4)
    '3 of 4 checks passed'
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    try:
        en, zh = MESSAGES[key]
    except KeyError:
        raise KeyError(f"no message {key!r}; the keys are in losslab.grade._i18n.MESSAGES") from None
    return (zh if lang == "zh" else en).format(**params)


@dataclass(frozen=True)
class Msg:
    """A message key with its parameters, put into words by :meth:`text`."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        """The message in ``lang``; parameters that are messages themselves are put into words first."""
        params = {k: (v.text(lang) if isinstance(v, Msg) else v) for k, v in self.params.items()}
        return say(self.key, lang, **params)
