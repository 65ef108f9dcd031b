"""Every registered loss in JAX: optax's loss where optax has it with losslab's semantics, else ``jax.numpy``.

:func:`makers` maps a loss name to ``maker(options) -> f(*inputs)``: ``f`` takes the loss's inputs in the
registry's order (``LossSpec.inputs``, parameters included) and returns losslab's value for those options
with ``reduction='mean'`` (``'batchmean'`` where the path asks for it), so that
``jax.jit(jax.value_and_grad(f, argnums))`` times the same computation as losslab's forward + backward.
A maker returns ``None`` for options it cannot express (none of the registry's paths today).
Each definition follows the docstring of the losslab function it mirrors (``losslab.functional``);
``benchmarks/losses.py --check`` holds every one to losslab's value.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

Maker = Callable[[dict], Callable | None]


def _classes_last(x):
    """(N, C, d1, ..., dK) -> (N, d1, ..., dK, C): the class axis last, as optax and the helpers below take it."""
    return x if x.ndim <= 2 else jnp.moveaxis(x, 1, -1)


def _weights(w, c: int, dtype):
    return jnp.ones(c, dtype) if w is None else w


def _index_cross_entropy(logp, t, w, ignore_index: int, smoothing: float):
    """losslab's cross_entropy / nll_loss 'mean' on class-last log-probabilities and index targets."""
    c = logp.shape[-1]
    w = _weights(w, c, logp.dtype)
    valid = t != ignore_index
    tc = jnp.where(valid, t, 0)
    wt = w[tc] * valid
    per = (1 - smoothing) * wt * -jnp.take_along_axis(logp, tc[..., None], axis=-1)[..., 0]
    if smoothing:
        per = per + smoothing / c * valid * -(logp * w).sum(-1)
    return per.sum() / wt.sum()


def _prob_cross_entropy(logp, q, w, smoothing: float):
    """losslab's cross_entropy 'mean' with class-probability targets (class-last): over positions, not weights."""
    c = logp.shape[-1]
    a = _weights(w, c, logp.dtype) * (q * (1 - smoothing) + smoothing / c)
    return -(a * logp).sum(-1).mean()


def _pnorm(u, p: float):
    if p == 2.0:
        return jnp.sqrt((u * u).sum(-1))
    if p == 1.0:
        return jnp.abs(u).sum(-1)
    return (jnp.abs(u) ** p).sum(-1) ** (1 / p)


def _pairwise(a, b, p: float = 2.0, eps: float = 1e-6):
    """torch.pairwise_distance: eps is added to the difference."""
    return _pnorm(a - b + eps, p)


def _cosine_distance(a, b, eps: float = 1e-8):
    """1 - cosine similarity, each vector divided by its norm clamped at eps (aten's, losslab's cosine_distance)."""
    ua = a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), eps)
    ub = b / jnp.maximum(jnp.linalg.norm(b, axis=-1, keepdims=True), eps)
    return 1 - (ua * ub).sum(-1)


def _triplet(distance, margin: float, swap: bool):
    def f(a, p, n):
        d_an = distance(a, n)
        if swap:
            d_an = jnp.minimum(d_an, distance(p, n))
        return jnp.maximum(distance(a, p) - d_an + margin, 0).mean()

    return f


def _masks(x, t):
    """(probabilities or logits, target) of the overlap losses, class-last: index targets one-hot (C = 1: labels)."""
    c = x.shape[1]
    x = _classes_last(x)
    if t.ndim == x.ndim - 1:  # class indices (N, d1, ..., dK)
        t = t[..., None].astype(x.dtype) if c == 1 else jax.nn.one_hot(t, c, dtype=x.dtype)
    else:
        t = _classes_last(t)
    return x, t


def _activate(x, logits: bool):
    """losslab's ``logits=True``: sigmoid for one class, softmax over the classes otherwise (optax's apply_softmax)."""
    if not logits:
        return x
    return jax.nn.sigmoid(x) if x.shape[-1] == 1 else jax.nn.softmax(x, axis=-1)


def _overlap_sums(p, t):
    """Per sample and class: sum p t, sum p, sum t over the spatial positions (class-last input)."""
    axes = tuple(range(1, p.ndim - 1))
    return (p * t).sum(axes), p.sum(axes), t.sum(axes)


