"""Crime categories named in the committees' reports, with Vietnamese and English labels.

Codes are stable ASCII identifiers stored with each incident. ``GROUPS`` are
the groupings the reports use ("tội phạm đường phố" = street crime).
``CATEGORIES`` and ``GROUPS`` are the built-ins as shipped; the store keeps the
categories users add and the groups' membership (:mod:`geo.store.categories`), and
:class:`Catalogue` is what everything that lists, labels or expands categories reads.

A selection of categories (the ``categories`` argument of the analyses) may also hold
raw labels of the files, written ``raw:<label>`` (:func:`raw_terms`): the incidents whose
original label is one of them, and time terms (:func:`time_terms`): ``hour:22-4`` (the
incidents whose local hour lies in a window, which may wrap midnight) and ``weekday:5,6`` (local
weekdays, 0 = Monday).
"""
from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pandas as pd
import yaml

from geo.errors import InputError
from geo.format import N_, number
from geo.format import gettext as _
from geo.names import fold

# code: (Vietnamese label, English label, extra spellings seen in files)
CATEGORIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "giet_nguoi": ("Giết người", "Murder", ("murder", "homicide")),
    "co_y_gay_thuong_tich": ("Cố ý gây thương tích", "Assault / injury",
                             ("gay thuong tich", "assault", "injury", "co y gay thuong tich hoac gay ton hai cho suc khoe")),
    "cuop_tai_san": ("Cướp tài sản", "Robbery", ("cuop", "robbery")),
    "cuop_giat_tai_san": ("Cướp giật tài sản", "Snatch theft", ("cuop giat", "snatch theft", "snatching")),
    "trom_cap_tai_san": ("Trộm cắp tài sản", "Theft", ("trom cap", "trom", "theft", "larceny")),
    "lua_dao": ("Lừa đảo chiếm đoạt tài sản", "Fraud", ("lua dao", "fraud")),
    "danh_bac": ("Đánh bạc, tổ chức đánh bạc", "Gambling",
                 ("danh bac", "to chuc danh bac", "gambling")),
    "mai_dam": ("Mại dâm", "Prostitution", ("prostitution", "chua chap mai dam", "moi gioi mai dam")),
    "ma_tuy": ("Ma túy", "Drugs", ("ma tuy", "drugs", "drug", "mua ban trai phep chat ma tuy",
                                  "tang tru trai phep chat ma tuy", "to chuc su dung trai phep chat ma tuy")),
    "gay_roi": ("Gây rối trật tự công cộng", "Public disorder",
                ("gay roi", "gay roi trat tu cong cong", "dua xe trai phep", "public disorder")),
    "chong_nguoi_thi_hanh_cong_vu": ("Chống người thi hành công vụ", "Resisting officers",
                                     ("resisting officers",)),
    "tin_dung_den": ("Tín dụng đen", "Loan-sharking", ("cho vay nang lai", "loan sharking", "loan-sharking")),
    "vu_khi": ("Vũ khí, vật liệu nổ, công cụ hỗ trợ", "Weapons and explosives",
               ("vu khi", "vat lieu no", "weapons")),
    "xam_hai_tinh_duc": ("Xâm hại tình dục", "Sexual abuse", ("hiep dam", "sexual abuse", "sexual assault")),
    "khac": ("Khác", "Other", ("other",)),
}

GROUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "duong_pho": ("Tội phạm đường phố", "Street crime",
                  ("cuop_tai_san", "cuop_giat_tai_san", "trom_cap_tai_san", "gay_roi")),
    "trat_tu_xa_hoi": ("Tội phạm về trật tự xã hội", "Social-order crime",
                       tuple(c for c in CATEGORIES if c not in ("ma_tuy", "khac"))),
    "te_nan": ("Tệ nạn xã hội", "Social evils", ("danh_bac", "mai_dam", "ma_tuy")),
}

