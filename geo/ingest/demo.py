"""Seeded generator of SYNTHETIC incident records for Hồ Chí Minh City (or another loaded set).

The records look like an export from a police case register (Vietnamese
headers, local time, WGS 84 coordinates) so the importer, the maps and the
clustering can be exercised end to end without real, sensitive data. Every
record's description starts with ``[Dữ liệu mô phỏng]`` ("simulated data")
and every external id with ``DEMO-``.

What is simulated:

* Background incidents spread uniformly inside each 2025 ward, with a ward
  total proportional to a synthetic population (urban wards larger than
  rural communes, decreasing away from Chợ Bến Thành) and a higher activity
  in the commercial centre. Wards whose
  centroid lies within ``CORE_RADIUS_KM`` of Chợ Bến Thành get most of them;
  the rest of the city gets a thin background. Côn Đảo is left out.
* Category shares typical of social-order crime statistics, with a severity
  grade and a clearance probability that depend on the category.
* Seasonality: a rise in the weeks before Tết, a dip in the Tết week, more
  incidents at weekends, a slow downward trend, and an hour-of-day profile
  per category (street crime in the evening and at night, fraud in office
  hours). Some records give no time of day (``UNKNOWN_TIME_SHARE``, the date alone) and some thefts
  a time range (``RANGE_SHARE``: "Đến giờ", a vehicle found gone in the morning), drawn from a
  random stream of their own so that every record keeps its date, place and category.
* Planted hot spots (``HOTSPOTS``): Gaussian blobs that persist over the
  whole period, emerge in its second half, or fade out before its end. Some
  put many incidents at exactly one address (a market, a bar street), and two
  sit on the border between two wards. :func:`generate` returns them as the
  ``truth`` table so that detection methods can be scored.

Given another city's units (Hải Phòng, Huế, …), the same model is laid around that city's centre
(:func:`centre_of`: the unit with the most neighbours within ``DENSE_RADIUS_KM``, i.e. the dense
urban core) and the planted spots keep their offsets from Chợ Bến Thành, under neutral names.
Hồ Chí Minh City's records are unchanged by this.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity

from geo.categories import CATEGORIES, SEVERITY

# Chợ Bến Thành, the reference point of the urban core.
CENTRE_LON, CENTRE_LAT = 106.6981, 10.7725
CORE_RADIUS_KM = 25.0
# Share of the background incidents that falls outside the urban core.
OUTSIDE_CORE_SHARE = 0.05
# Wards farther than this from the centre (the Côn Đảo islands) get nothing.
MAX_RADIUS_KM = 150.0
# Another city's centre: the unit with the most unit centres within this distance.
DENSE_RADIUS_KM = 3.0

ID_PREFIX = "DEMO-"
DESCRIPTION_PREFIX = "[Dữ liệu mô phỏng]"

COLUMNS = ["Mã vụ", "Thời gian xảy ra", "Đến giờ", "Loại tội phạm", "Mức độ", "Đã khám phá",
           "Kinh độ", "Vĩ độ", "Địa chỉ", "Mô tả"]
TRUTH_COLUMNS = ["name", "kind", "lon", "lat", "sigma_m", "start", "end", "n", "ward_codes",
                 "main_category"]

# Records without a time of day, and thefts with a time range of RANGE_HOURS hours (one stream of
# random numbers apart from the rest, seeded by the seed and TIME_STREAM)
UNKNOWN_TIME_SHARE = 0.06
RANGE_SHARE = 0.25
RANGE_CATEGORIES = ("trom_cap_tai_san",)
RANGE_HOURS = (2, 10)
TIME_STREAM = 11

# Lunar new year (Tết Nguyên Đán), first day.
TET_DATES = [dt.date(2023, 1, 22), dt.date(2024, 2, 10), dt.date(2025, 1, 29), dt.date(2026, 2, 17)]

# Share of all incidents per category, close to the mix in committee reports.
CATEGORY_SHARES: dict[str, float] = {
    "trom_cap_tai_san": 0.400,
    "cuop_giat_tai_san": 0.100,
    "lua_dao": 0.120,
    "co_y_gay_thuong_tich": 0.080,
    "ma_tuy": 0.120,
    "danh_bac": 0.050,
    "cuop_tai_san": 0.030,
    "gay_roi": 0.040,
    "mai_dam": 0.012,
    "tin_dung_den": 0.010,
    "chong_nguoi_thi_hanh_cong_vu": 0.006,
    "vu_khi": 0.006,
    "xam_hai_tinh_duc": 0.006,
    "giet_nguoi": 0.003,
    "khac": 0.017,
}

# P(severity grade 1..4) per category.
SEVERITY_PROBS: dict[str, tuple[float, float, float, float]] = {
    "giet_nguoi": (0.00, 0.02, 0.13, 0.85),
    "co_y_gay_thuong_tich": (0.45, 0.35, 0.15, 0.05),
    "cuop_tai_san": (0.00, 0.55, 0.35, 0.10),
    "cuop_giat_tai_san": (0.00, 0.70, 0.25, 0.05),
    "trom_cap_tai_san": (0.70, 0.25, 0.04, 0.01),
    "lua_dao": (0.35, 0.35, 0.20, 0.10),
    "danh_bac": (0.80, 0.18, 0.02, 0.00),
    "mai_dam": (0.50, 0.40, 0.10, 0.00),
    "ma_tuy": (0.30, 0.35, 0.20, 0.15),
    "gay_roi": (0.70, 0.30, 0.00, 0.00),
    "chong_nguoi_thi_hanh_cong_vu": (0.75, 0.25, 0.00, 0.00),
    "tin_dung_den": (0.70, 0.30, 0.00, 0.00),
    "vu_khi": (0.40, 0.40, 0.15, 0.05),
    "xam_hai_tinh_duc": (0.10, 0.40, 0.30, 0.20),
    "khac": (0.60, 0.30, 0.08, 0.02),
}

# P(cleared) per category for an incident that is at least two months old.
CLEARANCE: dict[str, float] = {
    "giet_nguoi": 0.95,
    "co_y_gay_thuong_tich": 0.85,
    "cuop_tai_san": 0.75,
    "cuop_giat_tai_san": 0.55,
    "trom_cap_tai_san": 0.60,
    "lua_dao": 0.40,
    "danh_bac": 0.97,
    "mai_dam": 0.97,
    "ma_tuy": 0.98,
    "gay_roi": 0.90,
    "chong_nguoi_thi_hanh_cong_vu": 0.99,
    "tin_dung_den": 0.70,
    "vu_khi": 0.95,
    "xam_hai_tinh_duc": 0.85,
    "khac": 0.70,
}

# Relative frequency per hour of day, 0..23.
_HOURS_STREET = (3, 2, 1.5, 1, 1, 1.5, 2.5, 3.5, 4, 4, 4, 4, 4, 3.5, 3.5, 4, 4.5, 5.5, 7, 8, 8, 7, 5.5, 4)
_HOURS_NIGHT = (5, 4.5, 3.5, 2.5, 1.5, 1, 1, 1.5, 2, 2, 2.5, 3, 3, 3, 3, 3, 3.5, 4.5, 6, 7.5, 8.5, 9, 8.5, 7)
_HOURS_DAY = (1, .8, .6, .5, .5, .8, 1.5, 3, 5, 6, 6.5, 6.5, 5, 5, 6, 6.5, 6, 5, 4, 3.5, 3, 2.5, 2, 1.5)
HOUR_PROFILE: dict[str, tuple[float, ...]] = {
    "trom_cap_tai_san": _HOURS_STREET, "cuop_giat_tai_san": _HOURS_STREET, "cuop_tai_san": _HOURS_STREET,
    "gay_roi": _HOURS_NIGHT, "co_y_gay_thuong_tich": _HOURS_NIGHT, "danh_bac": _HOURS_NIGHT,
    "ma_tuy": _HOURS_NIGHT, "mai_dam": _HOURS_NIGHT, "giet_nguoi": _HOURS_NIGHT,
    "xam_hai_tinh_duc": _HOURS_NIGHT, "vu_khi": _HOURS_NIGHT,
    "lua_dao": _HOURS_DAY, "tin_dung_den": _HOURS_DAY, "chong_nguoi_thi_hanh_cong_vu": _HOURS_DAY,
    "khac": _HOURS_DAY,
}

# Short Vietnamese case summaries per category (the "Mô tả" column).
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "trom_cap_tai_san": ("Mất trộm xe máy dựng trước nhà", "Mất trộm điện thoại tại quán ăn",
                         "Đột nhập nhà dân lấy tài sản", "Trộm cắp hàng hóa tại chợ"),
    "cuop_giat_tai_san": ("Giật điện thoại của người đi đường", "Giật túi xách của người đi xe máy",
                          "Giật dây chuyền của người đi bộ"),
    "lua_dao": ("Lừa đảo qua điện thoại, giả danh cơ quan chức năng", "Lừa đảo đầu tư trực tuyến",
                "Lừa đảo cho thuê nhà qua mạng xã hội"),
    "co_y_gay_thuong_tich": ("Xô xát sau khi uống rượu", "Mâu thuẫn cá nhân dẫn đến đánh nhau"),
    "ma_tuy": ("Tàng trữ trái phép chất ma túy", "Mua bán trái phép chất ma túy",
               "Tổ chức sử dụng trái phép chất ma túy"),
    "danh_bac": ("Đánh bạc bằng hình thức ghi số đề", "Tổ chức đánh bạc qua mạng",
                 "Đánh bạc ăn tiền tại nhà dân"),
    "cuop_tai_san": ("Dùng hung khí đe dọa cướp tài sản", "Cướp tài sản của tài xế xe ôm"),
    "gay_roi": ("Tụ tập đua xe trái phép", "Gây rối tại quán nhậu"),
    "mai_dam": ("Mua bán dâm tại cơ sở lưu trú", "Môi giới mại dâm"),
    "tin_dung_den": ("Cho vay lãi nặng trong giao dịch dân sự",),
    "chong_nguoi_thi_hanh_cong_vu": ("Chống người thi hành công vụ khi bị kiểm tra",),
    "vu_khi": ("Tàng trữ công cụ hỗ trợ trái phép",),
    "xam_hai_tinh_duc": ("Xâm hại tình dục",),
    "giet_nguoi": ("Mâu thuẫn dẫn đến án mạng",),
    "khac": ("Vụ việc khác",),
}


@dataclass(frozen=True)
class Hotspot:
    """A planted hot spot: a Gaussian blob of incidents around a centre.

    ``share`` is the fraction of all ``n`` incidents it receives. Its active
    window is given as fractions of the generated period (snapped to the
    first of a month), so the default 2023–2025 period gives mid-2024 starts
    and ends. ``anchors`` are exact coordinates (a market, a bar street)
    that receive the given share of the spot's incidents, all with the same
    address.
    """
    name: str
    kind: str  # "persistent" | "emerging" | "fading"
    lon: float
    lat: float
    sigma_m: float
    share: float
    mix: dict[str, float]
    start_frac: float = 0.0
    end_frac: float = 1.0
    anchors: tuple[tuple[float, float, float], ...] = field(default_factory=tuple)


HOTSPOTS: tuple[Hotspot, ...] = (
    Hotspot("Phạm Ngũ Lão – Chợ Bến Thành", "persistent", 106.6950, 10.7697, 350, 0.045,
            {"trom_cap_tai_san": 0.42, "cuop_giat_tai_san": 0.16, "lua_dao": 0.08, "ma_tuy": 0.10,
             "gay_roi": 0.07, "co_y_gay_thuong_tich": 0.07, "mai_dam": 0.05, "cuop_tai_san": 0.03,
             "danh_bac": 0.02},
            anchors=((106.6981, 10.7725, 0.12), (106.6931, 10.7673, 0.08))),
    # Chợ Gò Vấp, centre on the border of Phường Hạnh Thông and Phường An Nhơn.
    Hotspot("Chợ Gò Vấp (giáp ranh Hạnh Thông – An Nhơn)", "persistent", 106.688582, 10.825602, 250, 0.020,
            {"trom_cap_tai_san": 0.55, "cuop_giat_tai_san": 0.15, "lua_dao": 0.08, "co_y_gay_thuong_tich": 0.06,
             "ma_tuy": 0.08, "gay_roi": 0.04, "danh_bac": 0.04},
            anchors=((106.6882, 10.8262, 0.20),)),
    Hotspot("Chợ Bình Tây (Chợ Lớn)", "persistent", 106.6506, 10.7496, 200, 0.020,
            {"trom_cap_tai_san": 0.65, "cuop_giat_tai_san": 0.12, "lua_dao": 0.10, "co_y_gay_thuong_tich": 0.05,
             "danh_bac": 0.05, "gay_roi": 0.03},
            anchors=((106.6506, 10.7496, 0.30),)),
    Hotspot("Khu đô thị mới Long Bình (Thủ Đức)", "emerging", 106.8385, 10.8430, 400, 0.015,
            {"trom_cap_tai_san": 0.45, "lua_dao": 0.25, "cuop_giat_tai_san": 0.08, "ma_tuy": 0.07,
             "co_y_gay_thuong_tich": 0.05, "danh_bac": 0.05, "tin_dung_den": 0.05},
            start_frac=0.50),
    # Workers' boarding houses, centre on the border of Phường Tân Tạo and Phường Bình Trị Đông.
    Hotspot("Khu nhà trọ công nhân (giáp ranh Tân Tạo – Bình Trị Đông)", "emerging", 106.596146, 10.761676,
            300, 0.012,
            {"trom_cap_tai_san": 0.35, "ma_tuy": 0.20, "co_y_gay_thuong_tich": 0.12, "danh_bac": 0.12,
             "tin_dung_den": 0.08, "gay_roi": 0.08, "cuop_giat_tai_san": 0.05},
            start_frac=0.45, anchors=((106.5958, 10.7612, 0.10),)),
    Hotspot("Tụ điểm ma túy Phú Định", "fading", 106.6600, 10.7440, 200, 0.015,
            {"ma_tuy": 0.75, "trom_cap_tai_san": 0.08, "co_y_gay_thuong_tich": 0.05, "danh_bac": 0.05,
             "chong_nguoi_thi_hanh_cong_vu": 0.04, "vu_khi": 0.03},
            end_frac=0.45, anchors=((106.6603, 10.7438, 0.25),)),
    Hotspot("Đường ven sông Bình Quới", "fading", 106.7180, 10.8190, 400, 0.010,
            {"cuop_giat_tai_san": 0.45, "trom_cap_tai_san": 0.22, "gay_roi": 0.15, "cuop_tai_san": 0.12,
             "co_y_gay_thuong_tich": 0.06},
            end_frac=0.60),
)

_M_PER_DEG = 111_320.0


def _deg_per_m(lat: float) -> tuple[float, float]:
    """Degrees of longitude and latitude per metre at ``lat``."""
    return 1.0 / (_M_PER_DEG * np.cos(np.radians(lat))), 1.0 / _M_PER_DEG


def _km_from_centre(lon, lat, centre: tuple[float, float] = (CENTRE_LON, CENTRE_LAT)) -> np.ndarray:
    dx = (np.asarray(lon) - centre[0]) * _M_PER_DEG * np.cos(np.radians(centre[1]))
    dy = (np.asarray(lat) - centre[1]) * _M_PER_DEG
    return np.hypot(dx, dy) / 1000.0


def centre_of(wards: gpd.GeoDataFrame) -> tuple[float, float]:
    """Where the city's core is: Chợ Bến Thành when a unit holds it, else the densest unit's centre."""
    if wards.crs is not None and not wards.crs.equals("EPSG:4326"):
        wards = wards.to_crs("EPSG:4326")
    geoms = np.asarray(wards.geometry.values)
    if shapely.contains_xy(geoms, CENTRE_LON, CENTRE_LAT).any():
        return CENTRE_LON, CENTRE_LAT
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    near = [(np.count_nonzero(_km_from_centre(x, y, (x[i], y[i])) <= DENSE_RADIUS_KM), -i) for i in range(len(x))]
    i = -max(near)[1]
    return float(round(x[i], 6)), float(round(y[i], 6))


def hotspots_at(centre: tuple[float, float]) -> tuple[Hotspot, ...]:
    """:data:`HOTSPOTS` moved with their offsets from Chợ Bến Thành to ``centre``, with neutral names."""
    if centre == (CENTRE_LON, CENTRE_LAT):
        return HOTSPOTS
    dx, dy = centre[0] - CENTRE_LON, centre[1] - CENTRE_LAT
    return tuple(replace(h, name=f"Điểm nóng mô phỏng {i}", lon=round(h.lon + dx, 6), lat=round(h.lat + dy, 6),
                         anchors=tuple((round(x + dx, 6), round(y + dy, 6), w) for x, y, w in h.anchors))
                 for i, h in enumerate(HOTSPOTS, 1))


class _Wards:
    """The eligible wards, prepared for fast point-in-polygon tests."""

    def __init__(self, wards: gpd.GeoDataFrame, centre: tuple[float, float] = (CENTRE_LON, CENTRE_LAT)):
        if wards.crs is not None and not wards.crs.equals("EPSG:4326"):
            wards = wards.to_crs("EPSG:4326")
        geoms = np.asarray(wards.geometry.values)
        cent = shapely.centroid(geoms)
        dist = _km_from_centre(shapely.get_x(cent), shapely.get_y(cent), centre)
        names = wards["name"].astype(str).to_numpy()
        keep = (dist <= MAX_RADIUS_KM) & ~shapely.is_empty(geoms)
        keep &= np.array(["Côn Đảo" not in nm for nm in names], dtype=bool)
        self.codes = wards["code"].astype(str).to_numpy()[keep]
        self.names = names[keep]
        self.geoms = geoms[keep]
        shapely.prepare(self.geoms)
        self.bounds = shapely.bounds(self.geoms)
        self.dist_km = dist[keep]
        self.core = self.dist_km <= CORE_RADIUS_KM
        self.tree = shapely.STRtree(self.geoms)

    def contains_any(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        inside = np.zeros(len(x), dtype=bool)
        if not len(x):
            return inside
        for g, (x0, y0, x1, y1) in zip(self.geoms, self.bounds):
            cand = np.flatnonzero(~inside & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if len(cand):
                inside[cand] = shapely.contains_xy(g, x[cand], y[cand])
        return inside

    def population(self, rng: np.random.Generator) -> np.ndarray:
        """Synthetic incident intensity per ward.

        A synthetic population (urban wards larger than rural communes,
        slowly decreasing away from the centre, with random variation) times
        an activity factor that is highest in the commercial centre.
        """
        urban = np.array([nm.startswith("Phường") for nm in self.names], dtype=bool)
        people = np.where(urban, 100_000.0, 60_000.0) * np.exp(-self.dist_km / 40.0)
        people *= rng.lognormal(0.0, 0.3, len(self.geoms))
        return people * (1.0 + 1.5 * np.exp(-self.dist_km / 5.0))


def _sample_in_ward(rng, geom, bounds, m: int) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = bounds
    xs, ys, got = [], [], 0
    while got < m:
        k = max(16, int((m - got) * 2.5))
        x = np.round(rng.uniform(x0, x1, k), 6)
        y = np.round(rng.uniform(y0, y1, k), 6)
        ok = shapely.contains_xy(geom, x, y)
        x, y = x[ok][: m - got], y[ok][: m - got]
        xs.append(x)
        ys.append(y)
        got += len(x)
    return np.concatenate(xs), np.concatenate(ys)


def _daily_profile(days: np.ndarray) -> np.ndarray:
    """Relative incident intensity per day: weekday, slow trend, Tết."""
    d = days.astype("datetime64[D]").astype(np.int64)
    weekday = (d + 3) % 7  # 0 = Monday
    w = np.where(weekday >= 4, 1.12, 0.95)  # Friday to Sunday busier
    years = (d - d[0]) / 365.25
    w = w * np.exp(-0.05 * years)
    for tet in TET_DATES:
        off = d - np.datetime64(tet, "D").astype(np.int64)
        pre = (off >= -21) & (off <= -2)
        w = np.where(pre, w * (1.15 + 0.40 * (off + 21) / 19.0), w)
        w = np.where((off >= -1) & (off <= 5), w * 0.55, w)
        w = np.where((off >= 6) & (off <= 12), w * 0.85, w)
    return w


def _address(rng, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Clearly fake street addresses: 'number đường Số k', k constant over ~400 m cells."""
    cx = np.floor((lon - 106.0) * _M_PER_DEG / 400.0).astype(np.int64)
    cy = np.floor((lat - 10.0) * _M_PER_DEG / 400.0).astype(np.int64)
    street = (cx * 7919 + cy * 104729) % 99 + 1
    house = rng.integers(1, 400, len(lon))
    nums = np.array([str(i) for i in range(400)], dtype=object)
    streets = np.array([f" đường Số {i}" for i in range(100)], dtype=object)
    return nums[house] + streets[street]


