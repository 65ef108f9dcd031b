"""CTC: hand-computed alignments, a brute-force reference over every path, PyTorch parity, properties, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from losslab._validation import BackwardBeforeForwardError, ClassIndexError
from losslab.functional.ctc import ctc_loss, ctc_loss_backward
from losslab.nn.ctc import CTCLoss

RNG = np.random.default_rng(41)
I64 = np.int64


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def lengths(*values):
    return np.array(values, dtype=I64)


# ----------------------------------------------------------------- references independent of the recursion


def collapse(path, blank):
    """B: merge repeats, then drop blanks."""
    out = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in out if k != blank)


def brute_force(lp, target, blank):
    """Every path of one sequence (lp: (T, C), already normalised): -log p(l|x) and y - gamma, from the docstring."""
    t_len, c = lp.shape
    y = np.exp(lp)
    total, gamma = 0.0, np.zeros((t_len, c))
    for path in itertools.product(range(c), repeat=t_len):
        if collapse(path, blank) != tuple(target):
            continue
        p = math.prod(y[t, k] for t, k in enumerate(path))
        total += p
        for t, k in enumerate(path):
            gamma[t, k] += p
    if total == 0:
        return math.inf, None
    return -math.log(total), y - gamma / total


def reference(lp, targets, il, tl, blank, reduction):
    """Batch reference: the brute force per sequence, then PyTorch's reductions written out."""
    t_max, n, c = lp.shape
    losses, grads = np.zeros(n), np.zeros(lp.shape)
    for b in range(n):
        loss, g = brute_force(lp[: il[b], b], targets[b][: tl[b]], blank)
        losses[b] = loss
        if g is not None:
            grads[: il[b], b] = g
    if reduction == "none":
        return losses, grads
    if reduction == "sum":
        return losses.sum(), grads
    w = 1.0 / (n * np.maximum(tl, 1))
    return (losses / np.maximum(tl, 1)).mean(), grads * w[None, :, None]


# ----------------------------------------------------------------- hand-computed


def test_two_frames_one_label_by_hand():
    # classes (blank, a), target "a", 2 frames: the paths that collapse to "a" are aa, a-, -a
    # p = 0.6*0.7 + 0.6*0.3 + 0.4*0.7 = 0.42 + 0.18 + 0.28 = 0.88: loss = -log 0.88 = 0.12783337
    lp = np.log(np.array([[[0.4, 0.6]], [[0.3, 0.7]]]))
    out = ctc_loss(lp, np.array([[1]]), lengths(2), lengths(1), reduction="none")
    np.testing.assert_allclose(out, [-math.log(0.88)], rtol=1e-14)
    # gamma_1(a) = (0.42 + 0.18) / 0.88 = 0.681818..., gamma_2(a) = (0.42 + 0.28) / 0.88 = 0.795454...
    # gradient y - gamma: frame 1 (0.4 - 0.318182, 0.6 - 0.681818), frame 2 (0.3 - 0.204545, 0.7 - 0.795455)
    g = ctc_loss_backward(1.0, lp, np.array([[1]]), lengths(2), lengths(1), reduction="sum")
    g1, g2 = 0.6 / 0.88, 0.7 / 0.88
    np.testing.assert_allclose(g[:, 0], [[0.4 - (1 - g1), 0.6 - g1], [0.3 - (1 - g2), 0.7 - g2]], rtol=1e-13)
    # 'mean' divides by the target length (1) and the batch (1): the same numbers
    assert ctc_loss(lp, np.array([[1]]), lengths(2), lengths(1)) == pytest.approx(-math.log(0.88), rel=1e-14)


def test_repeated_label_needs_a_blank_between_by_hand():
    # target "a a" in 3 frames: only a - a collapses to it (aa, a-a... aaa collapses to "a")
    lp = np.log(np.array([[0.5, 0.5], [0.2, 0.8], [0.1, 0.9]]))
    out = ctc_loss(lp, np.array([1, 1]), np.array(3), np.array(2), reduction="none")
    assert out.shape == ()
    np.testing.assert_allclose(out, -math.log(0.5 * 0.2 * 0.9), rtol=1e-14)
    # in 2 frames "a a" is impossible: an infinite loss (PyTorch's value too)
    assert ctc_loss(lp[:2], np.array([1, 1]), np.array(2), np.array(2), reduction="none") == np.inf


def test_empty_target_is_all_blanks():
    lp = log_softmax(RNG.normal(0, 1, (6, 2, 4)))
    out = ctc_loss(lp, np.zeros((2, 0), dtype=I64), lengths(6, 3), lengths(0, 0), reduction="none", blank=1)
    np.testing.assert_allclose(out, [-lp[:, 0, 1].sum(), -lp[:3, 1, 1].sum()], rtol=1e-14)
    # 'mean' divides by max(target length, 1) = 1
    np.testing.assert_allclose(
        ctc_loss(lp, np.zeros((2, 0), dtype=I64), lengths(6, 3), lengths(0, 0), blank=1), out.mean(), rtol=1e-14
    )