# Penal Code severity grades, 1 (least) to 4 (most serious).
SEVERITY: dict[int, tuple[str, str, tuple[str, ...]]] = {
    1: ("Ít nghiêm trọng", "Less serious", ("it nghiem trong", "less serious")),
    2: ("Nghiêm trọng", "Serious", ("nghiem trong", "serious")),
    3: ("Rất nghiêm trọng", "Very serious", ("rat nghiem trong", "very serious")),
    4: ("Đặc biệt nghiêm trọng", "Especially serious", ("dac biet nghiem trong", "especially serious",
                                                        "extremely serious")),
}


def _lookup(table) -> dict[str, object]:
    out = {}
    for key, (vi, en, extra) in table.items():
        for label in (str(key), vi, en, *extra):
            out[fold(label)] = key
    return out


CATEGORY_LOOKUP = _lookup(CATEGORIES)
SEVERITY_LOOKUP = _lookup(SEVERITY)


def label(code: str, lang: str = "vi") -> str:
    """The label of a built-in category or a group (user categories: :meth:`Catalogue.label`)."""
    return BUILTIN.label(code, lang)


def expand(codes_or_groups) -> list[str]:
    """Built-in category codes for a mix of category and group codes."""
    return BUILTIN.expand(codes_or_groups)


# --------------------------------------------------------------------------- raw labels

RAW = "raw:"
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def normalise_raw(text) -> str | None:
    """A file's label as stored and matched: NFC, runs of white space as one space, trimmed."""
    if text is None:
        return None
    s = " ".join(unicodedata.normalize("NFC", str(text)).split())
    return s or None


def raw_terms(labels) -> tuple[str, ...]:
    """Raw labels as members of a category selection: ``("raw:Mischief", …)``."""
    return tuple(RAW + s for s in sorted({normalise_raw(v) for v in labels} - {None}))


def split_selection(items) -> tuple[list[str], list[str]]:
    """``(category or group codes, raw labels)`` of a selection (time terms are neither)."""
    items = list(items or [])
    return ([c for c in items if not c.startswith((RAW, HOUR, WEEKDAY))],
            [c[len(RAW):] for c in items if c.startswith(RAW)])


# --------------------------------------------------------------------------- time terms

HOUR, WEEKDAY = "hour:", "weekday:"


def time_terms(hour_from: int | None = None, hour_to: int | None = None, weekdays=()) -> tuple[str, ...]:
    """An hour window (from ``hour_from`` through ``hour_to``, both included, wrapping midnight when
    ``hour_to`` is smaller: 22 → 4 is 22:00–05:00) and weekdays (0 = Monday) as selection terms.

    >>> time_terms(22, 4, [6, 5]), time_window(time_terms(22, 4, [6, 5]))
    (('hour:22-4', 'weekday:5,6'), ((22, 23, 0, 1, 2, 3, 4), (5, 6)))
    """
    out = ()
    if hour_from is not None and hour_to is not None:
        out += (f"{HOUR}{int(hour_from)}-{int(hour_to)}",)
    if weekdays:
        out += (WEEKDAY + ",".join(str(d) for d in sorted({int(d) for d in weekdays})),)
    return out


#: The weekdays as the committees write them, Monday first (``weekday=0`` … ``6``).
WEEKDAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))


def weekday_names(locale: str | None = None) -> list[str]:
    return [_(w, locale) for w in WEEKDAY_NAMES]


def time_label(hour_from: int | None, hour_to: int | None, weekdays=(), locale: str | None = None) -> str:
    """The hour window and weekdays in words, for headings: "22h–5h, Thứ Bảy và Chủ nhật" ("" for none).

    >>> time_label(22, 4, (5, 6), "vi"), time_label(None, None, (0, 2, 4), "en"), time_label(0, 23, (), "vi")
    ('22h–5h, Thứ Bảy và Chủ nhật', 'Monday, Wednesday and Friday', '0h–24h')
    """
    parts = [f"{int(hour_from)}h–{int(hour_to) + 1}h"] if hour_from is not None and hour_to is not None else []
    names = [weekday_names(locale)[d] for d in sorted(set(weekdays))]
    if names:
        parts.append(names[0] if len(names) == 1 else _("%(first)s and %(last)s", locale,
                                                          first=", ".join(names[:-1]), last=names[-1]))
    return ", ".join(parts)


