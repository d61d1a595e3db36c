"""One palette and one classification for the map on screen, its PNG and its PDF.

:mod:`geo.render.maps` (Folium, on screen), :mod:`geo.render.layers` (what each page shows) and
:mod:`geo.render.exports` (PNG and PDF) take their category colours, their colour ramps and their
class limits from here, so a legend reads the same wherever it is drawn.
"""
from __future__ import annotations

import warnings

import mapclassify
import numpy as np
from branca.utilities import color_brewer

from geo.errors import InputError

# --------------------------------------------------------------------------- colours

#: ColorBrewer ramps offered for choropleths; all four are colour-blind safe. RdBu is
#: diverging and is drawn blue (low) to red (high).
PALETTES = ("YlOrRd", "Blues", "PuRd", "RdBu")
ZERO_COLOUR = "#ffffff"
NO_DATA_COLOUR = "#bdbdbd"

#: Hot and cold spots (Gi*) in ArcGIS's colours, by the codes of
#: ``clustering.getis_ord.category_table``, hottest first (the legend order).
GI_COLOURS = {"hot_99": "#d62f27", "hot_95": "#ed7551", "hot_90": "#fab984",
              "not_significant": "#f7f7f7",
              "cold_90": "#b5c6df", "cold_95": "#7599c9", "cold_99": "#4575b5"}
#: Local Moran clusters and outliers (``clustering.lisa.QUADRANTS``).
LISA_COLOURS = {"HH": "#d62f27", "HL": "#f4a582", "LH": "#92c5de", "LL": "#4575b5",
                "not_significant": "#f7f7f7"}
#: Significant change between two periods (``clustering.compare.CHANGE_LABELS``), in the
#: legend order of the change page.
CHANGE_COLOURS = {"significant_increase": "#d6604d", "no_significant_change": "#f7f7f7",
                  "significant_decrease": "#4393c3"}
#: Emerging hot spot patterns (``clustering.emerging.PATTERNS``): hot ones in reds, cold
#: ones in blues, each pattern its own colour (ArcGIS tells some apart by hatching).
EMERGING_COLOURS = {
    "new_hot": "#fee0d2", "consecutive_hot": "#fcbba1", "intensifying_hot": "#a50f15",
    "persistent_hot": "#de2d26", "diminishing_hot": "#fc9272", "sporadic_hot": "#fb6a4a",
    "oscillating_hot": "#ef3b2c", "historical_hot": "#fdd0a2", "no_pattern": "#f7f7f7",
    "new_cold": "#deebf7", "consecutive_cold": "#c6dbef", "intensifying_cold": "#08519c",
    "persistent_cold": "#3182bd", "diminishing_cold": "#9ecae1", "sporadic_cold": "#6baed6",
    "oscillating_cold": "#4292c6", "historical_cold": "#bcbddc",
}
#: All category colours by code (the code sets share only ``not_significant``, the same grey).
COLOURS = {**EMERGING_COLOURS, **CHANGE_COLOURS, **LISA_COLOURS, **GI_COLOURS}


def ramp(palette: str, k: int) -> list[str]:
    """``k`` ColorBrewer colours of ``palette``, light to dark (RdBu: blue to red).

    >>> ramp("YlOrRd", 3)
    ['#ffeda0', '#feb24c', '#f03b20']
    """
    if palette not in PALETTES:
        raise InputError(f"`palette` was {palette!r} but must be one of {', '.join(PALETTES)}.")
    if not 1 <= k <= 9:
        raise InputError(f"`k` was {k} but ColorBrewer ramps have 1 to 9 classes here.")
    if k < 3:
        base = color_brewer(palette, 3)
        colours = [base[1]] if k == 1 else [base[0], base[2]]
    else:
        colours = list(color_brewer(palette, k))
    return colours[::-1] if palette == "RdBu" else colours


# --------------------------------------------------------------------------- classes

#: Classification schemes → mapclassify class. The screen offers the first two.
SCHEMES = {
    "natural_breaks": mapclassify.FisherJenks,   # Jenks natural breaks, exact and deterministic
    "quantiles": mapclassify.Quantiles,
    "fisher_jenks": mapclassify.FisherJenks,
    "equal_interval": mapclassify.EqualInterval,
}
#: Schemes whose choropleths give zero its own white class (see :func:`zero_class`).
ZERO_CLASS_SCHEMES = ("natural_breaks", "quantiles", "fisher_jenks")
#: Above this many values, Jenks breaks are computed on that many evenly spaced order
#: statistics (mapclassify.FisherJenks is quadratic: 5 s for 2,000 values without numba).
NATURAL_BREAKS_SAMPLE = 400


def class_bins(y, scheme: str = "natural_breaks", k: int = 5) -> np.ndarray:
    """Upper class limits of the finite values ``y`` (mapclassify's ``bins``).

    ``k`` is lowered to the number of distinct values. Natural breaks (mapclassify.FisherJenks,
    not the randomised NaturalBreaks) of more than :data:`NATURAL_BREAKS_SAMPLE` values come
    from that many evenly spaced order statistics, the last limit being the largest value:
    the same data always give the same classes.
    """
    y = np.asarray(y, dtype=float)
    if y.size == 0:
        return np.array([], dtype=float)
    cls = SCHEMES[scheme]
    k = min(int(k), np.unique(y).size)
    if k == 1:
        return np.array([float(y.max())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # "Numba not installed", k lowered, merged ties
        if cls is not mapclassify.FisherJenks or y.size <= NATURAL_BREAKS_SAMPLE:
            bins = np.asarray(cls(y, k=k).bins, dtype=float)
        else:
            ys = np.sort(y)
            sample = ys[np.linspace(0, ys.size - 1, NATURAL_BREAKS_SAMPLE).round().astype(int)]
            bins = np.asarray(cls(sample, k=min(k, np.unique(sample).size)).bins, dtype=float)
    bins[-1] = max(bins[-1], float(y.max()))
    return bins


def zero_class(values, scheme: str = "natural_breaks") -> np.ndarray:
    """Which of ``values`` (floats, NaN missing) go into the white zero class of a choropleth.

    Zeros of a column with no negative value (counts, rates) are drawn white and kept out of
    the classification, on screen and on paper alike. Equal intervals keep zero in the first
    step, so the steps stay equal from the smallest value.
    """
    values = np.asarray(values, dtype=float)
    present = values[np.isfinite(values)]
    if scheme not in ZERO_CLASS_SCHEMES or not present.size or (present < 0).any():
        return np.zeros(values.shape, dtype=bool)
    return values == 0