def test_zero_input_length_is_zero_or_infinite():
    lp = log_softmax(RNG.normal(0, 1, (3, 2, 3)))
    out = ctc_loss(lp, np.array([[1], [1]]), lengths(0, 0), lengths(0, 1), reduction="none", zero_infinity=False)
    np.testing.assert_array_equal(out, [0.0, np.inf])
    g = ctc_loss_backward(1.0, lp, np.array([[1], [1]]), lengths(0, 0), lengths(0, 1), zero_infinity=True)
    np.testing.assert_array_equal(g, np.zeros_like(lp))


# ----------------------------------------------------------------- brute force over every path


def _random_problem(rng, t_max, n, c, blank, s_max):
    """Random lengths (0 included), labels with repeats, some targets too long for their input."""
    labels = [k for k in range(c) if k != blank]
    tl = rng.integers(0, s_max + 1, n)
    targets = rng.choice(labels, size=(n, s_max)) if s_max else np.zeros((n, 0), dtype=I64)
    il = rng.integers(0, t_max + 1, n)
    return log_softmax(rng.normal(0, 1.5, (t_max, n, c))), targets.astype(I64), il.astype(I64), tl.astype(I64)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_enumeration_of_alignments(seed, reduction):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 4))
    blank = int(rng.integers(0, c))
    lp, targets, il, tl = _random_problem(rng, int(rng.integers(1, 6)), 3, c, blank, 3)
    ref_loss, ref_grad = reference(lp, targets, il, tl, blank, reduction)
    finite = np.isfinite(ref_loss).all()
    out = ctc_loss(lp, targets, il, tl, blank=blank, reduction=reduction, zero_infinity=not finite)
    if finite:
        np.testing.assert_allclose(out, ref_loss, rtol=1e-12)
        np.testing.assert_allclose(
            ctc_loss_backward(1.0, lp, targets, il, tl, blank=blank, reduction=reduction),
            ref_grad,
            rtol=1e-10,
            atol=1e-14,
        )
    else:  # zero_infinity: the impossible sequences count 0 and get no gradient
        mask = np.isfinite(reference(lp, targets, il, tl, blank, "none")[0])
        expected = np.where(mask, reference(lp, targets, il, tl, blank, "none")[0], 0.0)
        if reduction == "sum":
            expected = expected.sum()
        elif reduction == "mean":
            expected = (expected / np.maximum(tl, 1)).mean()
        np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_brute_force_covers_repeats_blank_not_zero_and_long_paths():
    rng = np.random.default_rng(5)
    lp = log_softmax(rng.normal(0, 1, (6, 2, 3)))
    targets = np.array([[2, 2, 1], [1, 2, 1]], dtype=I64)  # blank = 0; '2 2' needs a blank between
    for blank, tg in ((0, targets), (1, np.array([[2, 2, 0], [0, 2, 0]], dtype=I64))):
        ref_loss, ref_grad = reference(lp, tg, lengths(6, 5), lengths(3, 3), blank, "sum")
        np.testing.assert_allclose(
            ctc_loss(lp, tg, lengths(6, 5), lengths(3, 3), blank=blank, reduction="sum"), ref_loss, rtol=1e-12
        )
        np.testing.assert_allclose(
            ctc_loss_backward(1.0, lp, tg, lengths(6, 5), lengths(3, 3), blank=blank, reduction="sum"),
            ref_grad,
            rtol=1e-10,
            atol=1e-14,
        )


# ----------------------------------------------------------------- PyTorch parity


