"""DBSCAN hot spots: dense groups of incidents, as labels and as ward-aware polygons.

:class:`DBSCANSpots` is a drop-in for :class:`sklearn.cluster.DBSCAN` on
projected 2-D coordinates: it returns the same ``labels_`` (same cluster
numbers, same border assignment) but runs in memory linear in the number of
points. :func:`find_spots` is the GeoDataFrame-level entry point used by the
service: it projects the incidents, clusters them (DBSCAN or HDBSCAN) and
describes each spot as one polygon with its counts, categories, dates and the
wards it touches.

Why DBSCAN is hand-written here
-------------------------------
``sklearn.cluster.DBSCAN`` first stores the radius neighbourhood of every
point, so its memory grows with the number of pairs within eps, that is
with the square of the local density; incident data is very dense in places
(markets, bus stations, hundreds of reports geocoded to one address). On the
synthetic city of ``bench/analysis.py`` (1,000,000 incidents over 30 x 30 km
with hot spots and repeated addresses) scikit-learn takes 10-13 s and
1.8 GiB at eps 50 m, and at the service's default eps of 250 m its
neighbour lists alone would take 12 GiB. The grid algorithm below never
stores neighbourhoods: it collapses repeated addresses, decides most points
from cell totals and nearest-neighbour queries, and links grid cells through
their closest core points. It returns the same labels in 1.2-2.2 s
(4.6-9.4 times faster over five runs on a shared 2-core machine) and
0.42 GiB at eps 50 m, and in 0.7-1.2 s and under 0.5 GiB at eps 250 m
(peak RSS of the whole process).
"""
from __future__ import annotations

import numbers

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .errors import N_, InputError
from .projection import WGS84, metric_points
from .projection import rows_text as _rows

__all__ = ["DBSCANSpots", "find_spots", "auto_parameters", "knee_eps", "k_distances", "spans",
           "split_wide", "PARAMETER_CONSTRAINTS", "METHODS", "HULLS"]

# Allowed parameter values, as data: (type, lower bound, bound is inclusive).
PARAMETER_CONSTRAINTS = {
    "eps_m": (numbers.Real, 0.0, False),       # eps_m > 0
    "min_samples": (numbers.Integral, 1, True),  # min_samples >= 1
}
METHODS = ("dbscan", "hdbscan")
HULLS = ("concave", "buffer")
CONCAVE_RATIO = 0.3

# The automatic parameters (:func:`auto_parameters`).
MAX_EPS_M = 100.0        # the largest automatic radius
MIN_EPS_M = 25.0         # the smallest radius, automatic or of a split
PER_MONTH = 2            # incidents a month within the radius that make a core point ...
BACKGROUND = 3           # ... and at least this many times an even spread over the occupied cells
OCCUPIED_CELL_M = 250.0  # the cells whose area is "occupied" (the incidents' land, not the hull's)
MIN_SAMPLES_BOUNDS = (5, 100)

# Work per batch of tree queries; bounds the temporary memory (~100 bytes per query).
_BATCH = 1 << 20
# Offsets with at least this many cell pairs to test first probe one pair of points per pair.
_PROBE_PAIRS = 256
# Largest grid (in cells) looked up through a dense table (8 bytes a cell).
_TABLE_CELLS = 1 << 24


def _check_param(name, value):
    kind, low, inclusive = PARAMETER_CONSTRAINTS[name]
    ok = (isinstance(value, kind) and not isinstance(value, bool)
          and np.isfinite(value) and (value >= low if inclusive else value > low))
    if not ok:
        bound = f">= {low}" if inclusive else f"> {low}"
        text = (N_("`%(name)s` was %(value)s but must be a whole number %(bound)s.") if kind is numbers.Integral
                else N_("`%(name)s` was %(value)s but must be a number %(bound)s."))
        raise InputError(text, name=name, value=repr(value), bound=bound)
    return value


def _check_weights(weights, n, name):
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise InputError(f"`{name}` has shape {w.shape} but must hold one weight per point ({n},).")
    bad = ~np.isfinite(w)
    if bad.any():
        raise InputError(f"`{name}` has {bad.sum()} missing or infinite values "
                         f"(rows {_rows(np.arange(n), bad)}); give every point a finite weight.")
    return w


def _check_coordinates(X, name="X", index=None):
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`{name}` must be an (n, 2) array of numbers in metres: {exc}") from None
    if X.ndim != 2 or X.shape[1] != 2:
        raise InputError(f"`{name}` has shape {X.shape} but must be (n, 2): one row of projected "
                         f"x, y metres per point.")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        index = np.arange(len(X)) if index is None else index
        raise InputError(f"{bad.sum()} points have no coordinates (rows {_rows(index, bad)}); "
                         f"drop them or geocode them first.")
    return X


def _check_enough(total_weight, n, min_samples, name):
    if total_weight < min_samples:
        raise InputError(N_("`%(name)s` has %(n)s points (total weight %(weight)s) but min_samples=%(min_samples)s, "
                            "so no cluster can form; lower `min_samples` or pass more points."),
                         name=name, n=n, weight=f"{total_weight:g}", min_samples=min_samples)


# --------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------

def _rdist(a, b):
    """Squared distance, rounded exactly as scikit-learn's trees compute it."""
    dx = a[..., 0] - b[..., 0]
    dy = a[..., 1] - b[..., 1]
    return dx * dx + dy * dy


