"""Repeat places on hand-made incidents whose places, counts and dates are worked out by hand."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from clustering.errors import InputError
from clustering.places import PLACE_COLUMNS, repeat_places
from geo.names import address_key

END = dt.date(2025, 12, 31)  # the last 90 days: 03/10/2025 to 31/12/2025
TO_WGS84 = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)  # the UTM zone of HCMC
X0, Y0 = 686_000.0, 1_191_000.0  # near Chợ Bến Thành, in metres


def incidents(rows):
    """(dx m, dy m, date, category, address, unit) → the frame repeat_places takes."""
    frame = pd.DataFrame(rows, columns=["dx", "dy", "local_date", "category", "address", "code"])
    lon, lat = TO_WGS84.transform((X0 + frame["dx"]).to_numpy(), (Y0 + frame["dy"]).to_numpy())
    frame["lon"], frame["lat"] = lon, lat
    frame["key"] = frame["address"].map(address_key)
    return frame.drop(columns=["dx", "dy"])


def test_spellings_of_one_address_are_one_place_and_the_commonest_spelling_names_it():
    # four spellings of one address in unit U1, 400 m apart (no two within 50 m); the same
    # address in unit U2 three times; a different house number once
    inc = incidents([
        (0, 0, "2025-02-01", "trom", "12 Đường số 3", "U1"),
        (400, 0, "2025-10-03", "trom", "số 12 đường Số 3", "U1"),
        (800, 0, "2025-06-30", "cuop", "12 Đường số 3", "U1"),
        (1200, 0, "2025-12-31", "trom", "  12 ĐƯỜNG SỐ 3 ", "U1"),
        (0, 2000, "2025-03-01", "trom", "12 Đường số 3", "U2"),
        (400, 2000, "2025-03-02", "trom", "12 Đường số 3", "U2"),
        (800, 2000, "2025-03-03", "trom", "12 Đường số 3", "U2"),
        (1600, 0, "2025-12-30", "trom", "14 Đường số 3", "U1"),
    ])
    out = repeat_places(inc, end=END, min_count=3)
    assert list(out.columns) == PLACE_COLUMNS
    assert out["kind"].tolist() == ["address", "address"] and out["place_id"].tolist() == [1, 2]
    first = out.iloc[0]
    assert (first["code"], first["address"], first["count"]) == ("U1", "12 Đường số 3", 4)
    assert (first["first_date"], first["last_date"]) == ("2025-02-01", "2025-12-31")
    assert first["count_recent"] == 2  # 03/10 and 31/12 lie in the last 90 days, 30/06 and 01/02 do not
    assert first["categories"] == "trom:3, cuop:1"
    # the centroid of x = 0, 400, 800, 1200 is x = 600: the farthest incident is 600 m away
    assert first["radius_m"] == pytest.approx(600.0, abs=0.5)
    second = out.iloc[1]
    assert (second["code"], second["count"], second["count_recent"]) == ("U2", 3, 0)


def test_fifty_metre_groups_and_points_sixty_metres_apart():
    # A: three incidents within 50 m of each other (30 m east and 35 m north of the first)
    # B: three incidents in a row 60 m apart: none has another within 50 m, so no place
    # C: five incidents in a row 40 m apart: DBSCAN at 50 m would chain all five over 160 m;
    #    here the first disc takes the densest incident's neighbours (rows 1, 2, 3 of C: 0, 40, 80 m)
    rows = [(0, 0, "2025-01-05", "trom", "", "U1"), (30, 0, "2025-11-01", "trom", "", "U1"),
            (0, 35, "2025-04-01", "cuop", "", "U1")]
    rows += [(1000 + 60 * i, 0, "2025-05-01", "trom", "", "U1") for i in range(3)]
    rows += [(3000 + 40 * i, 0, "2025-07-0%d" % (i + 1), "trom", f"{i} Lê Lợi", "U2") for i in range(5)]
    out = repeat_places(incidents(rows), end=END, min_count=3)
    assert out["kind"].tolist() == ["group", "group"]
    a, c = out.iloc[0], out.iloc[1]  # equal counts: A has the incident of the last 90 days
    assert (a["count"], a["count_recent"], a["first_date"], a["last_date"]) == (3, 1, "2025-01-05", "2025-11-01")
    assert a["categories"] == "trom:2, cuop:1" and a["code"] == "U1"
    # A's centroid is (10, 11.67) m from its first incident: the farthest is (0, 35), 25.4 m away
    assert a["radius_m"] == pytest.approx(np.hypot(10, 35 - 35 / 3), abs=0.1)
    assert (c["count"], c["first_date"], c["last_date"], c["radius_m"]) == (3, "2025-07-01", "2025-07-03", 40.0)
    assert c["address"] == "0 Lê Lợi"  # three addresses once each: the first in sort order names the group
    # with two incidents enough, the 40 m pairs group, the 60 m ones still do not
    two = repeat_places(incidents(rows), end=END, min_count=2)
    assert sorted(two["count"].tolist()) == [2, 3, 3]
    assert two["radius_m"].max() <= 50.0


def test_a_group_of_one_address_is_listed_once_as_that_address():
    rows = [(i, 0, f"2025-03-{i + 1:02d}", "trom", "Chợ Bến Thành", "U1") for i in range(4)]
    out = repeat_places(incidents(rows), end=END, min_count=3)
    assert out["kind"].tolist() == ["address"] and out["count"].tolist() == [4]


def test_places_without_coordinates_and_bad_arguments():
    inc = incidents([(0, 0, "2025-01-01", "trom", "5 Lê Lợi", "U1")] * 3)
    inc["lon"], inc["lat"] = np.nan, np.nan
    out = repeat_places(inc, end=END)
    assert out["count"].tolist() == [3] and out["lon"].isna().all()
    assert repeat_places(inc.iloc[:0], end=END).empty
    with pytest.raises(InputError, match="min_count"):
        repeat_places(inc, end=END, min_count=1)
    with pytest.raises(InputError, match="lacks the columns"):
        repeat_places(inc.drop(columns="key"), end=END)