def _torch_case(rng):
    t_max, n, c = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
    blank = int(rng.integers(0, c))
    lp, targets, il, tl = _random_problem(rng, t_max, n, c, blank, int(rng.integers(0, 5)))
    if rng.integers(0, 2):  # the concatenated layout
        targets = np.concatenate([targets[b, : tl[b]] for b in range(n)]).astype(I64)
    return lp, targets, il, tl, blank


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("seed", range(40))
def test_matches_torch(seed, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1000 + seed)
    lp, targets, il, tl, blank = _torch_case(rng)
    lp = lp.astype(dtype)
    tol = dict(rtol=1e-7, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-6)
    for zero_infinity in (False, True):
        for reduction in ("none", "mean", "sum"):
            x = torch.from_numpy(lp).requires_grad_()
            t_out = torch.nn.functional.ctc_loss(
                x,
                torch.from_numpy(targets),
                torch.from_numpy(il),
                torch.from_numpy(tl),
                blank=blank,
                reduction=reduction,
                zero_infinity=zero_infinity,
            )
            out = ctc_loss(lp, targets, il, tl, blank=blank, reduction=reduction, zero_infinity=zero_infinity)
            assert np.asarray(out).dtype == dtype
            np.testing.assert_allclose(out, t_out.detach().numpy(), **tol)
            if not np.all(np.isfinite(out)):
                continue  # PyTorch's gradient is NaN there; losslab raises (see test_infinite_loss_...)
            dout = rng.uniform(0.5, 1.5, np.shape(out)).astype(dtype)
            t_out.backward(torch.from_numpy(np.array(dout)))
            g = ctc_loss_backward(
                dout, lp, targets, il, tl, blank=blank, reduction=reduction, zero_infinity=zero_infinity
            )
            assert g.dtype == dtype
            np.testing.assert_allclose(g, x.grad.numpy(), **tol)


def test_torch_gradient_is_y_minus_gamma_not_the_free_partial_derivative():
    """PyTorch's gradient adds exp(log_probs) to the free partial derivative -gamma; losslab's is the same."""
    torch = pytest.importorskip("torch")
    lp = log_softmax(RNG.normal(0, 1, (4, 1, 3)))
    targets, il, tl = np.array([[1, 2]]), lengths(4), lengths(2)
    x = torch.from_numpy(lp).requires_grad_()
    torch.nn.functional.ctc_loss(
        x, torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl), reduction="sum"
    ).backward()
    _, ref_grad = reference(lp, targets, il, tl, 0, "sum")  # y - gamma, by enumeration
    np.testing.assert_allclose(x.grad.numpy(), ref_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        ctc_loss_backward(1.0, lp, targets, il, tl, reduction="sum"), ref_grad, rtol=1e-10, atol=1e-14
    )


def test_unbatched_matches_torch():
    torch = pytest.importorskip("torch")
    lp = log_softmax(RNG.normal(0, 1, (5, 4)))
    x = torch.from_numpy(lp).requires_grad_()
    t_out = torch.nn.functional.ctc_loss(x, torch.tensor([1, 3]), torch.tensor(5), torch.tensor(2), reduction="none")
    t_out.backward()
    out = ctc_loss(lp, np.array([1, 3]), np.array(5), np.array(2), reduction="none")
    assert out.shape == () and t_out.shape == ()
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        ctc_loss_backward(1.0, lp, np.array([1, 3]), np.array(5), np.array(2), reduction="none"),
        x.grad.numpy(),
        rtol=1e-10,
        atol=1e-14,
    )


# ----------------------------------------------------------------- properties


def _problem():
    lp = log_softmax(RNG.normal(0, 1, (7, 4, 5)))
    targets = np.array([[1, 2, 2, 4], [3, 1, 0, 0], [4, 4, 4, 0], [2, 0, 0, 0]], dtype=I64)
    return lp, targets, lengths(7, 5, 6, 3), lengths(4, 2, 3, 1)