def _sparsemax(z):
    """Sparsemax of each row (Martins & Astudillo 2016): the Euclidean projection onto the simplex, by sorting."""
    u = jnp.sort(z, axis=-1)[..., ::-1]
    cumulative = jnp.cumsum(u, axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = (1 + k * u > cumulative).sum(-1, keepdims=True)  # the support's size, at least 1
    tau = (jnp.take_along_axis(cumulative, support - 1, axis=-1) - 1) / support.astype(z.dtype)
    return jnp.maximum(z - tau, 0)


def _no_options(o: dict, *allowed: str) -> bool:
    """True where the path sets only options in ``allowed`` (and reduction), the others left at their defaults."""
    return all(k in allowed or k == "reduction" for k in o)


def makers() -> dict[str, Maker]:
    """``name -> maker(options) -> f(*inputs) or None`` for every loss of the registry."""

    # ------------------------------------------------------------------ classification

    def cross_entropy(o):
        w, ii, ls = o.get("weight"), o.get("ignore_index", -100), o.get("label_smoothing", 0.0)

        def f(x, t):
            if x.ndim == 2 and w is None and ii == -100:  # optax's losses: the plain paths
                if t.ndim == 2:
                    return optax.softmax_cross_entropy(x, t if ls == 0 else optax.smooth_labels(t, ls)).mean()
                if ls == 0:
                    return optax.softmax_cross_entropy_with_integer_labels(x, t).mean()
            logp = jax.nn.log_softmax(_classes_last(x), axis=-1)
            if t.ndim == x.ndim:
                return _prob_cross_entropy(logp, _classes_last(t), w, ls)
            return _index_cross_entropy(logp, t, w, ii, ls)

        return f

    def nll(o):
        w, ii = o.get("weight"), o.get("ignore_index", -100)
        return lambda x, t: _index_cross_entropy(_classes_last(x), t, w, ii, 0.0)

    def bce(o):
        w = o.get("weight")

        def f(x, t):  # each log clamped at -100, as PyTorch's
            log_x, log_1mx = jnp.maximum(jnp.log(x), -100), jnp.maximum(jnp.log1p(-x), -100)
            per = -(t * log_x + (1 - t) * log_1mx)
            return (per if w is None else per * w).mean()

        return f

    def bce_logits(o):
        w, pw = o.get("weight"), o.get("pos_weight")
        if w is None and pw is None:
            return lambda x, t: optax.sigmoid_binary_cross_entropy(x, t).mean()

        def f(x, t):
            per = (1 - t) * x + (1 if pw is None else 1 + (pw - 1) * t) * jax.nn.softplus(-x)
            return (per if w is None else per * w).mean()

        return f

    # ------------------------------------------------------------------ regression

    def mse(o):
        return lambda x, t: optax.squared_error(x, t).mean()

    def l1(o):
        return lambda x, t: jnp.abs(x - t).mean()

    def smooth_l1(o):
        beta = o.get("beta", 1.0)
        if beta == 0:
            return lambda x, t: jnp.abs(x - t).mean()
        return lambda x, t: optax.huber_loss(x, t, delta=beta).mean() / beta

    def huber(o):
        delta = o.get("delta", 1.0)
        return lambda x, t: optax.huber_loss(x, t, delta=delta).mean()

    def kl(o):
        div = optax.losses.kl_divergence_with_log_targets if o.get("log_target") else optax.kl_divergence
        if o.get("reduction") == "batchmean":  # optax's per-row sums, averaged over the batch
            return lambda x, t: div(x, t).mean()
        return lambda x, t: div(x, t).mean() / x.shape[-1]

    def poisson_nll(o):
        log_input, full, eps = o.get("log_input", True), o.get("full", False), o.get("eps", 1e-8)

        def f(x, t):
            per = jnp.exp(x) - t * x if log_input else x - t * jnp.log(x + eps)
            if full:  # Stirling's term where t > 1; a constant for the gradient
                ts = jnp.where(t > 1, t, 1)
                per = per + jnp.where(t > 1, ts * jnp.log(ts) - ts + 0.5 * jnp.log(2 * jnp.pi * ts), 0)
            return per.mean()

        return f

    def gaussian_nll(o):
        full, eps = o.get("full", False), o.get("eps", 1e-6)

        def f(x, t, var):
            v = jnp.maximum(var, eps)
            per = 0.5 * (jnp.log(v) + (x - t) ** 2 / v)
            if full:
                per = per + 0.5 * jnp.log(2 * jnp.pi)
            return per.mean()

        return f

    # ------------------------------------------------------------------ margin

    def hinge_embedding(o):
        margin = o.get("margin", 1.0)
        return lambda x, y: jnp.where(y > 0, x, jnp.maximum(margin - x, 0)).mean()

    def soft_margin(o):
        return lambda x, y: jax.nn.softplus(-y * x).mean()

    def multilabel_soft_margin(o):
        w = o.get("weight")
        if w is None:
            return lambda x, y: optax.sigmoid_binary_cross_entropy(x, y).mean()
        return lambda x, y: (optax.sigmoid_binary_cross_entropy(x, y) * w).mean()

    def multi_margin(o):
        power, margin, w = o.get("p", 1), o.get("margin", 1.0), o.get("weight")

        def f(x, t):
            h = jnp.maximum(margin - jnp.take_along_axis(x, t[:, None], axis=1) + x, 0)
            h = (h if power == 1 else h * h) * (1 - jax.nn.one_hot(t, x.shape[1], dtype=x.dtype))
            per = h.sum(1) / x.shape[1]
            return (per if w is None else per * w[t]).mean()

        return f

    def multilabel_margin(o):
        def f(x, t):
            listed = jnp.cumprod(t >= 0, axis=1).astype(bool)  # the entries before the first -1
            tj = jnp.where(listed, t, 0)
            is_target = (jax.nn.one_hot(tj, x.shape[1], dtype=x.dtype) * listed[..., None]).max(1)
            xj = jnp.take_along_axis(x, tj, axis=1)
            z = jnp.maximum(1 - xj[:, :, None] + x[:, None, :], 0)  # (N, S, C): every listed j against every i
            h = z * listed[:, :, None] * (1 - is_target)[:, None, :]
            return h.sum((1, 2)).mean() / x.shape[1]

        return f

    # ------------------------------------------------------------------ embedding and metric learning

    def margin_ranking(o):
        margin = o.get("margin", 0.0)
        return lambda x1, x2, y: jnp.maximum(-y * (x1 - x2) + margin, 0).mean()

    def cosine_embedding(o):
        margin = o.get("margin", 0.0)

        def f(x1, x2, y):
            eps = 9.99999996e-13  # aten's EPSILON inside each squared norm
            cos = (x1 * x2).sum(-1) / jnp.sqrt(((x1 * x1).sum(-1) + eps) * ((x2 * x2).sum(-1) + eps))
            return jnp.where(y > 0, 1 - cos, jnp.maximum(cos - margin, 0)).mean()

        return f

    def triplet(o):
        p, eps = o.get("p", 2.0), o.get("eps", 1e-6)
        return _triplet(lambda u, w: _pairwise(u, w, p, eps), o.get("margin", 1.0), o.get("swap", False))

    def triplet_distance(o):
        name = o.get("distance_function")
        if name not in (None, "pairwise", "cosine"):  # a custom object: losslab's own, no JAX twin
            return None
        distance = _cosine_distance if name == "cosine" else _pairwise
        return _triplet(distance, o.get("margin", 1.0), o.get("swap", False))

    def contrastive(o):
        margin = o.get("margin", 1.0)

        def f(x1, x2, y):
            d2 = ((x1 - x2) ** 2).sum(-1)
            y = y.astype(x1.dtype)
            return (y * 0.5 * d2 + (1 - y) * 0.5 * jnp.maximum(margin - jnp.sqrt(d2), 0) ** 2).mean()

        return f

    def ntxent(o):
        temperature = o.get("temperature", 0.07)

        def f(v1, v2):  # one positive per row: the other view of the same sample
            labels = jnp.concatenate([jnp.arange(v1.shape[0]), jnp.arange(v1.shape[0])])
            return optax.losses.ntxent(jnp.concatenate([v1, v2]), labels, temperature)

        return f

    def ntxent_group(o):
        temperature = o.get("temperature", 0.07)
        return lambda e, labels: optax.losses.ntxent(e, labels, temperature)

    # ------------------------------------------------------------------ sequences

    def ctc(o):
        zero_infinity = o.get("zero_infinity", False)
        log_epsilon = -1e5  # optax's log(0): a target no alignment can produce costs about T * 1e5, not inf

        def f(log_probs, targets, il, tl):  # optax: (B, T, K) logits (log_softmax inside), 1 where padded
            t_len = log_probs.shape[0]
            logit_pad = (jnp.arange(t_len)[None, :] >= il[:, None]).astype(log_probs.dtype)
            label_pad = (jnp.arange(targets.shape[1])[None, :] >= tl[:, None]).astype(log_probs.dtype)
            per = optax.ctc_loss(jnp.swapaxes(log_probs, 0, 1), logit_pad, targets, label_pad, log_epsilon=log_epsilon)
            if zero_infinity:  # losslab's infinite losses, and their gradients, set to 0
                per = jnp.where(per < -log_epsilon / 2, per, 0)
            return (per / jnp.maximum(tl, 1)).mean()

        return f

    # ------------------------------------------------------------------ focal and poly

    def sigmoid_focal(o):
        alpha = o.get("alpha", 0.25)
        if not _no_options(o, "alpha", "gamma"):
            return None
        return lambda x, t: optax.losses.sigmoid_focal_loss(
            x, t, alpha=None if alpha < 0 else alpha, gamma=o.get("gamma", 2.0)
        ).mean()

    def focal(o):
        gamma, w, ii = o.get("gamma", 2.0), o.get("weight"), o.get("ignore_index", -100)
        if not o.get("include_background", True):
            return None

        def f(x, t):
            logp = jax.nn.log_softmax(_classes_last(x), axis=-1)
            w_all = _weights(w, logp.shape[-1], logp.dtype)
            valid = t != ii
            tc = jnp.where(valid, t, 0)
            logpt = jnp.take_along_axis(logp, tc[..., None], axis=-1)[..., 0]
            wt = w_all[tc] * valid
            focus = 1.0 if gamma == 0 else (-jnp.expm1(logpt)) ** gamma
            return (wt * focus * -logpt).sum() / wt.sum()

        return f

    def poly(o):
        eps = o.get("epsilon", 2.0)

        def f(x, t):
            p = t if t.ndim == 2 else jax.nn.one_hot(t, x.shape[1], dtype=x.dtype)
            return optax.losses.poly_loss_cross_entropy(x, p, epsilon=eps).mean()

        return f

    # ------------------------------------------------------------------ segmentation

    overlap_options = ("logits", "smooth", "alpha", "beta")

    def dice(o):
        smooth, logits = o.get("smooth", 1.0), o.get("logits", False)
        if not _no_options(o, *overlap_options):
            return None

        def f(x, t):
            x, t = _masks(x, t)
            if logits:  # optax's dice_loss(smooth=s) is losslab's dice_loss(smooth=2 s)
                return optax.losses.dice_loss(x, t, smooth=smooth / 2, apply_softmax=True).mean()
            inter, p_sum, t_sum = _overlap_sums(x, t)
            return (1 - (2 * inter + smooth) / (p_sum + t_sum + smooth)).mean()

        return f

    def tversky(o):
        alpha, beta, smooth, logits = o.get("alpha", 0.5), o.get("beta", 0.5), o.get("smooth", 1.0), o.get("logits")
        if not _no_options(o, *overlap_options):
            return None

        def f(x, t):
            x, t = _masks(x, t)
            if logits:  # optax's dice_loss is the Tversky loss with the same smooth
                return optax.losses.dice_loss(x, t, smooth=smooth, alpha=alpha, beta=beta, apply_softmax=True).mean()
            inter, p_sum, t_sum = _overlap_sums(x, t)
            tv = (inter + smooth) / (inter + alpha * (p_sum - inter) + beta * (t_sum - inter) + smooth)
            return (1 - tv).mean()

        return f

    def generalized_dice(o):
        smooth, logits = o.get("smooth", 1e-5), o.get("logits", False)
        if not _no_options(o, *overlap_options):  # optax's multiclass_generalized_dice_loss weighs otherwise
            return None

        def f(x, t):
            x, t = _masks(x, t)
            inter, p_sum, t_sum = _overlap_sums(_activate(x, logits), t)
            present = t_sum > 0
            w = jnp.where(present, 1 / jnp.where(present, t_sum, 1) ** 2, 0)  # 1 / volume^2 ('square')
            w = jnp.where(present, w, w.max(-1, keepdims=True))  # an absent class: the largest present weight
            a = 2 * (w * inter).sum(-1) + smooth
            b = (w * (p_sum + t_sum)).sum(-1) + smooth
            return (1 - a / b).mean()

        return f

    # ------------------------------------------------------------------ robust and sparse

    def log_cosh(o):
        return lambda x, t: optax.log_cosh(x, t).mean()

    def quantile(o):
        q = tuple(o["quantiles"])

        def f(x, t):
            qs = jnp.asarray(q, x.dtype)
            u = t[:, None] - x
            return jnp.maximum(qs * u, (qs - 1) * u).mean()

        return f

    def charbonnier(o):
        eps, w = o.get("eps", 1e-3), o.get("weight")

        def f(x, t):
            d = x - t
            per = jnp.sqrt(d * d + eps * eps)
            if w is None:
                return per.mean()
            wb = jnp.broadcast_to(w, per.shape)
            return (per * wb).sum() / wb.sum()

        return f

    def sparsemax(o):
        def f(z, t):
            # optax 0.2.8's projection_simplex turns float32 into float64 under jax_enable_x64 (it divides by an
            # int64 count) and its custom JVP then fails: its loss for float64 index targets, jax.numpy otherwise
            if t.ndim == 1 and z.dtype == jnp.float64:
                return optax.losses.multiclass_sparsemax_loss(z, t).mean()
            if t.ndim == 1:
                t = jax.nn.one_hot(t, z.shape[-1], dtype=z.dtype)
            p = _sparsemax(z)
            per = (p * z).sum(-1) - 0.5 * (p * p).sum(-1) + 0.5 * (t * t).sum(-1) - (t * z).sum(-1)
            return per.mean()

        return f

    def multiclass_hinge(o):
        return lambda x, t: optax.losses.multiclass_hinge_loss(x, t).mean()

    # ------------------------------------------------------------------ losses that own parameters

    def linear_cross_entropy(o):
        w, ls = o.get("weight"), o.get("label_smoothing", 0.0)
        ii = -100 if o.get("ignore_index") is None else o["ignore_index"]

        def f(x, lw, t, lb):  # the chunking option changes memory, not the value
            logp = jax.nn.log_softmax(x @ lw.T + lb, axis=-1)
            if t.ndim == 2:
                return _prob_cross_entropy(logp, t, w, ls)
            return _index_cross_entropy(logp, t, w, ii, ls)

        return f

    def adaptive_log_softmax(o):
        from losslab.functional import adaptive_tail_shapes

        cutoffs, div_value = list(o["cutoffs"]), o.get("div_value", 4.0)

        def f(x, t, head_w, head_b, tail_w):
            shortlist = cutoffs[0]
            head_lp = jax.nn.log_softmax(x @ head_w.T + head_b, axis=-1)
            out = jnp.take_along_axis(head_lp, jnp.minimum(t, shortlist - 1)[:, None], axis=1)[:, 0]
            at = 0
            for i, (s1, s2) in enumerate(adaptive_tail_shapes(x.shape[1], cutoffs, div_value)):
                w1 = tail_w[at : at + s1[0] * s1[1]].reshape(s1)
                at += s1[0] * s1[1]
                w2 = tail_w[at : at + s2[0] * s2[1]].reshape(s2)
                at += s2[0] * s2[1]
                lo, hi = cutoffs[i], cutoffs[i + 1]
                inside = (t >= lo) & (t < hi)
                # every row through the cluster (static shapes under jit), then the rows of its classes kept
                lp = jax.nn.log_softmax((x @ w1.T) @ w2.T, axis=-1)
                rel = jnp.clip(t - lo, 0, hi - lo - 1)
                cluster = head_lp[:, shortlist + i] + jnp.take_along_axis(lp, rel[:, None], axis=1)[:, 0]
                out = jnp.where(inside, cluster, out)
            return -out.mean()

        return f

    return {
        "CrossEntropyLoss": cross_entropy,
        "NLLLoss": nll,
        "BCELoss": bce,
        "BCEWithLogitsLoss": bce_logits,
        "MSELoss": mse,
        "L1Loss": l1,
        "SmoothL1Loss": smooth_l1,
        "HuberLoss": huber,
        "KLDivLoss": kl,
        "PoissonNLLLoss": poisson_nll,
        "GaussianNLLLoss": gaussian_nll,
        "HingeEmbeddingLoss": hinge_embedding,
        "SoftMarginLoss": soft_margin,
        "MultiLabelSoftMarginLoss": multilabel_soft_margin,
        "MultiMarginLoss": multi_margin,
        "MultiLabelMarginLoss": multilabel_margin,
        "MarginRankingLoss": margin_ranking,
        "CosineEmbeddingLoss": cosine_embedding,
        "TripletMarginLoss": triplet,
        "CTCLoss": ctc,
        "TripletMarginWithDistanceLoss": triplet_distance,
        "ContrastiveLoss": contrastive,
        "NTXentLoss": ntxent,
        "NTXentGroupLoss": ntxent_group,
        "SigmoidFocalLoss": sigmoid_focal,
        "FocalLoss": focal,
        "PolyLoss": poly,
        "DiceLoss": dice,
        "TverskyLoss": tversky,
        "GeneralizedDiceLoss": generalized_dice,
        "LogCoshLoss": log_cosh,
        "QuantileLoss": quantile,
        "CharbonnierLoss": charbonnier,
        "SparsemaxLoss": sparsemax,
        "MulticlassHingeLoss": multiclass_hinge,
        "LinearCrossEntropyLoss": linear_cross_entropy,
        "AdaptiveLogSoftmaxWithLoss": adaptive_log_softmax,
    }
