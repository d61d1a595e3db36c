"""The automatic DBSCAN parameters and the split of over-wide spots, against independent computations:
the k-distance curve by scikit-learn's NearestNeighbors, its knee by the Kneedle rule written out
here (Satopää et al. 2011: the largest gap between the normalised curve and its chord), and the parts
of a split spot by sklearn.cluster.DBSCAN at half the radius."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from clustering import dbscan as D
from clustering.dbscan import auto_parameters, knee_eps, spans, split_wide


def two_blobs_and_noise(seed=7):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 15, (150, 2))
    b = rng.normal(0, 15, (150, 2)) + [2000, 0]
    noise = rng.uniform(-1500, 3500, (300, 2))
    return np.vstack([a, b, noise])


def kneedle(y):
    """The knee of an increasing convex curve: where x - y of the curve normalised to [0, 1] is largest."""
    x = np.arange(len(y), dtype=float)
    xn, yn = (x - x[0]) / (x[-1] - x[0]), (y - y[0]) / (y[-1] - y[0])
    return float(y[np.argmax(xn - yn)])


def test_automatic_eps_is_the_knee_of_the_k_distance_curve_and_finds_both_blobs():
    X = two_blobs_and_noise()
    params = auto_parameters(X, months=5, max_eps_m=200.0)
    # min_samples by the documented rule, counted independently: 2 a month, or 3 x an even spread
    cells = len({(int(np.floor(x / 250)), int(np.floor(y / 250))) for x, y in X})
    even = 3 * len(X) / (cells * 250.0 ** 2) * np.pi * 200.0 ** 2
    assert params["min_samples"] == int(np.clip(np.ceil(max(10, even)), 5, 100))
    k = params["min_samples"]
    dist, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)      # itself first, as min_samples counts
    curve = np.sort(dist[:, -1])
    assert knee_eps(X, k) == pytest.approx(kneedle(curve), rel=1e-9)
    assert params["eps_m"] == pytest.approx(min(max(kneedle(curve), D.MIN_EPS_M), 200.0))
    # the knee lies between the blobs' k-distances and the noise's
    assert np.percentile(dist[:300, -1], 90) < kneedle(curve) < np.percentile(dist[300:, -1], 10)
    labels = DBSCAN(eps=params["eps_m"], min_samples=k).fit(X).labels_
    blob_a, blob_b = np.bincount(labels[:150] + 1).argmax() - 1, np.bincount(labels[150:300] + 1).argmax() - 1
    assert blob_a >= 0 and blob_b >= 0 and blob_a != blob_b
    assert (labels[:150] == blob_a).mean() > 0.95 and (labels[150:300] == blob_b).mean() > 0.95
    width = spans(X, labels)
    assert width[blob_a] < 1500 and width[blob_b] < 1500


def test_default_cap_bounds_the_radius():
    X = two_blobs_and_noise()
    params = auto_parameters(X, months=5)
    assert params["eps_m"] == min(max(params["knee_m"], D.MIN_EPS_M), D.MAX_EPS_M) and params["eps_m"] <= 100.0


def test_a_spot_wider_than_the_cap_is_split_into_its_dense_parts():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 20, (200, 2))
    b = rng.normal(0, 20, (200, 2)) + [2000, 0]
    xs = np.repeat(np.arange(0, 2001, 40.0), 3)                       # a bridge of 3 incidents every 40 m
    bridge = np.column_stack([xs, rng.normal(0, 1, len(xs))])
    X = np.vstack([a, b, bridge])
    whole = DBSCAN(eps=100, min_samples=10).fit(X).labels_
    assert whole.max() == 0 and spans(X, whole)[0] > 1500              # one spot 2 km wide
    labels, wide, split = split_wide(X, whole, eps_m=100, min_samples=10, max_span_m=1500)
    assert split == 1 and not wide.any() and labels.max() == 1
    reference = DBSCAN(eps=50, min_samples=10).fit(X).labels_          # the parts: DBSCAN at half the radius
    assert adjusted_rand_score(reference, labels) == pytest.approx(1.0)
    assert (spans(X, labels) < 1500).all()


def test_a_wide_spot_without_dense_parts_is_flagged():
    xs = np.repeat(np.arange(0, 2001, 40.0), 3)
    X = np.column_stack([xs, np.tile([0.0, 0.5, 1.0], len(xs) // 3)])
    whole = DBSCAN(eps=100, min_samples=10).fit(X).labels_
    labels, wide, split = split_wide(X, whole, eps_m=100, min_samples=10, max_span_m=1500)
    assert split == 0 and wide.tolist() == [True] and (labels == whole).all()