def test_reductions_relate_as_documented():
    lp, tg, il, tl = _problem()
    none = ctc_loss(lp, tg, il, tl, reduction="none")
    assert none.shape == (4,)
    assert ctc_loss(lp, tg, il, tl, reduction="sum") == pytest.approx(none.sum(), rel=1e-14)
    assert ctc_loss(lp, tg, il, tl, reduction="mean") == pytest.approx((none / tl).mean(), rel=1e-14)
    dout = RNG.uniform(0.5, 1.5, 4)
    g_none = ctc_loss_backward(dout, lp, tg, il, tl, reduction="none")
    g_mean = ctc_loss_backward(2.0, lp, tg, il, tl, reduction="mean")
    per_sample = np.stack([ctc_loss_backward(np.eye(4)[b], lp, tg, il, tl, reduction="none") for b in range(4)])
    np.testing.assert_allclose(g_none, np.tensordot(dout, per_sample, axes=1), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(g_mean, np.tensordot(2.0 / (4 * tl), per_sample, axes=1), rtol=1e-13, atol=1e-16)


def test_permuting_the_batch_permutes_none_and_the_gradient():
    lp, tg, il, tl = _problem()
    perm = np.array([2, 0, 3, 1])
    out = ctc_loss(lp, tg, il, tl, reduction="none")
    np.testing.assert_allclose(
        ctc_loss(lp[:, perm], tg[perm], il[perm], tl[perm], reduction="none"), out[perm], rtol=1e-15
    )
    dout = RNG.uniform(0.5, 1.5, 4)
    g = ctc_loss_backward(dout, lp, tg, il, tl, reduction="none")
    np.testing.assert_allclose(
        ctc_loss_backward(dout[perm], lp[:, perm], tg[perm], il[perm], tl[perm], reduction="none"),
        g[:, perm],
        rtol=1e-15,
    )


def test_padded_and_concatenated_targets_agree_and_padding_is_ignored():
    lp, tg, il, tl = _problem()
    concatenated = np.concatenate([tg[b, : tl[b]] for b in range(4)])
    junk = tg.copy()
    for b in range(4):
        junk[b, tl[b] :] = 99  # out-of-range labels in the padding are never read
    wider = np.concatenate([tg, np.full((4, 3), 7)], axis=1)
    for alt in (concatenated, junk, wider):
        for reduction in ("none", "mean", "sum"):
            np.testing.assert_array_equal(
                ctc_loss(lp, alt, il, tl, reduction=reduction), ctc_loss(lp, tg, il, tl, reduction=reduction)
            )
        np.testing.assert_array_equal(ctc_loss_backward(1.0, lp, alt, il, tl), ctc_loss_backward(1.0, lp, tg, il, tl))


def test_frames_beyond_the_input_length_do_not_matter():
    lp, tg, il, tl = _problem()
    g = ctc_loss_backward(1.0, lp, tg, il, tl, reduction="sum")
    for b in range(4):
        assert np.all(g[il[b] :, b] == 0)
    changed = lp.copy()
    changed[6, 1] = log_softmax(RNG.normal(0, 5, 5))  # sequence 1 has 5 frames
    np.testing.assert_array_equal(
        ctc_loss(changed, tg, il, tl, reduction="none"), ctc_loss(lp, tg, il, tl, reduction="none")
    )


def test_unbatched_equals_a_batch_of_one():
    lp, tg, il, tl = _problem()
    one = ctc_loss(lp[:, 1], tg[1, : tl[1]], il[1], tl[1], reduction="none")
    batch = ctc_loss(lp[:, 1:2], tg[1:2], il[1:2], tl[1:2], reduction="none")
    assert one.shape == () and one == batch[0]
    np.testing.assert_array_equal(
        ctc_loss_backward(1.0, lp[:, 1], tg[1, : tl[1]], il[1], tl[1]),
        ctc_loss_backward(1.0, lp[:, 1:2], tg[1:2], il[1:2], tl[1:2])[:, 0],
    )


def test_log_probs_are_renormalised_so_the_gradient_sums_to_zero_per_frame():
    lp, tg, il, tl = _problem()
    shifted = lp + RNG.normal(0, 3, (7, 4, 1))  # the same distributions, not normalised
    np.testing.assert_allclose(
        ctc_loss(shifted, tg, il, tl, reduction="none"), ctc_loss(lp, tg, il, tl, reduction="none"), rtol=1e-13
    )
    g = ctc_loss_backward(1.0, shifted, tg, il, tl, reduction="sum")
    np.testing.assert_allclose(g, ctc_loss_backward(1.0, lp, tg, il, tl, reduction="sum"), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g.sum(axis=-1), 0.0, atol=1e-14)


def test_long_sequences_do_not_underflow():
    # uniform y = 1/C over T frames, target "a": the alignments are blank^i a^j blank^k with j >= 1,
    # T (T + 1) / 2 of them, so the loss is T log C - log(T (T + 1) / 2); p(l|x) = 1e-1400 in probability space
    t_len, c = 2000, 5
    lp = np.full((t_len, 1, c), -math.log(c))
    out = ctc_loss(lp, np.array([[3]]), lengths(t_len), lengths(1), reduction="none")
    np.testing.assert_allclose(out, [t_len * math.log(c) - math.log(t_len * (t_len + 1) / 2)], rtol=1e-12)
    g = ctc_loss_backward(1.0, lp.astype(np.float32), np.array([[3]]), lengths(t_len), lengths(1))
    assert g.dtype == np.float32 and np.all(np.isfinite(g))


def test_extreme_log_probs_are_finite():
    lp = log_softmax(RNG.normal(0, 1, (5, 2, 4)))
    lp[:, :, 3] = -1e4  # a class that is (almost) never emitted
    lp[2, 0, 2] = -np.inf  # and a probability of exactly 0
    for dtype in (np.float64, np.float32):
        x = lp.astype(dtype)
        out = ctc_loss(x, np.array([[1, 2], [2, 1]]), lengths(5, 5), lengths(2, 2), reduction="none")
        g = ctc_loss_backward(1.0, x, np.array([[1, 2], [2, 1]]), lengths(5, 5), lengths(2, 2))
        assert out.dtype == dtype and np.all(np.isfinite(out)) and np.all(np.isfinite(g))
        assert np.all(g[:, :, 3] == 0) and g[2, 0, 2] == 0
    # a target that needs the never-emitted class: the loss is about 1e4, still finite
    assert 9e3 < ctc_loss(lp, np.array([[3], [3]]), lengths(5, 5), lengths(1, 1), reduction="sum") < 3e4


def test_zero_infinity_zeroes_the_loss_and_its_gradient():
    lp = log_softmax(RNG.normal(0, 1, (3, 2, 3)))
    tg, il, tl = np.array([[1, 1], [1, 2]]), lengths(2, 3), lengths(2, 2)  # '1 1' in 2 frames: impossible
    assert ctc_loss(lp, tg, il, tl, reduction="none")[0] == np.inf
    out = ctc_loss(lp, tg, il, tl, reduction="none", zero_infinity=True)
    assert out[0] == 0 and out[1] == ctc_loss(lp, tg, il, tl, reduction="none")[1]
    g = ctc_loss_backward(1.0, lp, tg, il, tl, reduction="sum", zero_infinity=True)
    assert np.all(g[:, 0] == 0) and np.any(g[:, 1] != 0)


def test_infinite_loss_without_zero_infinity_has_no_gradient():
    lp = log_softmax(RNG.normal(0, 1, (3, 2, 3)))
    tg, il, tl = np.array([[1, 1], [1, 2]]), lengths(2, 3), lengths(2, 2)
    assert ctc_loss(lp, tg, il, tl) == np.inf
    with pytest.raises(ValueError, match=r"infinite for sequence\(s\) \[0\].*zero_infinity=True"):
        ctc_loss_backward(1.0, lp, tg, il, tl)


def test_float32_in_float32_out_and_inputs_untouched():
    lp, tg, il, tl = _problem()
    x = lp.astype(np.float32)
    copies = [a.copy() for a in (x, tg, il, tl)]
    out = ctc_loss(x, tg, il, tl)
    g = ctc_loss_backward(1.0, x, tg, il, tl)
    assert isinstance(out, np.float32) and g.dtype == np.float32
    for a, b in zip((x, tg, il, tl), copies):
        np.testing.assert_array_equal(a, b)


def test_class_holds_pytorch_options_positionally():
    lp, tg, il, tl = _problem()
    loss = CTCLoss(0, "sum", True)
    assert loss.options() == {"blank": 0, "reduction": "sum", "zero_infinity": True}
    assert repr(loss) == "CTCLoss(blank=0, reduction='sum', zero_infinity=True)"
    assert loss(lp, tg, il, tl) == ctc_loss(lp, tg, il, tl, reduction="sum", zero_infinity=True)
    np.testing.assert_array_equal(loss.backward(), ctc_loss_backward(1.0, lp, tg, il, tl, reduction="sum"))
    with pytest.raises(BackwardBeforeForwardError):
        CTCLoss().backward()


# ----------------------------------------------------------------- errors


def _ok():
    return log_softmax(RNG.normal(0, 1, (4, 2, 3))), np.array([[1, 2], [2, 0]]), lengths(4, 3), lengths(2, 1)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (
            dict(log_probs=np.zeros((4, 2, 3), dtype=np.int64)),
            TypeError,
            "log_probs must be a float32 or float64 array",
        ),
        (dict(log_probs=np.zeros((4, 3, 2, 3))), ValueError, r"log_probs must be a 3-D \(T, N, C\) batch"),
        (dict(log_probs=np.zeros((0, 2, 3))), ValueError, "log_probs must not be empty"),
        (dict(log_probs=np.full((4, 2, 3), np.nan)), ValueError, r"finite values or -inf\), got nan at \(0, 0, 0\)"),
        (dict(log_probs=np.full((4, 2, 3), np.inf)), ValueError, r"finite values or -inf\), got inf"),
        (dict(blank=3), ValueError, r"blank must lie in \[0, 2\], got 3"),
        (dict(blank=-1), ValueError, r"blank must lie in \[0, 2\], got -1"),
        (dict(blank=1.0), TypeError, "blank must be an integer"),
        (dict(zero_infinity=1), TypeError, "zero_infinity must be True or False"),
        (dict(reduction="batchmean"), ValueError, "reduction must be one of"),
        (dict(input_lengths=np.array([4.0, 3.0])), TypeError, "input_lengths must hold integer lengths"),
        (dict(target_lengths=np.array([True, True])), TypeError, "target_lengths must hold integer lengths"),
        (
            dict(input_lengths=lengths(4, 3, 2)),
            ValueError,
            r"input_lengths must be a 1-D array of 2 lengths.*got shape \(3,\)",
        ),
        (dict(target_lengths=np.array(2)), ValueError, r"target_lengths must be a 1-D array of 2 lengths"),
        (dict(input_lengths=lengths(4, -1)), ValueError, "input_lengths must be >= 0, got -1"),
        (
            dict(input_lengths=lengths(5, 3)),
            ValueError,
            r"input_lengths must be <= T=4 \(log_probs.shape\[0\]\), got 5",
        ),
        (dict(target_lengths=lengths(-2, 1)), ValueError, "target_lengths must be >= 0, got -2"),
        (dict(targets=np.array([[1.0, 2.0], [2.0, 0.0]])), TypeError, "targets must hold integer class indices"),
        (dict(targets=np.array([[1, 2]])), ValueError, r"padded targets must have shape \(N, S\) with N=2"),
        (dict(target_lengths=lengths(3, 1)), ValueError, r"S >= max\(target_lengths\)=3, got shape \(2, 2\)"),
        (dict(targets=np.array([1, 2, 2, 1])), ValueError, r"sum\(target_lengths\)=3 labels, got 4"),
        (dict(targets=np.zeros((2, 2, 1), dtype=I64)), ValueError, "targets must be padded"),
        (dict(targets=np.array([[1, 3], [2, 0]])), ClassIndexError, r"label 3 \(sequence 0, position 1\).*\[0, 2\]"),
        (
            dict(targets=np.array([[1, 0], [2, 0]])),
            ClassIndexError,
            r"label 0 \(sequence 0, position 1\).*other than blank=0",
        ),
        (dict(targets=np.array([[1, 2], [-1, 0]])), ValueError, r"label -1 \(sequence 1, position 0\)"),
    ],
)
def test_bad_input_raises_a_clear_error(change, error, match):
    lp, tg, il, tl = _ok()
    args = dict(log_probs=lp, targets=tg, input_lengths=il, target_lengths=tl)
    opts = {k: change.pop(k) for k in ("blank", "zero_infinity", "reduction") if k in change}
    args.update(change)
    with pytest.raises(error, match=match):
        ctc_loss(**args, **opts)
    with pytest.raises(error, match=match):
        ctc_loss_backward(1.0, **args, **opts)


