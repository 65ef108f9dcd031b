"""The checks: the inputs (make_cases), and what is called and compared (PROBES, judge).

Runs in the judge's process. Each Case calls the learner's function with copies of the
named inputs, in the sandbox, and compares the answer with solution.py's. The check ids
("mean_absolute_error:random", ...) are the keys of exercise.json's "checks".
"""

import numpy as np

from losslab.grade.kit import Case, compare, solution


def make_cases(seed):
    rng = np.random.default_rng(seed)
    return {"y": rng.normal(0, 1, (4, 3)), "t": rng.normal(0, 1, (4, 3)),
            "y1": rng.normal(0, 1, (1, 3)), "t1": rng.normal(0, 1, (1, 3)),
            "y32": rng.normal(0, 1, (4, 3)).astype(np.float32), "t32": rng.normal(0, 1, (4, 3)).astype(np.float32)}


PROBES, judge = compare(solution(__file__), [
    Case("random", "mean_absolute_error", ("y", "t"), "random inputs of shape (4, 3)", "形状为 (4, 3) 的随机输入"),
    Case("batch1", "mean_absolute_error", ("y1", "t1"), "batch size 1", "批大小为 1"),
    Case("float32", "mean_absolute_error", ("y32", "t32"), "float32 inputs", "float32 类型的输入", float32=True),
])