def time_window(items) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(local hours, weekdays)`` that a selection's time terms keep; () where it has none."""
    hours, days = (), ()
    for c in items or ():
        if c.startswith(HOUR):
            a, b = (int(v) for v in c[len(HOUR):].split("-"))
            hours = tuple(range(a, b + 1)) if a <= b else tuple(range(a, 24)) + tuple(range(0, b + 1))
        elif c.startswith(WEEKDAY):
            days = tuple(int(v) for v in c[len(WEEKDAY):].split(","))
    return hours, days


# --------------------------------------------------------------------------- the catalogue

class Catalogue:
    """The categories of a store: codes, labels in both languages, the groups' members and the
    lookup from a file's label to a code (a source's own mapping first, then the labels and
    spellings of every category, folded with :func:`geo.names.fold`).

    >>> cat = Catalogue({"theft_vehicle": ("Trộm xe", "Theft of vehicle")}, {"duong_pho": ("theft_vehicle",)})
    >>> cat.label("theft_vehicle", "en"), cat.expand(["duong_pho"]), cat.lookup("TRỘM XE")
    ('Theft of vehicle', ['theft_vehicle'], 'theft_vehicle')
    """

    def __init__(self, categories: dict[str, tuple[str, str]], groups: dict[str, tuple[str, ...]],
                 source_map: dict[str, str] | None = None):
        self.categories = dict(categories)
        self.groups = {g: tuple(groups.get(g, ())) for g in GROUPS}
        self.source_map = dict(source_map or {})
        self._labels: dict[str, str] = {}
        for code, (vi, en) in self.categories.items():  # built-ins keep their shipped spellings too
            extra = (CATEGORIES[code][0], CATEGORIES[code][1], *CATEGORIES[code][2]) if code in CATEGORIES else ()
            for text in (code, vi, en, *extra):
                self._labels.setdefault(fold(text), code)

    def with_source_map(self, source_map: dict[str, str]) -> Catalogue:
        """This catalogue with a source's mapping (folded label → code) looked up first."""
        return Catalogue(self.categories, self.groups, source_map)

    def builtin(self, code: str) -> bool:
        return code in CATEGORIES

    def label(self, code: str, lang: str = "vi") -> str:
        vi, en = self.categories.get(code) or GROUPS.get(code, (code, code))[:2]
        return vi if lang == "vi" else en

    def expand(self, codes_or_groups) -> list[str]:
        """Category codes for a mix of category and group codes."""
        out = []
        for c in codes_or_groups:
            out.extend(self.groups[c] if c in self.groups else [c])
        return sorted(set(out))

    def check(self, selection) -> list[str]:
        """Category codes of a selection of category and group codes (raw labels are left out);
        an unknown code is an error."""
        codes, _raw = split_selection(selection)
        unknown = [c for c in codes if c not in self.categories and c not in self.groups]
        if unknown:
            raise InputError(_("`category` has unknown code(s) %(codes)s; allowed: %(allowed)s.",
                               codes=", ".join(map(repr, unknown)),
                               allowed=", ".join(list(self.categories) + list(self.groups))))
        return self.expand(codes)

    def lookup(self, raw_label) -> str | None:
        """The code a file's label is filed under, or None (the import files it as "khac")."""
        key = fold(raw_label)
        return self.source_map.get(key) or self._labels.get(key)

    def label_owner(self, text: str) -> str | None:
        """The category whose code, label or spelling folds like ``text`` (None when none does)."""
        return self._labels.get(fold(text))

    def choices(self, lang: str) -> list[tuple[str, str]]:
        """``(code, label)`` of the groups, then of the categories (user ones after the built-ins)."""
        return ([(g, self.label(g, lang)) for g in self.groups]
                + [(c, self.label(c, lang)) for c in self.categories])