def generate(wards: gpd.GeoDataFrame, *, n: int = 60_000, start: dt.date = dt.date(2023, 1, 1),
             end: dt.date = dt.date(2025, 12, 31), seed: int = 138) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate ``n`` synthetic incidents between ``start`` and ``end`` (inclusive).

    ``wards`` is the Hồ Chí Minh City 2025 ward layer (columns ``code``,
    ``name`` and a geometry, EPSG:4326), or another city's units (see the module docstring). Returns ``(records, truth)``:
    ``records`` has the Vietnamese column headers of :data:`COLUMNS`, sorted
    by time; ``truth`` has one row per planted hot spot (:data:`TRUTH_COLUMNS`).
    Incidents of a spot are those drawn around its centre (``lon``, ``lat``,
    ``sigma_m``) between its ``start`` and ``end``; background incidents may
    fall there too.
    """
    records, truth, _ = _generate(wards, n=n, start=start, end=end, seed=seed)
    return records, truth


def _generate(wards, *, n, start, end, seed) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """:func:`generate`, plus the index of each record's hot spot in ``truth`` (-1: background)."""
    if end < start:
        raise ValueError("end must not be before start")
    n = int(n)
    rng = np.random.default_rng(seed)
    centre = centre_of(wards)
    W = _Wards(wards, centre)
    if not len(W.geoms):
        raise ValueError("no usable ward geometry")

    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    ndays = len(days)
    profile = _daily_profile(days)
    span = (end - start).days

    # --- planted hot spots -------------------------------------------------
    spots: list[tuple[Hotspot, dt.date, dt.date, np.ndarray]] = []
    for h in hotspots_at(centre):
        # Active window, snapped to whole months.
        s = (start + dt.timedelta(days=round(h.start_frac * span))).replace(day=1) if h.start_frac > 0 else start
        e = (start + dt.timedelta(days=round(h.end_frac * span))).replace(day=1) - dt.timedelta(days=1) \
            if h.end_frac < 1 else end
        s, e = max(s, start), min(e, end)
        if s > e or not len(W.tree.query(shapely.Point(h.lon, h.lat), predicate="intersects")):
            continue
        i0, i1 = (s - start).days, (e - start).days
        act = np.zeros(ndays)
        ramp = np.linspace(0.0, 1.0, i1 - i0 + 1)
        act[i0:i1 + 1] = {"persistent": np.ones_like(ramp), "emerging": 0.25 + 0.75 * ramp,
                          "fading": 1.0 - 0.8 * ramp}[h.kind]
        spots.append((h, s, e, profile * act))

    counts = [int(round(h.share * n)) for h, *_ in spots]
    if sum(counts) > n:
        counts = [int(c * n / sum(counts)) for c in counts]
    n_bg = n - sum(counts)

    # Background category mix so that the expected overall shares match CATEGORY_SHARES.
    cats = list(CATEGORIES)
    target = np.array([CATEGORY_SHARES.get(c, 0.0) for c in cats])
    target = target / target.sum() * n
    for (h, *_), c in zip(spots, counts):
        mix = np.array([h.mix.get(k, 0.0) for k in cats])
        target = target - mix / mix.sum() * c
    bg_mix = np.clip(target, 0.0, None)
    bg_mix = bg_mix / bg_mix.sum() if bg_mix.sum() > 0 else np.full(len(cats), 1.0 / len(cats))

    lon_parts, lat_parts, cat_parts, day_parts, addr_parts = [], [], [], [], []
    truth_rows = []
    for (h, s, e, prof), m in zip(spots, counts):
        dlon, dlat = _deg_per_m(h.lat)
        anchors = [a for a in h.anchors if W.contains_any(np.array([a[0]]), np.array([a[1]]))[0]]
        n_anchor = rng.multinomial(m, [a[2] for a in anchors] + [1.0 - sum(a[2] for a in anchors)])
        xs = np.concatenate([np.full(k, a[0]) for a, k in zip(anchors, n_anchor)] + [np.empty(0)])
        ys = np.concatenate([np.full(k, a[1]) for a, k in zip(anchors, n_anchor)] + [np.empty(0)])
        anchor_addr = _address(rng, np.array([a[0] for a in anchors]), np.array([a[1] for a in anchors]))
        addr_a = np.concatenate([np.full(k, ad, dtype=object) for ad, k in zip(anchor_addr, n_anchor)]
                                + [np.empty(0, dtype=object)])
        rest = int(n_anchor[-1])
        bx, by = np.empty(0), np.empty(0)
        while len(bx) < rest:
            k = int((rest - len(bx)) * 1.2) + 8
            x = np.round(h.lon + rng.normal(0.0, h.sigma_m, k) * dlon, 6)
            y = np.round(h.lat + rng.normal(0.0, h.sigma_m, k) * dlat, 6)
            ok = W.contains_any(x, y)
            bx = np.concatenate([bx, x[ok]])[:rest]
            by = np.concatenate([by, y[ok]])[:rest]
        lon_parts += [xs, bx]
        lat_parts += [ys, by]
        addr_parts += [addr_a, _address(rng, bx, by)]
        mix = np.array([h.mix.get(k, 0.0) for k in cats])
        cat_parts.append(rng.choice(len(cats), size=m, p=mix / mix.sum()))
        day_parts.append(rng.choice(ndays, size=m, p=prof / prof.sum()))
        truth_rows.append({"name": h.name, "kind": h.kind, "lon": h.lon, "lat": h.lat, "sigma_m": float(h.sigma_m),
                           "start": s, "end": e, "n": m, "ward_codes": _touched_wards(W, h),
                           "main_category": max(h.mix, key=h.mix.get)})

    # --- background --------------------------------------------------------
    pop = W.population(rng)
    if not W.core.any():
        n_out = n_bg
    else:
        n_out = int(round(n_bg * OUTSIDE_CORE_SHARE)) if (~W.core).any() else 0
    per_ward = np.zeros(len(W.geoms), dtype=np.int64)
    for mask, k in ((W.core, n_bg - n_out), (~W.core, n_out)):
        if k:
            p = pop * mask
            per_ward += rng.multinomial(k, p / p.sum())
    for i in np.flatnonzero(per_ward):
        x, y = _sample_in_ward(rng, W.geoms[i], W.bounds[i], int(per_ward[i]))
        lon_parts.append(x)
        lat_parts.append(y)
    bg_lon = np.concatenate(lon_parts[2 * len(spots):] + [np.empty(0)])
    bg_lat = np.concatenate(lat_parts[2 * len(spots):] + [np.empty(0)])
    addr_parts.append(_address(rng, bg_lon, bg_lat))
    cat_parts.append(rng.choice(len(cats), size=n_bg, p=bg_mix))
    day_parts.append(rng.choice(ndays, size=n_bg, p=profile / profile.sum()))
    spot = np.repeat(np.arange(len(counts) + 1), counts + [n_bg])
    spot[spot == len(counts)] = -1

    lon = np.concatenate(lon_parts)
    lat = np.concatenate(lat_parts)
    addr = np.concatenate(addr_parts)
    cat = np.concatenate(cat_parts)
    day = np.concatenate(day_parts)

    # --- per-incident attributes by category --------------------------------
    hour = np.zeros(n, dtype=np.int64)
    sev = np.zeros(n, dtype=np.int64)
    clear_p = np.zeros(n)
    desc = np.empty(n, dtype=object)
    for ci, c in enumerate(cats):
        idx = np.flatnonzero(cat == ci)
        if not len(idx):
            continue
        hp = np.asarray(HOUR_PROFILE.get(c, _HOURS_DAY), dtype=float)
        hour[idx] = rng.choice(24, size=len(idx), p=hp / hp.sum())
        sp = np.asarray(SEVERITY_PROBS.get(c, (0.6, 0.3, 0.08, 0.02)), dtype=float)
        sev[idx] = rng.choice(4, size=len(idx), p=sp / sp.sum()) + 1
        clear_p[idx] = CLEARANCE.get(c, 0.7)
        texts = np.array([f"{DESCRIPTION_PREFIX} {t}" for t in DESCRIPTIONS.get(c, ("Vụ việc khác",))],
                         dtype=object)
        desc[idx] = texts[rng.integers(0, len(texts), len(idx))]
    minute = rng.integers(0, 60, n)
    # Reported times are often rounded to the hour or half hour.
    rounded = rng.random(n) < 0.3
    minute = np.where(rounded, (minute >= 30) * 30, minute)
    # Recent cases are less often cleared yet: investigations take months.
    age = (ndays - 1 - day).astype(float)
    cleared = rng.random(n) < clear_p * np.minimum(1.0, 0.4 + 0.6 * age / 60.0)

    # --- assemble, ids in time order ---------------------------------------
    minutes = day.astype(np.int64) * 1440 + hour * 60 + minute
    order = np.argsort(minutes, kind="stable")
    day, minutes_of_day = day[order], (hour * 60 + minute)[order]
    day_str = pd.Series(days).dt.strftime("%d/%m/%Y").to_numpy(dtype=object)
    hm_str = np.array([f" {h:02d}:{m:02d}" for h in range(24) for m in range(60)], dtype=object)
    # --- unknown times and time ranges, from their own stream ---------------
    trng = np.random.default_rng([seed, TIME_STREAM])
    unknown = trng.random(n) < UNKNOWN_TIME_SHARE
    ranged = np.isin(np.array(cats, dtype=object)[cat[order]], RANGE_CATEGORIES) & ~unknown \
        & (trng.random(n) < RANGE_SHARE)
    end_min = (minutes_of_day + 60 * trng.integers(RANGE_HOURS[0], RANGE_HOURS[1] + 1, n)) % 1440
    when = day_str[day] + np.where(unknown, "", hm_str[minutes_of_day])
    until = np.where(ranged, np.char.strip(hm_str[end_min].astype(str)).astype(object), None)
    cat_labels = np.array([CATEGORIES[c][0] for c in cats], dtype=object)
    sev_labels = np.array([""] + [SEVERITY[g][0] for g in range(1, 5)], dtype=object)
    width = max(7, len(str(n)))
    records = pd.DataFrame({
        "Mã vụ": [f"{ID_PREFIX}{i:0{width}d}" for i in range(1, n + 1)],
        "Thời gian xảy ra": when,
        "Đến giờ": until,
        "Loại tội phạm": cat_labels[cat[order]],
        "Mức độ": sev_labels[sev[order]],
        "Đã khám phá": np.where(cleared[order], "Có", "Không").astype(object),
        "Kinh độ": np.round(lon[order], 6),
        "Vĩ độ": np.round(lat[order], 6),
        "Địa chỉ": addr[order],
        "Mô tả": desc[order],
    }, columns=COLUMNS)
    truth = pd.DataFrame(truth_rows, columns=TRUTH_COLUMNS)
    return records, truth, spot[order]


def _touched_wards(W: _Wards, h: Hotspot) -> str:
    """Codes of the wards that the 1-sigma disc around the spot's centre touches."""
    dlon, dlat = _deg_per_m(h.lat)
    disc = affinity.scale(shapely.Point(h.lon, h.lat).buffer(1.0, 64), xfact=h.sigma_m * dlon,
                          yfact=h.sigma_m * dlat)
    hit = W.tree.query(disc, predicate="intersects")
    return ",".join(sorted(W.codes[hit]))


def write_csv(records: pd.DataFrame, path) -> None:
    """Write records as UTF-8 CSV with a byte-order mark (Excel opens it correctly)."""
    if isinstance(path, (str, Path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    records.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.6f")
