"""Clusters and outliers with the local Moran's I (LISA), classified as ArcGIS does."""
from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd

from .getis_ord import (
    DEFAULT_SEED,
    PERMUTATIONS,
    _values,
    binary_neighbours,
    column_values,
    confidence_bins,
    fdr_qvalues,
    permutation_test,
)
from .getis_ord import _parameter_constraints as _gi_constraints
from .grid import aligned_graph, as_graph, validate_parameters, ward_weights

# Allowed parameter values, declared as data: name -> (test, what is allowed).
_parameter_constraints = {
    **{k: _gi_constraints[k] for k in ("seed", "fdr", "n_jobs")},
    "permutations": (lambda v: _gi_constraints["permutations"][0](v) and v > 0,
                     "an integer above 0 (999 by default)"),
    "alpha": (lambda v: isinstance(v, Real) and not isinstance(v, bool) and 0 < v < 1,
              "a number between 0 and 1 (0.05 by default)"),
}

#: Quadrants of the Moran scatterplot as esda numbers them (``Moran_Local.q``), with
#: ArcGIS's COType code and label (labels for people: ``geo.render.palette``).
QUADRANTS = pd.DataFrame(
    [(1, "HH", "High-High Cluster"),
     (2, "LH", "Low-High Outlier"),
     (3, "LL", "Low-Low Cluster"),
     (4, "HL", "High-Low Outlier"),
     (0, "not_significant", "Not Significant")],
    columns=["quadrant", "code", "label"])