def test_unbatched_shapes_are_checked():
    lp = log_softmax(RNG.normal(0, 1, (4, 3)))
    with pytest.raises(ValueError, match=r"input_lengths must be a scalar \(unbatched log_probs\)"):
        ctc_loss(lp, np.array([1]), np.array([4]), np.array(1))
    with pytest.raises(ValueError, match=r"unbatched targets must be a 1-D array of target_lengths=1 labels"):
        ctc_loss(lp, np.array([1, 2]), np.array(4), np.array(1))
    with pytest.raises(ValueError, match=r"log_probs must be a 3-D \(T, N, C\) batch or a 2-D"):
        ctc_loss(np.zeros(4), np.array([1]), np.array(4), np.array(1))


def test_class_rejects_bad_options():
    with pytest.raises(ValueError, match="blank must lie in"):
        CTCLoss(blank=-1)
    with pytest.raises(TypeError, match="zero_infinity must be True or False"):
        CTCLoss(zero_infinity="yes")
    with pytest.raises(ValueError, match="reduction must be one of"):
        CTCLoss(reduction="batchmean")


# ----------------------------------------------------------------- the fused kernel against the definitions


@pytest.mark.parametrize("depth", [0.0, 650.0, 760.0])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_the_fused_kernel_equals_the_definitions_where_label_probabilities_underflow(depth, reduction):
    """Frames where every label but the blank has probability exp(-depth): beyond exp(-600) the
    kernel leaves probability space for log space (exp(-760) is 0 in float64, not in log space)."""
    lp, tg, il, tl = _problem()
    lp = lp.copy()
    lp[2:4, :, 1:] -= depth
    lp = log_softmax(lp)
    hit = ctc_loss.kernel(lp, tg, il, tl, reduction=reduction)
    assert hit is not None
    want = ctc_loss.reference(lp, tg, il, tl, reduction=reduction)
    np.testing.assert_allclose(hit[0], want, rtol=1e-12)
    np.testing.assert_allclose(
        hit[1], ctc_loss_backward.reference(1.0, lp, tg, il, tl, reduction=reduction), rtol=1e-10, atol=1e-15
    )
    assert np.isfinite(hit[0]) and hit[0] > (depth if reduction == "sum" else 0)