def _expand(starts, counts):
    """Concatenation of ``arange(s, s + c)`` for every pair, and the group of each item."""
    counts = np.asarray(counts, dtype=np.intp)
    group = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(group.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.asarray(starts, dtype=np.intp)[group] + offsets, group


def _batches(cost, budget=None):
    """Split ``range(len(cost))`` into consecutive slices of total cost about ``budget``."""
    if len(cost) == 0:
        return []
    budget = max(int(budget or _BATCH), 1)
    cum = np.cumsum(cost)
    cuts = np.searchsorted(cum, np.arange(budget, cum[-1], budget))
    edges = np.unique(np.r_[0, cuts, len(cost)])
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


class _Grid:
    """Unique points sorted into square cells of side just under eps/sqrt(2).

    Any two points of one cell are within eps of each other (the side leaves
    a margin for rounding), and the eps-neighbours of a point lie in the 5 x 5
    block of cells around its own.
    """

    def __init__(self, P, eps):
        lo = P.min(axis=0)
        span = float((P.max(axis=0) - lo).max())
        if span > 1e9 * eps:
            raise InputError(N_("`eps_m`=%(eps)s is below the precision of coordinates spanning %(span)s m; "
                                "use an eps of at least %(need)s m."), eps=f"{eps:g}", span=f"{span:g}",
                             need=f"{span * 1e-9:g}")
        # Margins: 1e-9 relative for the rounding of squared distances, and
        # 1e-14 * span for the rounding of (x - lo) / side.
        side = eps / np.sqrt(2.0) * (1.0 - 1e-9) - 1e-14 * span
        k = np.floor((P - lo) / side).astype(np.int64) + 2
        self.ny = int(k[:, 1].max()) + 3
        key = k[:, 0] * self.ny + k[:, 1]
        self.perm = np.argsort(key, kind="stable")
        key = key[self.perm]
        self.start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        self.count = np.diff(np.r_[self.start, len(key)])
        self.key = key[self.start]
        self.cell = np.repeat(np.arange(len(self.key)), self.count)
        # Cell lookup: a dense table when the grid is small enough, else binary search.
        size = int(k[:, 0].max() + 3) * self.ny
        self.table = None
        if size <= _TABLE_CELLS:
            self.table = np.full(size, -1, dtype=np.intp)
            self.table[self.key] = np.arange(len(self.key))

    def neighbour(self, cells, ox, oy):
        """Cell at offset (ox, oy) from each of ``cells``; -1 where that cell is empty."""
        target = self.key[cells] + (ox * self.ny + oy)
        if self.table is not None:
            return self.table[target]
        pos = np.searchsorted(self.key, target)
        pos[pos == len(self.key)] = 0
        return np.where(self.key[pos] == target, pos, -1)


BLOCK = [(ox, oy) for ox in range(-2, 3) for oy in range(-2, 3)]
# Half of the block without the centre, nearest offsets first.
HALF = sorted([(ox, oy) for ox, oy in BLOCK if ox > 0 or (ox == 0 and oy > 0)],
              key=lambda o: (max(abs(o[0]), abs(o[1])), abs(o[0]) + abs(o[1])))


def _exact_weights(tree, P, W, idx, eps):
    """Weight of the eps-neighbourhood of each ``P[idx]``, pair by pair."""
    out = np.zeros(len(idx))
    reach, eps2 = eps * (1 + 1e-9), eps * eps
    for sl in _batches(np.full(len(idx), 64)):
        q = idx[sl]
        pairs = cKDTree(P[q]).sparse_distance_matrix(tree, reach, output_type="ndarray")
        i, j = pairs["i"], pairs["j"]
        keep = _rdist(P[q[i]], P[j]) <= eps2
        out[sl] = np.bincount(i[keep], weights=W[j[keep]], minlength=len(q))
    return out


def _decide_core(P, W, idx, eps, min_samples):
    """Whether the eps-neighbourhood of each ``P[idx]`` weighs at least ``min_samples``.

    With non-negative weights, the ``k = min(min_samples, 32)`` nearest
    points settle almost every point: either their weights within eps
    already reach ``min_samples``, or fewer than k points lie within eps and
    those are the whole neighbourhood. The rest, and all points when some
    weight is negative, are counted pair by pair.
    Queries run in grid order, which keeps the tree walk cache-friendly.
    """
    tree = cKDTree(P, balanced_tree=False, compact_nodes=False)
    core = np.zeros(len(idx), dtype=bool)
    todo = np.ones(len(idx), dtype=bool)
    if len(idx) and W.min() >= 0:
        k = int(min(min_samples, 32, len(P)))
        reach, eps2 = eps * (1 + 1e-9), eps * eps
        for sl in _batches(np.ones(len(idx)), _BATCH // k):
            q = idx[sl]
            d, j = tree.query(P[q], k=k, distance_upper_bound=reach, workers=-1)
            d, j = d.reshape(len(q), k), j.reshape(len(q), k)
            found = j < len(P)
            jj = np.where(found, j, 0)
            # The tree's distances decide, except within rounding of eps.
            shell = np.flatnonzero(found & (d >= eps * (1 - 1e-9)))
            rq, cq = np.divmod(shell, k)
            found[rq, cq] = _rdist(P[q[rq]], P[jj[rq, cq]]) <= eps2
            weight = np.where(found, W[jj], 0.0).sum(axis=1)
            core[sl] = weight >= min_samples
            todo[sl] = ~core[sl] & found[:, -1]
    rest = np.flatnonzero(todo)
    core[rest] = _exact_weights(tree, P, W, idx[rest], eps) >= min_samples
    return core


class _CoreIndex:
    """Nearest core point of a given grid cell, by a k-d tree over (x, y, cell * gap)."""

    def __init__(self, C, ccell, eps):
        self.C = C
        self.gap = 4.0 * eps
        self.tree = cKDTree(np.column_stack([C, ccell * self.gap]), balanced_tree=False,
                            compact_nodes=False)
        self.reach = eps * (1 + 1e-9)
        self.eps2 = eps * eps

    def within(self, pts, cells):
        """For each point, the index of its nearest core point in ``cells`` if within eps, else -1."""
        out = np.full(len(pts), -1, dtype=np.intp)
        for sl in _batches(np.ones(len(pts))):
            q = np.column_stack([pts[sl], cells[sl] * self.gap])
            _, j = self.tree.query(q, k=1, distance_upper_bound=self.reach, workers=-1)
            hit = j < len(self.C)
            hit[hit] = _rdist(pts[sl][hit], self.C[j[hit]]) <= self.eps2
            out[sl] = np.where(hit, j, -1)
        return out


def _box_distances(p, lo, hi):
    """Smallest and largest squared distance from points ``p`` to boxes ``[lo, hi]``."""
    gap = np.maximum(0.0, np.maximum(lo - p, p - hi))
    far = np.maximum(np.abs(p - lo), np.abs(hi - p))
    return (gap * gap).sum(axis=1), (far * far).sum(axis=1)


def _components(n, a, b):
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _dbscan(X, eps, min_samples, w):
    """Labels and core mask equal to ``sklearn.cluster.DBSCAN(...).fit(X, sample_weight=w)``."""
    n = len(X)
    # 1. Repeated coordinates (many incidents at one address) become one weighted point.
    #    They share their neighbourhood, so they share core status and label.
    # Sorting the (x, y) rows as complex numbers orders them by x, then y.
    order = np.argsort(np.ascontiguousarray(X).view(np.complex128).ravel())
    Xs = X[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (Xs[1:, 0] != Xs[:-1, 0]) | (Xs[1:, 1] != Xs[:-1, 1])
    starts = np.flatnonzero(new)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    first = np.minimum.reduceat(order, starts)          # first row of each unique point
    if w is None:
        W = np.diff(np.r_[starts, n]).astype(float)
    else:
        W = np.add.reduceat(w[order], starts)

    # 2. Grid; from here on, unique points are in cell order.
    g = _Grid(Xs[starts], eps)
    P, W, first = Xs[starts][g.perm], W[g.perm], first[g.perm]
    inverse = np.argsort(g.perm)[inverse]
    m, ncell = len(P), len(g.key)

    # 3. Core points. A cell holding min_samples of weight is all core (with
    #    non-negative weights); a point whose 25 surrounding cells hold less
    #    positive weight than min_samples cannot be core; the rest are counted.
    cell_pos = np.add.reduceat(np.maximum(W, 0), g.start)
    dense = cell_pos >= min_samples if (W >= 0).all() else np.zeros(ncell, dtype=bool)
    bound = np.zeros(ncell)
    cells = np.arange(ncell)
    for ox, oy in BLOCK:
        nb = g.neighbour(cells, ox, oy)
        bound += np.where(nb >= 0, cell_pos[nb], 0.0)
    core = dense[g.cell]
    unsure = np.flatnonzero(~dense[g.cell] & (bound[g.cell] >= min_samples))
    core[unsure] = _decide_core(P, W, unsure, eps, min_samples)

    labels = np.full(m, -1, dtype=np.intp)
    C_idx = np.flatnonzero(core)
    if len(C_idx):
        # 4. Clusters: connected components of core points. Core points of one
        #    cell are linked; two cells are linked when their closest pair of
        #    core points is within eps. Offsets are tried nearest first, and a
        #    pair of cells already in one component is not tested again.
        C = P[C_idx]
        ckeys_of = g.cell[C_idx]
        cstart = np.flatnonzero(np.r_[True, ckeys_of[1:] != ckeys_of[:-1]])
        ccount = np.diff(np.r_[cstart, len(C_idx)])
        ccells = ckeys_of[cstart]                      # grid cell of each core cell
        k = len(ccells)
        cell_core = np.full(ncell, -1, dtype=np.intp)
        cell_core[ccells] = np.arange(k)
        crank = np.repeat(np.arange(k), ccount)        # core cell of each core point
        lo = np.column_stack([np.minimum.reduceat(C[:, d], cstart) for d in (0, 1)])
        hi = np.column_stack([np.maximum.reduceat(C[:, d], cstart) for d in (0, 1)])
        index = _CoreIndex(C, crank, eps)
        eps2 = eps * eps
        ea, eb = [np.empty(0, np.intp)], [np.empty(0, np.intp)]
        comp = np.arange(k)
        extremes = {}

        def extreme(dx, dy):
            """Each core cell's core point farthest in direction (dx, dy)."""
            if (dx, dy) not in extremes:
                proj = C[:, 0] * dx + C[:, 1] * dy
                top = np.flatnonzero(proj == np.maximum.reduceat(proj, cstart)[crank])
                extremes[dx, dy] = top[np.r_[True, crank[top][1:] != crank[top][:-1]]]
            return extremes[dx, dy]

        for ox, oy in HALF:
            b = g.neighbour(ccells, ox, oy)
            a = np.flatnonzero(b >= 0)
            b = cell_core[b[a]]
            a, b = a[b >= 0], b[b >= 0]
            a, b = a[comp[a] != comp[b]], b[comp[a] != comp[b]]
            # Bounding boxes of the core points: too far apart, or surely close.
            gap = np.maximum(0, np.maximum(lo[b] - hi[a], lo[a] - hi[b]))
            far = np.maximum(np.abs(hi[b] - lo[a]), np.abs(hi[a] - lo[b]))
            near = (far * far).sum(1) <= eps2 * (1 - 1e-9)
            maybe = ~near & ((gap * gap).sum(1) <= eps2 * (1 + 1e-9))
            ea.append(a[near])
            eb.append(b[near])
            a, b = a[maybe], b[maybe]
            if len(a) >= _PROBE_PAIRS:
                # Most neighbouring cells of one hot spot are linked through
                # their points nearest each other: try those first.
                linked = index.within(C[extreme(ox, oy)[a]], b) >= 0
                linked[~linked] = index.within(C[extreme(-ox, -oy)[b[~linked]]], a[~linked]) >= 0
                ea.append(a[linked])
                eb.append(b[linked])
                a, b = a[~linked], b[~linked]
            # Query the smaller cell's points against the larger cell.
            swap = ccount[a] > ccount[b]
            src, dst = np.where(swap, b, a), np.where(swap, a, b)
            linked = np.zeros(len(a), dtype=bool)
            for sl in _batches(ccount[src]):
                q, grp = _expand(cstart[src[sl]], ccount[src[sl]])
                hit = index.within(C[q], dst[sl][grp]) >= 0
                linked[sl] = np.bincount(grp, weights=hit, minlength=sl.stop - sl.start) > 0
            ea.append(a[linked])
            eb.append(b[linked])
            comp = _components(k, np.concatenate(ea), np.concatenate(eb))

        # sklearn numbers clusters in the order of their first core point (by row).
        first_row = np.full(comp.max() + 1, n, dtype=np.intp)
        np.minimum.at(first_row, comp[crank], first[C_idx])
        number = np.empty_like(first_row)
        number[np.argsort(first_row, kind="stable")] = np.arange(len(first_row))
        cell_label = number[comp]
        labels[C_idx] = cell_label[crank]

        # 5. Border points: the lowest-numbered cluster with a core point within
        #    eps (sklearn's expansion reaches them from that cluster first).
        other = np.flatnonzero(~core)
        border = np.full(m, np.iinfo(np.intp).max, dtype=np.intp)
        for sl in _batches(np.ones(len(other)), _BATCH // 8):
            pts = other[sl]
            cand_p, cand_c = [], []
            for ox, oy in BLOCK:
                nb = g.neighbour(g.cell[pts], ox, oy)
                cc = np.where(nb >= 0, cell_core[nb], -1)
                cand_p.append(pts[cc >= 0])
                cand_c.append(cc[cc >= 0])
            cand_p, cand_c = np.concatenate(cand_p), np.concatenate(cand_c)
            # The bounding box of a cell's core points settles most pairs.
            dmin, dmax = _box_distances(P[cand_p], lo[cand_c], hi[cand_c])
            hit = dmax <= eps2 * (1 - 1e-9)
            ask = np.flatnonzero(~hit & (dmin <= eps2 * (1 + 1e-9)))
            hit[ask] = index.within(P[cand_p[ask]], cand_c[ask]) >= 0
            np.minimum.at(border, cand_p[hit], cell_label[cand_c[hit]])
        found = border < np.iinfo(np.intp).max
        labels[found] = border[found]

    return labels[inverse], core[inverse]


# --------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------

class DBSCANSpots:
    """DBSCAN on projected coordinates, identical to scikit-learn, in bounded memory.

    A point is *core* when the total weight of the points within ``eps_m``
    of it (itself included) is at least ``min_samples``. Core points within
    ``eps_m`` of each other belong to one cluster; a non-core point within
    ``eps_m`` of a core point is a *border* point of that cluster; the rest
    is noise (label -1).

    Parameters
    ----------
    eps_m : float, default=250.0
        Neighbourhood radius in metres (> 0).
    min_samples : int, default=20
        Weight of the neighbourhood that makes a point core (>= 1). With no
        weights this is the number of incidents within ``eps_m``.
    weights : array-like of shape (n_samples,), optional
        Weight of each point (for example the number of incidents a row
        stands for), used when :meth:`fit` gets no ``sample_weight``.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, numbered from 0; -1 is noise.
    core_sample_indices_ : ndarray of shape (n_core_samples,)
        Rows of the core points.
    components_ : ndarray of shape (n_core_samples, 2)
        Coordinates of the core points.
    n_clusters_ : int
        Number of clusters.

    See Also
    --------
    sklearn.cluster.DBSCAN : the reference; same labels, but it stores every
        neighbourhood, which takes GiBs on dense city-wide data.
    find_spots : clusters of a GeoDataFrame of incidents, as polygons.

    Notes
    -----
    ``labels_`` equal those of ``sklearn.cluster.DBSCAN(eps=eps_m,
    min_samples=min_samples).fit(X, sample_weight=w)`` with
    ``algorithm="kd_tree"`` or ``"ball_tree"`` (``"auto"`` picks the k-d tree
    for 2-D data of more than a dozen points), numbering included: clusters
    are numbered in the order of their first core point by row, and a
    border point within reach of several clusters goes to the
    lowest-numbered one, as sklearn's expansion does.
    Distances are compared as ``dx*dx + dy*dy <= eps**2``, which is how
    sklearn's k-d and ball trees compare them at their leaves. Two
    exceptions can only arise at the limit of floating point: a pair at
    distance eps to within one unit in the last place (sklearn may accept
    it through a node-level bound), and, with non-integer weights, a
    neighbourhood whose weight equals ``min_samples`` up to rounding of the
    sum (the summation order differs). Integer weights are summed exactly.

    The algorithm (Gunawan 2013; de Berg, Gunawan & Roeloffzen 2017)
    collapses repeated coordinates into weighted points and sorts them into
    grid cells of side eps/sqrt(2). Every cell holding ``min_samples`` of
    weight is core; a point whose 5 x 5 block of cells holds less is not;
    the others are settled by their ``min_samples`` nearest neighbours in a
    k-d tree (pair by pair where that is not enough). Cells whose closest
    pair of core points is within eps are linked (nearest-neighbour queries,
    skipped when the cells are already connected), and each border point
    gets the lowest cluster number within eps. Work is done in batches, so
    memory is linear in the number of points.

    References
    ----------
    .. [1] Ester, M., Kriegel, H.-P., Sander, J. and Xu, X. (1996). A
       density-based algorithm for discovering clusters in large spatial
       databases with noise. Proceedings of KDD-96, 226-231.
    .. [2] Gunawan, A. (2013). A faster algorithm for DBSCAN. Master's
       thesis, Technische Universiteit Eindhoven.
    .. [3] de Berg, M., Gunawan, A. and Roeloffzen, M. (2017). Faster DB-scan
       and HDB-scan in low-dimensional Euclidean spaces. ISAAC 2017, 25:1-25:13.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [10, 0], [20, 0], [500, 0], [510, 0], [2000, 0]])
    >>> DBSCANSpots(eps_m=15, min_samples=2).fit(X).labels_
    array([ 0,  0,  0,  1,  1, -1])
    """

    def __init__(self, *, eps_m=250.0, min_samples=20, weights=None):
        self.eps_m = eps_m
        self.min_samples = min_samples
        self.weights = weights

    def fit(self, X, y=None, sample_weight=None):
        """Cluster the points ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
            Projected coordinates in metres (see
            :func:`clustering.projection.to_metric`).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each point; overrides nothing, so pass weights either
            here or to the constructor.

        Returns
        -------
        self : DBSCANSpots
        """
        eps = float(_check_param("eps_m", self.eps_m))
        min_samples = _check_param("min_samples", self.min_samples)
        X = _check_coordinates(X)
        n = len(X)
        if n == 0:
            raise InputError("`X` has no points; pass at least one (x, y) row.")
        if sample_weight is not None and self.weights is not None:
            raise InputError("Weights were given both as `weights` and as `sample_weight`; "
                             "pass one of them.")
        w = sample_weight if sample_weight is not None else self.weights
        name = "sample_weight" if sample_weight is not None else "weights"
        w = None if w is None else _check_weights(w, n, name)
        _check_enough(n if w is None else float(np.maximum(w, 0).sum()), n, min_samples, "X")
        labels, core = _dbscan(X, eps, min_samples, w)
        self.labels_ = labels
        self.core_sample_indices_ = np.flatnonzero(core)
        self.components_ = X[self.core_sample_indices_].copy()
        self.n_clusters_ = int(labels.max()) + 1
        self.n_features_in_ = 2
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Cluster ``X`` and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_


# --------------------------------------------------------------------------------------------
# Automatic parameters and compact spots
# --------------------------------------------------------------------------------------------

def k_distances(X, k):
    """Distance of each point to its ``k``-th nearest point, itself counted (scikit-learn's
    ``min_samples`` convention), sorted ascending: the k-distance curve of Ester et al. (1996)."""
    X = _check_coordinates(X)
    k = int(min(max(k, 1), len(X)))
    d, _ = cKDTree(X).query(X, k=k, workers=-1)
    return np.sort(d.reshape(len(X), k)[:, -1])


def knee_eps(X, k):
    """The knee of the k-distance curve, in metres: the Kneedle knee (Satopää et al. 2011), the point
    of the curve, scaled to [0, 1] on both axes, farthest below its chord; None for a flat curve.

    Written out because ``kneed.KneeLocator`` returns the first of the curve's local knees that passes
    its threshold, which on incident data is the far tail (10.9 km on the demo store) rather than
    the most prominent knee (1.8 km there; 300 m on a year of Vancouver's police records).
    """
    kd = k_distances(X, k)
    if len(kd) < 3 or kd[-1] <= kd[0]:
        return None
    x = np.linspace(0.0, 1.0, len(kd))
    return float(kd[int(np.argmax(x - (kd - kd[0]) / (kd[-1] - kd[0])))])


def auto_parameters(X, *, months, max_eps_m=MAX_EPS_M):
    """DBSCAN's ``min_samples`` and ``eps_m`` chosen from the data.

    ``min_samples``: :data:`PER_MONTH` incidents a month of the period (``months``) within the
    radius, and at least :data:`BACKGROUND` times what an even spread of the incidents over the
    occupied 250 m cells would put within ``max_eps_m``; bounded by :data:`MIN_SAMPLES_BOUNDS`.
    ``eps_m``: the knee of the k-distance curve with k = ``min_samples`` (:func:`knee_eps`), kept
    within [:data:`MIN_EPS_M`, ``max_eps_m``]. Returns ``{"eps_m", "min_samples", "knee_m"}``.
    """
    X = _check_coordinates(X)
    months = float(months)
    if not np.isfinite(months) or months <= 0:
        raise InputError(f"`months` was {months!r} but must be a number > 0 (the period's length).")
    cells = len(np.unique(np.floor(X / OCCUPIED_CELL_M), axis=0))
    per_m2 = len(X) / max(cells * OCCUPIED_CELL_M ** 2, 1.0)
    background = BACKGROUND * per_m2 * np.pi * max_eps_m ** 2
    lo, hi = MIN_SAMPLES_BOUNDS
    min_samples = int(np.clip(np.ceil(max(PER_MONTH * months, background)), lo, hi))
    knee = knee_eps(X, min_samples)
    eps = float(np.clip(max_eps_m if knee is None else knee, MIN_EPS_M, max(max_eps_m, MIN_EPS_M)))
    return {"eps_m": eps, "min_samples": min_samples, "knee_m": knee}


def spans(X, labels):
    """Span of each cluster ``0..k-1``: the largest distance between two of its points, in metres."""
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    out = np.zeros(k)
    for c in range(k):
        hull = shapely.convex_hull(shapely.multipoints(X[labels == c]))
        V = shapely.get_coordinates(hull)
        if len(V) > 1:
            out[c] = np.sqrt(((V[:, None, :] - V[None, :, :]) ** 2).sum(axis=-1)).max()
    return out


def split_wide(X, labels, *, eps_m, min_samples, max_span_m, weights=None):
    """Clusters wider than ``max_span_m`` re-clustered inside with half the radius, and each part
    still too wide again, down to :data:`MIN_EPS_M`; points of a split cluster that no part keeps
    become noise, and a cluster with no dense part inside stays whole.

    Returns ``(labels, wide, split)``: the new labels (clusters in the order of the old ones, the
    parts of one in its place), whether each new cluster is still wider than ``max_span_m``, and
    how many clusters were split.
    """
    X = _check_coordinates(X)
    labels = np.asarray(labels)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)

    def parts(rows, eps):
        if spans(X[rows], np.zeros(len(rows), dtype=np.intp))[0] <= max_span_m:
            return [(rows, False)]
        eps = eps / 2
        if eps < MIN_EPS_M or np.maximum(w[rows], 0).sum() < min_samples:
            return [(rows, True)]
        sub = DBSCANSpots(eps_m=eps, min_samples=min_samples).fit(
            X[rows], sample_weight=None if weights is None else w[rows]).labels_
        if sub.max() < 0:
            return [(rows, True)]
        return [p for j in range(sub.max() + 1) for p in parts(rows[sub == j], eps)]

    new = np.full(len(X), -1, dtype=np.intp)
    wide, split = [], 0
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        pieces = parts(np.flatnonzero(labels == c), float(eps_m))
        split += len(pieces) > 1 or not np.array_equal(pieces[0][0], np.flatnonzero(labels == c))
        for rows, too_wide in pieces:
            new[rows] = len(wide)
            wide.append(too_wide)
    return new, np.array(wide, dtype=bool), int(split)


# --------------------------------------------------------------------------------------------
# GeoDataFrame level
# --------------------------------------------------------------------------------------------

SPOT_COLUMNS = ["spot_id", "count", "weight", "categories", "first_date", "last_date",
                "ward_codes", "area_m2", "span_m", "wide", "geometry"]


def _point_coordinates(points):
    X, crs = metric_points(points)
    return _check_coordinates(X, "points", index=points.index), crs


def _resolve_weights(points, weights):
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in points.columns:
            raise InputError(f"`weights` was {weights!r} but `points` has no such column; "
                             f"columns are {list(points.columns)}.")
        values = pd.to_numeric(points[weights], errors="coerce").to_numpy(dtype=float)
        return _check_weights(values, len(points), f"points[{weights!r}]")
    return _check_weights(weights, len(points), "weights")


def _hdbscan(X, min_samples, w):
    from sklearn.cluster import HDBSCAN

    if w is not None:
        if (w < 0).any() or (w != np.round(w)).any():
            raise InputError("method='hdbscan' takes whole, non-negative `weights` (each row is "
                             "repeated that many times); round them or use method='dbscan'.")
        reps = w.astype(np.intp)
        rows = np.repeat(np.arange(len(X)), reps)
        if len(rows) < 2:
            raise InputError("method='hdbscan' needs at least 2 incidents of positive weight.")
        lab = HDBSCAN(min_cluster_size=max(min_samples, 2), copy=True).fit(X[rows]).labels_
        labels = np.full(len(X), -1, dtype=np.intp)
        # Rows of weight 0 are left as noise; a repeated row takes its first copy's label.
        first = np.cumsum(reps) - reps
        labels[reps > 0] = lab[first[reps > 0]]
        return labels
    if len(X) < 2:
        raise InputError("method='hdbscan' needs at least 2 points.")
    return HDBSCAN(min_cluster_size=max(min_samples, 2), copy=True).fit(X).labels_


def _dominant(spot, categories, weights, top=3):
    """The ``top`` categories of each spot by weight, as "code:weight, code:weight"."""
    frame = pd.DataFrame({"spot": spot, "category": categories, "w": weights}).dropna()
    frame["category"] = frame["category"].astype(str)
    sums = frame.groupby(["spot", "category"], as_index=False)["w"].sum()
    sums = sums[sums["w"] > 0].sort_values(["spot", "w", "category"],
                                           ascending=[True, False, True], kind="stable")
    sums = sums.groupby("spot").head(top)
    amount = sums["w"].map(lambda v: f"{v:.0f}" if v == round(v) else f"{v:.2f}")
    return (sums["category"] + ":" + amount).groupby(sums["spot"]).agg(", ".join)


def _date_column(points):
    for col in ("occurred_at", "local_date"):
        if col in points.columns:
            return col
    return None


def _outlines(xy, labels, k, eps, hull):
    """One buffered hull per cluster ``0..k-1`` of the points ``xy``."""
    rows = np.unique(np.column_stack([labels, xy]), axis=0)     # distinct points per cluster
    groups = shapely.multipoints(rows[:, 1:], indices=rows[:, 0].astype(np.intp))
    if hull == "concave":
        shapes = shapely.concave_hull(groups, ratio=CONCAVE_RATIO)
    else:
        shapes = shapely.convex_hull(groups)
    return shapely.buffer(shapes, eps / 2.0)


def _describe(points, X, labels, wt, eps, hull, crs):
    """The spots table (without ``ward_codes`` and ``area_m2``), in the metric CRS."""
    inside = labels >= 0
    k = int(labels.max()) + 1 if inside.any() else 0
    lab = labels[inside]
    table = pd.DataFrame({"spot_id": np.arange(1, k + 1),
                          "count": np.bincount(lab, minlength=k),
                          "weight": np.bincount(lab, weights=wt[inside], minlength=k),
                          "categories": "", "first_date": "", "last_date": ""})
    if k and "category" in points.columns:
        text = _dominant(lab, points["category"].to_numpy()[inside], wt[inside])
        table.loc[text.index, "categories"] = text.to_numpy()
    date_col = _date_column(points)
    if k and date_col is not None:
        dates = pd.Series(pd.to_datetime(points[date_col], errors="coerce").to_numpy()[inside])
        span = dates.groupby(lab).agg(["min", "max"]).dropna()
        for end, column in (("min", "first_date"), ("max", "last_date")):
            table.loc[span.index, column] = [pd.Timestamp(t).date().isoformat() for t in span[end]]
    geometry = _outlines(X[inside], lab, k, eps, hull) if k else []
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)


def find_spots(points, *, eps_m=None, min_samples=None, weights=None, method="dbscan",
               wards=None, hull="concave", months=None, max_span_m=None):
    """Hot spots of incidents: cluster labels and one polygon per spot.

    Parameters
    ----------
    points : GeoDataFrame
        Incidents as Point geometries with a CRS (any; they are projected to
        the UTM zone of their extent). Optional columns used: ``category``,
        ``occurred_at`` or ``local_date``.
    eps_m : float, optional
        DBSCAN neighbourhood radius in metres (> 0); also sets the polygon
        buffer (``eps_m / 2``) for both methods. None: automatic, the knee
        of the k-distance curve capped at 100 m (:func:`auto_parameters`).
    min_samples : int, optional
        Incidents (weight) within ``eps_m`` that make a core point for
        DBSCAN; the minimum cluster size for HDBSCAN. None: automatic, from
        the period's ``months`` and the incidents' density.
    weights : str or array-like, optional
        Column name or one weight per row (incidents a row stands for).
    method : {"dbscan", "hdbscan"}, default="dbscan"
        :class:`DBSCANSpots`, or ``sklearn.cluster.HDBSCAN(min_cluster_size=
        min_samples)`` (whole weights repeat rows). HDBSCAN finds spots of
        varying density without ``eps_m`` but its time and memory grow fast:
        use it for up to some tens of thousands of incidents.
    wards : GeoDataFrame, optional
        Ward polygons with a ``code`` column and a CRS; fills ``ward_codes``.
    hull : {"concave", "buffer"}, default="concave"
        Spot outline: concave hull (``shapely.concave_hull``, ratio 0.3) of
        the spot's incidents, or their convex hull; buffered by ``eps_m / 2``.
    months : float, optional
        Length of the period in months, for the automatic ``min_samples``;
        None: the span of the date column (at least one month), else 1.
    max_span_m : float, optional
        A DBSCAN spot wider than this is split (:func:`split_wide`); an
        HDBSCAN spot, or one with no dense part inside, is flagged ``wide``.

    Returns
    -------
    labels : Series
        Cluster of each row of ``points`` (same index), named ``cluster``;
        -1 is noise, otherwise ``spot_id - 1``.
    spots : GeoDataFrame
        One row per spot in EPSG:4326 with ``spot_id`` (from 1), ``count``
        (rows), ``weight`` (sum of weights, = count without weights),
        ``categories`` (the three largest ``category`` values with their
        weight, "trom_cap_tai_san:120, cuop_giat_tai_san:40"), ``first_date``
        and ``last_date`` (ISO dates), ``ward_codes`` (comma-separated codes
        of every ward the polygon touches: a spot across a ward border is one
        spot in several wards), ``area_m2``, ``span_m`` (the largest distance
        between two of its incidents), ``wide`` (still wider than
        ``max_span_m``) and the polygon. Columns without a source column are
        empty strings. ``spots.attrs`` holds the ``eps_m`` and ``min_samples``
        used, ``knee_m`` (automatic eps before its cap, else None), ``split``
        (spots split) and ``wide`` (spots still too wide).

    Raises
    ------
    InputError
        Bad parameters, points without coordinates or CRS, fewer incidents
        than ``min_samples``.

    References
    ----------
    .. [1] Ester, M., Kriegel, H.-P., Sander, J. and Xu, X. (1996). A
       density-based algorithm for discovering clusters in large spatial
       databases with noise. Proceedings of KDD-96, 226-231.
    .. [2] Campello, R. J. G. B., Moulavi, D. and Sander, J. (2013).
       Density-based clustering based on hierarchical density estimates.
       PAKDD 2013, LNCS 7819, 160-172.
    .. [3] Park, J.-S. and Oh, S.-J. (2012). A new concave hull algorithm and
       concaveness measure for n-dimensional datasets. Journal of
       Information Science and Engineering 28, 587-600.

    Examples
    --------
    >>> import geopandas as gpd
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(
    ...     [106.70, 106.7001, 106.7002, 106.80], [10.78, 10.78, 10.7801, 10.80]), crs="EPSG:4326")
    >>> labels, spots = find_spots(pts, eps_m=50, min_samples=3)
    >>> labels.tolist(), spots["count"].tolist()
    ([0, 0, 0, -1], [3])
    """
    if eps_m is not None:
        _check_param("eps_m", eps_m)
    if min_samples is not None:
        _check_param("min_samples", min_samples)
    if max_span_m is not None and not (isinstance(max_span_m, numbers.Real) and max_span_m > 0):
        raise InputError(f"`max_span_m` was {max_span_m!r} but must be a number > 0 (metres).")
    if method not in METHODS:
        raise InputError(f"`method` was {method!r} but is expected to be in {list(METHODS)}.")
    if hull not in HULLS:
        raise InputError(f"`hull` was {hull!r} but is expected to be in {list(HULLS)}.")
    if wards is not None:
        if not isinstance(wards, gpd.GeoDataFrame) or "code" not in wards.columns:
            raise InputError("`wards` must be a GeoDataFrame of ward polygons with a `code` column.")
        if wards.crs is None:
            raise InputError("`wards` has no CRS; call `.set_crs(...)` first.")
    X, crs = _point_coordinates(points)
    w = _resolve_weights(points, weights)
    n = len(X)
    knee = None
    if eps_m is None or min_samples is None:
        auto = auto_parameters(X, months=_months(points) if months is None else months)
        knee = auto["knee_m"] if eps_m is None else None
        eps_m = auto["eps_m"] if eps_m is None else eps_m
        min_samples = auto["min_samples"] if min_samples is None else min_samples
    eps = float(eps_m)
    _check_enough(n if w is None else float(np.maximum(w, 0).sum()), n, min_samples, "points")

    if method == "dbscan":
        labels = DBSCANSpots(eps_m=eps, min_samples=min_samples).fit(X, sample_weight=w).labels_
    else:
        labels = _hdbscan(X, min_samples, w)
    split = 0
    if max_span_m is not None and method == "dbscan":
        labels, wide, split = split_wide(X, labels, eps_m=eps, min_samples=min_samples,
                                         max_span_m=float(max_span_m), weights=w)
    else:
        wide = spans(X, labels) > (np.inf if max_span_m is None else max_span_m)
    labels_s = pd.Series(labels, index=points.index, name="cluster")

    wt = np.ones(n) if w is None else w
    spots = _describe(points, X, labels, wt, eps, hull, crs)
    spots["area_m2"] = spots.area
    spots["span_m"] = spans(X, labels)
    spots["wide"] = wide
    spots["ward_codes"] = ""
    if wards is not None and len(spots):
        w_metric = wards[["code", wards.geometry.name]].to_crs(crs)
        hits = gpd.sjoin(spots[["spot_id", "geometry"]], w_metric, how="inner", predicate="intersects")
        codes = hits.groupby("spot_id")["code"].agg(lambda c: ",".join(sorted(map(str, set(c)))))
        spots["ward_codes"] = spots["spot_id"].map(codes).fillna("")
    spots = spots[SPOT_COLUMNS].to_crs(WGS84)
    spots.attrs.update(eps_m=eps, min_samples=int(min_samples), knee_m=knee, split=split, wide=int(wide.sum()))
    return labels_s, spots


def _months(points):
    """The months between the first and the last date of ``points`` (at least 1; 1 without dates)."""
    col = _date_column(points)
    if col is None:
        return 1.0
    dates = pd.to_datetime(points[col], errors="coerce").dropna()
    days = (dates.max() - dates.min()).days + 1 if len(dates) else 0
    return max(days / 30.4375, 1.0)
