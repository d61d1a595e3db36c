"""One palette and one classification for the map on screen, its PNG and its PDF.

:mod:`geo.render.maps` (Folium, on screen), :mod:`geo.render.layers` (what each page shows) and
:mod:`geo.render.exports` (PNG and PDF) take their category colours, their class labels, their
colour ramps and their class limits from here, so a legend reads the same wherever it is drawn.

The statistics (``clustering``) return codes; :data:`CLASSES` gives each code its label (an
English msgid, translated at display) and its colour:

>>> classes("change", locale="vi")[0]
('significant_increase', 'Tăng rõ rệt', '#d6604d')
>>> label("hot_99", locale="vi"), label("hot_99", locale="en"), label("HL", locale="vi")
('Điểm nóng (độ tin cậy 99%)', 'Hot Spot - 99% Confidence', 'Ngoại lai cao – thấp')
"""
from __future__ import annotations

import warnings

import mapclassify
import numpy as np
import pandas as pd
from branca.utilities import color_brewer

from geo.errors import InputError
from geo.format import N_, gettext

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
#: Significant change between two periods (``clustering.compare.CHANGE_CLASSES``), in the
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

NOT_SIGNIFICANT = N_("Not Significant")
#: The label (catalogue msgid, ArcGIS's wording where ArcGIS names the class) of every class
#: code of the statistics, by family, in legend order. Colours are those above.
LABELS = {
    "gi": {"hot_99": N_("Hot Spot - 99% Confidence"), "hot_95": N_("Hot Spot - 95% Confidence"),
           "hot_90": N_("Hot Spot - 90% Confidence"), "not_significant": NOT_SIGNIFICANT,
           "cold_90": N_("Cold Spot - 90% Confidence"), "cold_95": N_("Cold Spot - 95% Confidence"),
           "cold_99": N_("Cold Spot - 99% Confidence")},
    "lisa": {"HH": N_("High-High Cluster"), "HL": N_("High-Low Outlier"), "LH": N_("Low-High Outlier"),
             "LL": N_("Low-Low Cluster"), "not_significant": NOT_SIGNIFICANT},
    "change": {"significant_increase": N_("Significant increase"),
               "no_significant_change": N_("No significant change"),
               "significant_decrease": N_("Significant decrease")},
    "emerging": {
        "no_pattern": N_("No Pattern Detected"), "new_hot": N_("New Hot Spot"), "consecutive_hot": N_("Consecutive Hot Spot"),
        "intensifying_hot": N_("Intensifying Hot Spot"), "persistent_hot": N_("Persistent Hot Spot"),
        "diminishing_hot": N_("Diminishing Hot Spot"), "sporadic_hot": N_("Sporadic Hot Spot"),
        "oscillating_hot": N_("Oscillating Hot Spot"), "historical_hot": N_("Historical Hot Spot"),
        "new_cold": N_("New Cold Spot"), "consecutive_cold": N_("Consecutive Cold Spot"),
        "intensifying_cold": N_("Intensifying Cold Spot"), "persistent_cold": N_("Persistent Cold Spot"),
        "diminishing_cold": N_("Diminishing Cold Spot"), "sporadic_cold": N_("Sporadic Cold Spot"),
        "oscillating_cold": N_("Oscillating Cold Spot"), "historical_cold": N_("Historical Cold Spot")},
}
_FAMILY_COLOURS = {"gi": GI_COLOURS, "lisa": LISA_COLOURS, "change": CHANGE_COLOURS, "emerging": EMERGING_COLOURS}
#: family -> code -> (label msgid, colour): one place for what a class is called and how it is drawn.
CLASSES = {f: {c: (msg, _FAMILY_COLOURS[f][c]) for c, msg in labels.items()} for f, labels in LABELS.items()}
_ALL_LABELS = {c: msg for labels in LABELS.values() for c, msg in labels.items()}


#: The reading order of the change classes: what a committee must act on first.
CHANGE_ORDER = {"significant_increase": 0, "significant_decrease": 1, "no_significant_change": 2}


def answer_order(frame: pd.DataFrame, change: str = "change") -> pd.DataFrame:
    """``frame`` (rows with ``change_class`` and a ``change`` column) in the order a report reads:
    significant increases, then significant decreases, then the rest, each by the size of the
    change (largest first), then by code. Rows without a class (suppressed) come last.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"code": list("abcde"), "change": [3, -9, 40, 12, -2],
    ...                   "change_class": ["no_significant_change", "significant_decrease",
    ...                                    "significant_increase", "significant_increase", None]})
    >>> answer_order(t)["code"].tolist()
    ['c', 'd', 'b', 'a', 'e']
    """
    key = pd.DataFrame({"cls": frame["change_class"].map(CHANGE_ORDER).fillna(3).to_numpy(),
                        "size": -pd.to_numeric(frame[change], errors="coerce").abs().fillna(-1).to_numpy(),
                        "code": frame["code"].astype(str).to_numpy() if "code" in frame else 0},
                       index=frame.index)
    return frame.loc[key.sort_values(["cls", "size", "code"], kind="stable").index]


def label(code, locale: str | None = None) -> str | None:
    """The label of a class code in ``locale`` (default: the user's); None for a missing code."""
    if not isinstance(code, str):
        return None
    if code not in _ALL_LABELS:
        raise InputError(f"`code` was {code!r} but is expected to be one of {sorted(_ALL_LABELS)}.")
    return gettext(_ALL_LABELS[code], locale)


def classes(family: str, locale: str | None = None, codes=None) -> list[tuple[str, str, str]]:
    """(code, label, colour) of a family in legend order; ``codes`` keeps only those present."""
    if family not in CLASSES:
        raise InputError(f"`family` was {family!r} but is expected to be one of {sorted(CLASSES)}.")
    keep = None if codes is None else set(codes)
    return [(c, gettext(msg, locale), colour) for c, (msg, colour) in CLASSES[family].items()
            if keep is None or c in keep]


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