def test_the_fused_kernel_zeroes_an_impossible_sequence_and_leaves_the_error_to_the_definition():
    lp, tg, il, tl = _problem()
    il = lengths(7, 5, 4, 3)  # '4 4 4' needs 5 frames
    assert ctc_loss.kernel(lp, tg, il, tl) is None
    out, grad = ctc_loss.kernel(lp, tg, il, tl, zero_infinity=True)
    assert np.all(grad[:, 2] == 0)
    np.testing.assert_allclose(out, ctc_loss.reference(lp, tg, il, tl, zero_infinity=True), rtol=1e-12)
    with pytest.raises(ValueError, match="infinite for sequence"):
        ctc_loss_backward(1.0, lp, tg, il, tl)


@pytest.mark.parametrize("offset", [0.0, 300.0])
@pytest.mark.parametrize("n", [1, 5, 40])
def test_numpy_kernel_equals_the_definitions_on_one_shift_and_on_each_frames_own(monkeypatch, offset, n):
    """Unnormalised log-probabilities: within 500 of each other one shift serves every frame's softmax; frames
    offset by +-300 (a span of 600) take each frame's maximum. Both match the definitions, and ragged lengths
    (reversed rows that start at their own frame and state) match the same sequences one at a time."""
    from losslab._fast import _dispatch

    monkeypatch.setitem(_dispatch._state, "kernels", False)
    rng = np.random.default_rng(43)
    t_len, c, s = 30, 7, 5
    lp = log_softmax(rng.normal(0, 2.0, (t_len, n, c))) + offset * np.where(np.arange(t_len) % 2, 1, -1)[:, None, None]
    tg = rng.integers(1, c, (n, s)).astype(I64)
    il = rng.integers(2 * s + 1, t_len + 1, n).astype(I64) if n > 1 else lengths(t_len)
    tl = rng.integers(0, s + 1, n).astype(I64) if n > 1 else lengths(s)
    for dtype in (np.float64, np.float32):
        x = lp.astype(dtype)
        out, grad = ctc_loss.kernel(x, tg, il, tl, reduction="sum")
        assert np.asarray(out).dtype == dtype and grad.dtype == dtype
        rtol = 1e-12 if dtype == np.float64 else 2e-5
        np.testing.assert_allclose(out, ctc_loss.reference(x, tg, il, tl, reduction="sum"), rtol=rtol)
        want = ctc_loss_backward.reference(1.0, x, tg, il, tl, reduction="sum")
        np.testing.assert_allclose(grad, want, rtol=rtol, atol=rtol * np.abs(want).max())
        alone = [
            ctc_loss.kernel(x[:, i : i + 1], tg[i : i + 1], il[i : i + 1], tl[i : i + 1], reduction="sum")
            for i in range(n)
        ]
        np.testing.assert_allclose(sum(float(a[0]) for a in alone), out, rtol=rtol)
        for i, a in enumerate(alone):
            np.testing.assert_allclose(a[1][:, 0], grad[:, i], rtol=rtol, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("n", [3, 40])  # the per-frame dot products, and the flat rows
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_numpy_kernel_rows_start_at_their_own_frame_and_state(monkeypatch, n, reduction):
    """Input lengths 1, 2 and T with targets of 1, 0 and the longest length in one block (each reversed row
    starts at its own frame and state), then only empty targets (one state a row): every sequence matches the
    definitions, and the same sequence alone."""
    from losslab._fast import _dispatch

    monkeypatch.setitem(_dispatch._state, "kernels", False)
    rng = np.random.default_rng(44)
    t_len, c, s = 12, 6, 4
    lp = log_softmax(rng.normal(0, 1.5, (t_len, n, c)))
    tg = (1 + np.cumsum(rng.integers(1, c - 1, (n, s)), axis=1) % (c - 1)).astype(I64)  # no label twice in a row
    il = rng.integers(s, t_len + 1, n).astype(I64)
    il[:3] = (1, 2, t_len)
    for tl in (np.minimum(rng.integers(0, s + 1, n), il), np.zeros(n)):
        tl = tl.astype(I64)
        if tl.any():
            tl[:3] = (1, 0, s)
        assert _dispatch.ctc(lp, tg, il, tl, 0, reduction, False) is not None  # NumPy's kernel defers nothing
        out, grad = ctc_loss.kernel(lp, tg, il, tl, reduction=reduction)
        np.testing.assert_allclose(out, ctc_loss.reference(lp, tg, il, tl, reduction=reduction), rtol=1e-12)
        want = ctc_loss_backward.reference(1.0, lp, tg, il, tl, reduction=reduction)
        np.testing.assert_allclose(grad, want, rtol=1e-10, atol=1e-14)
        assert np.all(grad[il[0] :, 0] == 0) and np.all(grad[il[1] :, 1] == 0)
        each = ctc_loss_backward.reference(1.0, lp, tg, il, tl, reduction="sum")
        for i in range(n):
            one = (lp[:, i : i + 1], tg[i : i + 1], il[i : i + 1], tl[i : i + 1])
            alone = ctc_loss.kernel(*one, reduction="sum")
            np.testing.assert_allclose(alone[0], ctc_loss.reference(*one, reduction="sum"), rtol=1e-12)
            np.testing.assert_allclose(alone[1][:, 0], each[:, i], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("depth", [100.0, 250.0, 590.0])  # a rescaling every 3 frames, then every frame
@pytest.mark.parametrize("n", [3, 40])
def test_numpy_kernel_rescales_rows_that_start_late_before_they_underflow(monkeypatch, depth, n):
    """Labels at probability exp(-depth) on every frame: the rows (the reversed ones starting at their own
    frame) are rescaled within frames that keep them in float64's range, and match the log-space definitions."""
    from losslab._fast import _dispatch

    monkeypatch.setitem(_dispatch._state, "kernels", False)
    rng = np.random.default_rng(45)
    t_len, c, s = 12, 5, 3
    lp = rng.normal(0, 1.0, (t_len, n, c))
    lp[:, :, 1:] -= depth
    lp = log_softmax(lp)
    tg = (1 + np.cumsum(rng.integers(1, c - 1, (n, s)), axis=1) % (c - 1)).astype(I64)
    il = rng.integers(s, t_len + 1, n).astype(I64)
    tl = rng.integers(1, s + 1, n).astype(I64)
    hit = ctc_loss.kernel(lp, tg, il, tl, reduction="sum")
    assert hit is not None
    want = ctc_loss.reference(lp, tg, il, tl, reduction="sum")
    assert want > depth
    np.testing.assert_allclose(hit[0], want, rtol=1e-12)
    grad = ctc_loss_backward.reference(1.0, lp, tg, il, tl, reduction="sum")
    np.testing.assert_allclose(hit[1], grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("n", [3, 40])  # the per-frame dot products, and the flat rows
@pytest.mark.parametrize("ragged", [False, True])
def test_numpy_kernel_targets_of_one_length(monkeypatch, n, ragged):
    """Every target of one length (no padding states), inputs of one length or not: NumPy's kernel answers (it
    defers nothing here) with the definitions' values."""
    from losslab._fast import _dispatch

    monkeypatch.setitem(_dispatch._state, "kernels", False)
    rng = np.random.default_rng(46)
    t_len, c, s = 12, 6, 4
    lp = log_softmax(rng.normal(0, 1.5, (t_len, n, c)))
    tg = (1 + np.cumsum(rng.integers(1, c - 1, (n, s)), axis=1) % (c - 1)).astype(I64)
    il = rng.integers(s, t_len + 1, n).astype(I64) if ragged else np.full(n, t_len, I64)
    tl = np.full(n, s, I64)
    assert _dispatch.ctc(lp, tg, il, tl, 0, "mean", False) is not None
    out, grad = ctc_loss.kernel(lp, tg, il, tl, reduction="mean")
    np.testing.assert_allclose(out, ctc_loss.reference(lp, tg, il, tl, reduction="mean"), rtol=1e-12)
    want = ctc_loss_backward.reference(1.0, lp, tg, il, tl, reduction="mean")
    np.testing.assert_allclose(grad, want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kernels", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_rows_spanning_beyond_float64_leave_probability_space(monkeypatch, kernels, zero_infinity):
    """Labels exp(-330) to exp(-600) below the blank on every frame: within one frame a row's states then span
    more than float64's range, and the probability-space recursions lose the small ones (the loss off, the
    gradient NaN). The kernels notice (a frame's occupancies no longer sum to 1) and go to log space: what
    ctc_loss and its backward return is the definitions', finite."""
    from losslab import _fast
    from losslab._fast import _dispatch

    if not kernels:
        monkeypatch.setitem(_dispatch._state, "kernels", False)
    elif _fast.backend() != "numba":
        pytest.skip("numba's kernel needs numba")
    rng = np.random.default_rng(47)
    t_len, n, c, s = 12, 2, 4, 3
    for _ in range(60):
        z = rng.normal(0, 1, (t_len, n, c))
        z[:, :, 1:] -= rng.uniform(330, 600) * rng.uniform(0.5, 1.0, (t_len, n, c - 1))
        lp = log_softmax(z)
        tg = rng.integers(1, c, (n, s)).astype(I64)
        il, tl = lengths(t_len, int(rng.integers(2 * s + 1, t_len + 1))), lengths(s, int(rng.integers(1, s + 1)))
        args = (lp, tg, il, tl)
        out = ctc_loss(*args, reduction="sum", zero_infinity=zero_infinity)
        grad = ctc_loss_backward(1.0, *args, reduction="sum", zero_infinity=zero_infinity)
        want = ctc_loss.reference(*args, reduction="sum", zero_infinity=zero_infinity)
        np.testing.assert_allclose(out, want, rtol=1e-12)
        want_grad = ctc_loss_backward.reference(1.0, *args, reduction="sum", zero_infinity=zero_infinity)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-14)
