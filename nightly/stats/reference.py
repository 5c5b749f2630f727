#!/usr/bin/env python3
"""Reference values for nightly/stats, computed independently with SciPy/NumPy (Debian python3-scipy).

Run once: `python3 nightly/stats/reference.py > nightly/stats/reference.json`; the TypeScript tests
read the committed JSON and never need Python at run time.
"""
import json
import numpy as np
from scipy import stats

CASES = {
    "no_ties_6x6": ([10.1, 10.4, 9.8, 10.0, 10.2, 9.9], [10.9, 11.2, 10.6, 10.3, 11.0, 10.8]),
    "overlap_8x8": ([5.2, 5.9, 6.1, 5.5, 6.3, 5.8, 5.0, 6.0], [5.6, 6.2, 5.7, 6.6, 6.4, 5.95, 6.05, 6.8]),
    "unequal_5x9": ([3.1, 2.7, 3.6, 2.9, 3.3], [3.0, 3.5, 3.8, 2.8, 3.9, 4.1, 3.4, 3.7, 4.4]),
    "ties_7x7": ([4, 5, 5, 6, 7, 7, 8], [5, 6, 6, 7, 8, 8, 9]),
    "heavy_ties_6x6": ([1, 1, 2, 2, 2, 3], [2, 2, 3, 3, 3, 3]),
    "identical_4x4": ([2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]),
    "separated_12x12": (list(np.round(np.linspace(100, 111, 12), 3)), list(np.round(np.linspace(108, 119, 12), 3))),
}


def rank_sum(x, y, axis):
    ranks = stats.rankdata(np.concatenate([x, y], axis=axis), axis=axis)
    return np.sum(ranks[..., : x.shape[axis]], axis=axis)


def mwu(x, y):
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    out = {"u": float(stats.mannwhitneyu(x, y, method="asymptotic").statistic)}
    if len(np.unique(np.concatenate([x, y]))) == len(x) + len(y):
        for alt in ("two-sided", "greater", "less"):
            out[alt] = float(stats.mannwhitneyu(x, y, alternative=alt, method="exact").pvalue)
    else:
        # Exact conditional test with ties: the full permutation distribution of the mid-rank sum.
        for alt in ("two-sided", "greater", "less"):
            res = stats.permutation_test((x, y), lambda a, b, axis: rank_sum(a, b, axis), permutation_type="independent",
                                         alternative=alt, n_resamples=np.inf, vectorized=True, axis=-1)
            out[alt] = float(res.pvalue)
    return out


def cliffs(base, head):
    b = np.asarray(base)[None, :]
    h = np.asarray(head)[:, None]
    return float((np.sum(h > b) - np.sum(h < b)) / (b.size * h.size))


def boot(base, head, n=200_000):
    res = stats.bootstrap((np.asarray(base), np.asarray(head)), lambda a, b, axis: np.median(b, axis=axis) / np.median(a, axis=axis),
                          vectorized=True, paired=False, n_resamples=n, method="percentile", confidence_level=0.95,
                          rng=np.random.default_rng(20261128))
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


# Paired differences for the exact signed-rank test (signedrank.ts): SciPy's exact test where the
# ranks are distinct, and an enumeration of all 2^n sign assignments of the mid-ranks otherwise.
PAIRED = {
    "no_ties_8": [0.031, -0.012, 0.044, 0.027, 0.009, 0.052, -0.004, 0.038],
    "mixed_10": [0.02, -0.03, 0.011, -0.007, 0.015, -0.022, 0.004, 0.018, -0.001, 0.026],
    "ties_and_zero_9": [0.01, -0.01, 0.02, 0.02, 0.0, 0.03, -0.02, 0.01, 0.04],
    "all_negative_6": [-0.05, -0.03, -0.08, -0.01, -0.06, -0.02],
}


def signed_rank(d):
    import itertools
    d = np.asarray([v for v in d if v != 0], float)
    ranks = stats.rankdata(np.abs(d))
    w = float(np.sum(ranks[d > 0]))
    out = {"d": [float(v) for v in d], "w_plus": w}
    if len(np.unique(np.abs(d))) == len(d):
        for alt in ("two-sided", "greater", "less"):
            out[alt] = float(stats.wilcoxon(d, alternative=alt, method="exact").pvalue)
    else:
        sums = [float(np.dot(ranks, s)) for s in itertools.product((0, 1), repeat=len(d))]
        ge = sum(s >= w - 1e-9 for s in sums) / len(sums)
        le = sum(s <= w + 1e-9 for s in sums) / len(sums)
        out.update({"greater": ge, "less": le, "two-sided": min(1.0, 2 * min(ge, le))})
    walsh = [(d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d))]
    out["hodges_lehmann"] = float(np.median(walsh))
    return out


P = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.5, 0.9, 0.0001, 0.03]
out = {
    "mwu": {k: {"x": v[0], "y": v[1], **mwu(*v)} for k, v in CASES.items()},
    "cliffs": {k: cliffs(v[0], v[1]) for k, v in CASES.items()},
    "hodges_lehmann": {k: float(np.median(np.subtract.outer(np.asarray(v[1]), np.asarray(v[0])))) for k, v in CASES.items()},
    "bh": {"p": P, "q": [float(q) for q in stats.false_discovery_control(P, method="bh")]},
    "quantile": {"x": [7, 1, 3, 9, 4, 4, 12, 0.5], "q": [0, 0.1, 0.25, 0.5, 0.9, 0.99, 1],
                 "v": [float(np.quantile([7, 1, 3, 9, 4, 4, 12, 0.5], q)) for q in [0, 0.1, 0.25, 0.5, 0.9, 0.99, 1]]},
    "norm_ppf": {str(p): float(stats.norm.ppf(p)) for p in [0.001, 0.01, 0.025, 0.2, 0.5, 0.8, 0.9, 0.975, 0.99, 0.9995]},
    "signed_rank": {k: signed_rank(v) for k, v in PAIRED.items()},
    "bootstrap": {k: {"base": CASES[k][0], "head": CASES[k][1], "ci": boot(*CASES[k])} for k in ("no_ties_6x6", "overlap_8x8", "separated_12x12")},
}
print(json.dumps(out, indent=1))