class LocalMoran:
    """Local Moran's I with row-standardised weights, FDR and ArcGIS's cluster/outlier types.

    The fit runs when the object is built, with the formulas of ``esda.Moran_Local``
    (``transformation="r"``) and esda's conditional permutations, run by
    :func:`clustering.getis_ord.permutation_test` (see :class:`clustering.getis_ord.HotSpots`,
    Notes).

    Parameters
    ----------
    y : array-like, shape (n,)
        Values, e.g. incident counts per ward or grid cell.
    w : libpysal Graph or W
        Neighbours (binary; any weights are made binary), without self-weights; they are
        row-standardised.
    permutations : int, default 999
        Conditional permutations for the pseudo p-values.
    seed : int or None, default 12345
        Seed of the permutations.
    fdr : bool, default True
        Significant means ``p <= fdr_threshold(p, alpha)`` (Benjamini-Hochberg over all
        features) rather than ``p <= alpha``.
    alpha : float, default 0.05
        Significance level (ArcGIS's Cluster and Outlier Analysis uses 95 % confidence).
    n_jobs : int, default 1
        Threads for the permutations (-1: all cores). Results do not depend on it.

    Attributes
    ----------
    Is : ndarray
        Local Moran's I of each feature (Anselin 1995).
    EI, VI, Z : ndarray
        Expectation and variance of ``Is`` under total randomisation (Sokal et al. 1998),
        and the z-score ``(Is - EI) / sqrt(VI)``.
    z_sim : ndarray
        Z-score of ``Is`` against its permutation distribution.
    p_sim : ndarray
        esda's pseudo p-value.
    p : ndarray
        Pseudo p-value from the same permutations with ties counted in both tails, which
        the classification uses (see :func:`clustering.getis_ord.pseudo_p_value`).
    q : ndarray
        Benjamini-Hochberg q-value of ``p``.
    significant : ndarray of bool
    quadrant : ndarray of int
        Quadrant of the Moran scatterplot: 1 HH, 2 LH, 3 LL, 4 HL (esda's ``q``).
    codes, labels : ndarray of str
        ``"HH"``, ``"HL"``, ``"LH"``, ``"LL"`` or ``"not_significant"``, ArcGIS's label
        ("High-High Cluster", "High-Low Outlier", "Low-High Outlier", "Low-Low Cluster",
        "Not Significant").
    threshold : float
        P-value threshold used.

    References
    ----------
    Anselin, L. (1995). Local indicators of spatial association - LISA. *Geographical
    Analysis* 27(2), 93-115.
    Sokal, R. R., Oden, N. L., Thomson, B. A. (1998). Local spatial autocorrelation in a
    biological model. *Geographical Analysis* 30(4), 331-354.
    Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate. *Journal of
    the Royal Statistical Society B* 57(1), 289-300.

    Examples
    --------
    >>> from clustering.grid import make_grid, ward_weights
    >>> grid = make_grid((0, 0, 1000, 1000), cell_m=100, shape="square", crs="EPSG:32648")
    >>> y = (grid["col"] < 5).astype(float) * 10 + (grid["col"] == 7) * (grid["row"] == 5) * 10
    >>> lm = LocalMoran(y, ward_weights(grid), seed=1)
    >>> lm.codes[22], lm.codes[75], lm.codes[88]
    ('HH', 'HL', 'LL')
    """

    def __init__(self, y, w, *, permutations: int = PERMUTATIONS, seed: int | None = DEFAULT_SEED,
                 fdr: bool = True, alpha: float = 0.05, n_jobs: int = 1):
        validate_parameters(_parameter_constraints, permutations=permutations, seed=seed, fdr=fdr,
                            alpha=alpha, n_jobs=n_jobs)
        y = _values(y, "y")
        neighbours = binary_neighbours(as_graph(w, n=len(y)))
        n = len(y)
        k = np.diff(neighbours.indptr).astype(float)
        # esda.Moran_Local's formulas with transformation="r" on binary weights
        sd = y.std()
        z = (y - y.mean()) / sd
        with np.errstate(divide="ignore", invalid="ignore"):
            lag = np.where(k > 0, (neighbours @ z) / k, 0.0)
            wi2 = np.where(k > 0, 1.0 / k, 0.0)
        wi = (k > 0).astype(float)
        den = (z * z).sum()
        self.Is = (n - 1) * z * lag / den
        m2 = den / n
        b2 = (z ** 4).sum() / n / m2 ** 2
        self.EI = -wi / (n - 1)
        self.VI = (wi2 * (n - b2) / (n - 1) + (wi ** 2 - wi2) * (2 * b2 - n) / ((n - 1) * (n - 2))
                   - (-wi / (n - 1)) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.Z = (self.Is - self.EI) / np.sqrt(self.VI)
        # I_i = z_i * (n - 1) / den * (S / k - mean) / sd, S the sum of y over the neighbours
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(k > 0, z * (n - 1) / den / (k * sd), 0.0)
        sim = permutation_test(y, neighbours, scale, self.Is, permutations=permutations, seed=seed,
                               moments=True, n_jobs=n_jobs)
        self.y = y
        self.permutations, self.seed, self.fdr, self.alpha = permutations, seed, fdr, alpha
        self.z_sim, self.p_sim, self.p = sim.z_sim, sim.p_sim, sim.p_perm
        self.q = fdr_qvalues(self.p)
        bins, thresholds = confidence_bins(np.ones(n), self.p, alpha_levels=(alpha,), fdr=fdr)
        self.threshold = thresholds[alpha]
        self.significant = bins > 0
        # quadrants as esda numbers them: 1 HH, 2 LH, 3 LL, 4 HL
        self.quadrant = np.where(z > 0, np.where(lag > 0, 1, 4), np.where(lag > 0, 2, 3))
        table = QUADRANTS.set_index("quadrant")
        shown = np.where(self.significant, self.quadrant, 0)
        self.codes = table["code"].reindex(shown).to_numpy()
        self.labels = table["label"].reindex(shown).to_numpy()


def local_moran(values_gdf, column: str, *, w=None, permutations: int = PERMUTATIONS,
                seed: int | None = DEFAULT_SEED, fdr: bool = True, alpha: float = 0.05,
                n_jobs: int = 1):
    """Clusters (HH, LL) and outliers (HL, LH) of ``values_gdf[column]`` by local Moran's I.

    Parameters
    ----------
    values_gdf : GeoDataFrame
        Areas (wards or grid cells) with a numeric column.
    column : str
        Column to analyse, e.g. ``"count"``.
    w : libpysal Graph or W, optional
        Neighbours with ids equal to ``values_gdf.index``. Default:
        ``ward_weights(values_gdf)`` (queen contiguity, islands joined to their nearest area).
    permutations, seed, fdr, alpha, n_jobs
        As in :class:`LocalMoran`.

    Returns
    -------
    GeoDataFrame
        A copy of ``values_gdf`` with ``lisa_i`` (local Moran's I), ``lisa_z`` (its z-score
        under total randomisation), ``lisa_z_sim`` (z-score against the permutations),
        ``lisa_p`` (pseudo p-value used), ``lisa_p_sim`` (esda's), ``lisa_q`` (q-value),
        ``lisa_quadrant`` (1 HH, 2 LH, 3 LL, 4 HL, whether significant or not),
        ``lisa_code`` (``HH``, ``HL``, ``LH``, ``LL`` or ``not_significant``),
        and ``lisa_label`` (ArcGIS's label, e.g. "High-Low Outlier").
        ``attrs["local_moran"]`` records the settings and the threshold.

    References
    ----------
    Anselin, L. (1995). Local indicators of spatial association - LISA. *Geographical
    Analysis* 27(2), 93-115.
    Esri. How Cluster and Outlier Analysis (Anselin Local Moran's I) works. ArcGIS Pro
    tool reference.

    Examples
    --------
    >>> from clustering.grid import make_grid
    >>> grid = make_grid((0, 0, 1000, 1000), cell_m=100, shape="square", crs="EPSG:32648")
    >>> grid["count"] = (grid["col"] < 5) * 10
    >>> local_moran(grid, "count", seed=1)["lisa_label"].value_counts().to_dict()
    {'High-High Cluster': 38, 'Low-Low Cluster': 38, 'Not Significant': 24}
    """
    values = column_values(values_gdf, column)
    graph = ward_weights(values_gdf) if w is None else aligned_graph(w, values_gdf.index, "values_gdf")
    lm = LocalMoran(values.to_numpy(), graph, permutations=permutations, seed=seed, fdr=fdr,
                    alpha=alpha, n_jobs=n_jobs)
    out = values_gdf.copy()
    out["lisa_i"] = lm.Is
    out["lisa_z"] = lm.Z
    out["lisa_z_sim"] = lm.z_sim
    out["lisa_p"] = lm.p
    out["lisa_p_sim"] = lm.p_sim
    out["lisa_q"] = lm.q
    out["lisa_quadrant"] = lm.quadrant
    out["lisa_code"] = lm.codes
    out["lisa_label"] = lm.labels
    out.attrs["local_moran"] = {"column": column, "permutations": permutations, "seed": seed,
                                "fdr": fdr, "alpha": alpha, "threshold": lm.threshold}
    return out