BUILTIN = Catalogue({c: (vi, en) for c, (vi, en, _x) in CATEGORIES.items()},
                    {g: members for g, (_v, _e, members) in GROUPS.items()})


def read_category_map(path: str | Path, catalogue: Catalogue, *, display_name: str | None = None) -> dict[str, str]:
    """A source's label mapping from a small CSV (columns ``label``, ``category``) or YAML
    (``label: category``) file, as {label: code}. An unknown code, a blank cell or a label given
    twice with two codes is an error naming the line."""
    path = Path(path)
    name = display_name or path.name
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if path.suffix.lower() in (".yaml", ".yml"):
        pairs = _yaml_pairs(text, name)
    else:
        pairs = _csv_pairs(text, name)
    out: dict[str, str] = {}
    folded: dict[str, tuple[str, int]] = {}
    for line, raw, code in pairs:
        raw, code = normalise_raw(raw), (normalise_raw(code) or "")
        if raw is None or not code:
            raise InputError(_("%(name)s, line %(line)s: a label and a category code are both needed; "
                               "fill in the line or delete it.", name=name, line=line))
        if code not in catalogue.categories:
            raise InputError(_("%(name)s, line %(line)s: %(code)r is not a category code; use one of "
                               "%(allowed)s, or add the category first.", name=name, line=line, code=code,
                               allowed=", ".join(catalogue.categories)))
        key = fold(raw)
        if key in folded and out[folded[key][0]] != code:
            raise InputError(_("%(name)s, line %(line)s: the label %(label)r was already given on line "
                               "%(first)s with another category; keep one of the two lines.", name=name,
                               line=line, label=raw, first=folded[key][1]))
        folded.setdefault(key, (raw, line))
        out[folded[key][0]] = code
    if not out:
        raise InputError(_("%(name)s: no label mapping found; write one line per label: label,category.",
                           name=name))
    return out


def _csv_pairs(text: str, name: str) -> list[tuple[int, str, str]]:
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(_("%(name)s: not a readable CSV file (%(error)s); write one line per label: "
                           "label,category.", name=name, error=str(exc).strip()[:200])) from None
    df.columns = [fold(c) for c in df.columns]
    if not {"label", "category"} <= set(df.columns):
        raise InputError(_("%(name)s: the first line must name the columns label and category; it has %(cols)s.",
                           name=name, cols=", ".join(df.columns) or "—"))
    # data lines are numbered from 2 (line 1 is the header)
    return [(i + 2, r.label, r.category) for i, r in enumerate(df[["label", "category"]].itertuples())]


def _yaml_pairs(text: str, name: str) -> list[tuple[int, str, str]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise InputError(_("%(name)s: not a readable YAML file (%(error)s); write one line per label: "
                           "'label: category'.", name=name, error=str(exc).strip()[:200])) from None
    if node is None or not isinstance(node, yaml.MappingNode):
        raise InputError(_("%(name)s: no label mapping found; write one line per label: label,category.",
                           name=name))
    out = []
    for key, value in node.value:  # the composed nodes keep their line (0-based)
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            raise InputError(_("%(name)s, line %(line)s: expected 'label: category'.", name=name,
                               line=key.start_mark.line + 1))
        out.append((key.start_mark.line + 1, key.value, value.value))
    return out


def unknown_message(unknown: pd.DataFrame, *, first: int = 20) -> str:
    """The warning about labels filed as "Khác": how many rows, and the first labels with their counts."""
    shown = ", ".join(f"{r.label!r} ({number(int(r.count))})" for r in unknown.head(first).itertuples())
    more = len(unknown) - first
    if more > 0:
        shown += " " + _("and %(n)s more", n=number(more))
    return _("%(n)s rows have a category that is not in the list and were filed as 'Khác' (other): %(shown)s",
             n=number(int(unknown["count"].sum())), shown=shown)
