import doctest
import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import clustering.ranking
from clustering.ranking import WEIGHTS, rank_areas
from geo.errors import InputError
from geo.render.reasons import sentence


def _four_units():
    # Given out of order on purpose.
    return pd.DataFrame({
        "code": ["C", "A", "D", "B"],
        "name": ["Phường 3", "Phường 1", "Phường 4", "Phường 2"],
        "hotspot_code": ["not_significant", "hot_99", "cold_99", "hot_95"],
        "hot_streak": [0, 2, 0, 0],
        "pattern": ["no_pattern", "persistent_hot", "persistent_cold", "new_hot"],
        "harm_per_km2": [20.0, 40.0, 0.0, 30.0],
        "change_class": ["significant_decrease", "significant_increase",
                         "no_significant_change", "no_significant_change"],
        "change_pct": [-30.0, 10.0, 0.0, 40.0],
        "share": [0.01, 0.05, 0.0, 0.02],
        "years_hot": [0, 3, 0, 1],
        "years_total": [4, 4, 4, 4],
        "clearance_rate": [1.0, 0.8, 0.9, 0.5],
    })


def test_weights_sum_to_100():
    assert sum(WEIGHTS.values()) == 100


def test_order_and_scores_by_hand():
    r = rank_areas(_four_units())
    assert r["code"].tolist() == ["A", "B", "C", "D"]
    assert r["rank"].tolist() == [1, 2, 3, 4]
    # harm_per_km2 percentiles: ascending average ranks D=1, C=2, B=3, A=4 over n=4,
    # (r - 1) / 3 -> A 1, B 2/3, C 1/3, D 0 (and D's density of 0 gets 0 anyway).
    # A: hot_99 20*1 + streak 15*2/4 + persistent_hot 15*0.9 + density 15*1
    #    + increase 10*10/25 + share 10*0.05/0.10 + years 10*3/4 + clearance 5*(1-0.8)
    a = 20 + 7.5 + 13.5 + 15 + 4 + 5 + 7.5 + 1
    # B: hot_95 20*0.75 + new_hot 15*0.7 + density 15*2/3 + no significant change 0
    #    + share 10*0.02/0.10 + years 10*1/4 + clearance 5*0.5   (a 40 % rise that is not
    #    significant gives nothing)
    b = 15 + 10.5 + 10 + 0 + 2 + 2.5 + 2.5
    # C: density 15*1/3 + share 10*0.01/0.10; decrease, not significant, cleared all: 0
    c = 5 + 1
    # D: cold spot, cold pattern, density 0, share 0: only clearance 5*(1-0.9)
    d = 0.5
    assert_allclose(r["score"], [a, b, c, d])
    assert_allclose([a, b, c, d], [73.5, 42.5, 6.0, 0.5])


def test_components_add_up_to_score_and_are_json():
    r = rank_areas(_four_units())
    for comp, score in zip(r["components"], r["score"]):
        assert list(comp) == list(WEIGHTS)
        assert_allclose(sum(comp.values()), score)
        json.dumps(comp)
    a = r["components"].iloc[0]
    assert_allclose([a["hotspot"], a["streak"], a["pattern"], a["harm_density"], a["increase"],
                     a["share"], a["persistence"], a["clearance"]],
                    [20, 7.5, 13.5, 15, 4, 5, 7.5, 1])


def test_output_columns_and_input_untouched():
    df = _four_units()
    before = df.copy()
    r = rank_areas(df)
    pd.testing.assert_frame_equal(df, before)
    assert list(r.columns) == list(df.columns) + ["score", "rank", "components", "reasons"]
    assert r.index.tolist() == [0, 1, 2, 3]
    assert r.loc[0, "name"] == "Phường 1"


def test_reason_matches_the_reports_style():
    df = pd.DataFrame({
        "code": ["26734", "26737"],
        "hotspot_code": ["hot_99", "not_significant"],
        "hot_streak": [3, 0],
        "share": [0.061, 0.01],
        "change_class": ["significant_increase", "no_significant_change"],
        "change_pct": [24.0, 2.0],
        "p_value": [0.003, 0.8],
        "count": [124, 20],
        "base_count": [100, 19.6],
    })
    r = rank_areas(df)
    top = r.iloc[0]
    assert top["code"] == "26734"
    # 20 + 15*3/4 + 10*24/25 + 10*0.061/0.10 = 20 + 11.25 + 9.6 + 6.1
    assert_allclose(top["score"], 46.95)
    assert sentence(top["reasons"], "vi") == ("Gi* nóng 99% trong 3 quý liên tiếp; "
                                "tăng 24,0% so với cùng kỳ (p = 0,003); "
                                "chiếm 6,1% số vụ toàn thành phố")
    assert sentence(top["reasons"], "en") == ("Gi* hot spot at 99% for 3 consecutive quarters; "
                                "up 24.0% on the same period last year (p = 0.003); "
                                "6.1% of the city's incidents")
    # 10 * 0.01 / 0.10 = 1 point, the only signal of the second ward
    assert sentence(r.iloc[1]["reasons"], "vi") == "Chiếm 1,0% số vụ toàn thành phố"
    assert sentence(r.iloc[1]["reasons"], "en") == "1.0% of the city's incidents"


def test_reason_other_signals_and_bin_words():
    df = pd.DataFrame({
        "code": ["X", "Y", "Z"],
        "hotspot_code": ["hot_90", None, None],
        "hot_streak": [4, 1, 0],
        "bin": ["month", None, None],
        "pattern": ["intensifying_hot", "no_pattern", "no_pattern"],
        "trend_z": [2.4137, 0.1, -0.2],
        "harm_per_km2": [1234.5, 10.0, 20.0],
        "years_hot": [4, 0, 0],
        "years_total": [5, 5, 5],
        "clearance_rate": [0.3, 1.0, 1.0],
    })
    r = rank_areas(df)
    assert r["code"].tolist() == ["X", "Z", "Y"]
    x = r.iloc[0]
    # hot_90 20*0.5 + streak 15 + intensifying 15 + density 15 + years 10*4/5 + clearance 5*0.7;
    # in the reason Gi* and streak count as one (25), then pattern and density (15 each,
    # in the order of WEIGHTS), persistence (8) and clearance (3.5) are left out.
    assert_allclose(x["score"], 10 + 15 + 15 + 15 + 8 + 3.5)
    assert sentence(x["reasons"], "vi") == ("Gi* nóng 90% trong 4 tháng liên tiếp; "
                              "mẫu hình điểm nóng gia tăng (xu hướng z = 2,41); "
                              "số vụ quy đổi theo mức độ nghiêm trọng trên mỗi km² xếp thứ 1/3 "
                              "(1.234,5/km²)")
    assert sentence(x["reasons"], "en") == ("Gi* hot spot at 90% for 4 consecutive months; "
                              "intensifying hot spot pattern (trend z = 2.41); "
                              "harm-weighted density ranked 1 of 3 (1,234.5 per km²)")
    y = r.set_index("code").loc["Y"]
    # streak 15*1/4 = 3.75 beats density (10 is the lowest of three: 0 points)
    assert_allclose(y["score"], 3.75)
    assert sentence(y["reasons"], "vi") == "Gi* nóng ≥ 90% trong quý gần nhất"
    assert sentence(y["reasons"], "en") == "Gi* hot spot at ≥ 90% in the latest quarter"


def test_reason_persistence_clearance_and_increase_from_nothing():
    df = pd.DataFrame({
        "code": ["P"],
        "years_hot": [3], "years_total": [3],
        "clearance_rate": [0.625],
        "change_class": ["significant_increase"],
        "change_pct": [np.nan], "count": [7], "base_count": [0], "p_value": [0.0002],
    })
    r = rank_areas(df)
    # years 10*3/3 + increase 10 (nothing the same period last year: full points)
    # + clearance 5*0.375
    assert_allclose(r.loc[0, "score"], 10 + 10 + 1.875)
    assert sentence(r.loc[0, "reasons"], "vi") == ("Tăng từ 0 lên 7 vụ so với cùng kỳ (p < 0,001); "
                                     "điểm nóng Gi* 3/3 năm gần đây; "
                                     "tỷ lệ điều tra khám phá 62,5%")
    assert sentence(r.loc[0, "reasons"], "en") == ("Up from 0 to 7 incidents on the same period last year "
                                     "(p < 0.001); Gi* hot spot in 3 of the last 3 years; "
                                     "clearance rate 62.5%")


def test_missing_columns_contribute_nothing():
    r = rank_areas(pd.DataFrame({"code": ["a", "b"], "share": [0.03, np.nan]}))
    assert r["code"].tolist() == ["a", "b"]
    assert_allclose(r["score"], [3.0, 0.0])
    assert r.loc[0, "components"]["share"] == pytest.approx(3.0)
    assert sum(r.loc[0, "components"].values()) == pytest.approx(3.0)
    assert sentence(r.loc[0, "reasons"], "en") == "3.0% of the city's incidents"
    assert "Gi*" not in sentence(r.loc[0, "reasons"], "vi")
    assert sentence(r.loc[1, "reasons"], "vi") == "Không có dấu hiệu phức tạp nổi bật"
    assert sentence(r.loc[1, "reasons"], "en") == "No notable sign of complexity"

    only = rank_areas(pd.DataFrame({"code": ["26734"]}))
    assert only.loc[0, "score"] == 0 and only.loc[0, "rank"] == 1

    # a significant increase without change_pct still counts in full
    r = rank_areas(pd.DataFrame({"code": ["a"], "change_class": ["significant_increase"]}))
    assert_allclose(r.loc[0, "score"], 10)
    assert sentence(r.loc[0, "reasons"], "vi") == "Tăng có ý nghĩa so với cùng kỳ"
    assert sentence(r.loc[0, "reasons"], "en") == "Significant increase on the same period last year"

    empty = rank_areas(pd.DataFrame({"code": pd.Series([], dtype=str)}))
    assert len(empty) == 0 and "score" in empty.columns


def test_single_unit_density_gets_full_points():
    r = rank_areas(pd.DataFrame({"code": ["s1"], "harm_per_km2": [5.0]}))
    assert_allclose(r.loc[0, "score"], 15)


def test_ties_broken_by_harm_then_count_then_code():
    df = pd.DataFrame({
        "code": ["b", "a", "c", "d", "e"],
        "share": [0.02] * 5,                  # 2 points each
        "harm": [5.0, 5.0, 7.0, 5.0, np.nan],
        "count": [3, 3, 1, 9, 50],
    })
    r = rank_areas(df)
    assert_allclose(r["score"], [2.0] * 5)
    assert r["code"].tolist() == ["c", "d", "a", "b", "e"]
    assert r["rank"].tolist() == [1, 2, 3, 4, 5]


def test_ties_with_scores_made_of_different_signals():
    # 10*0.1/0.10 = 10 points from share, 20*0.5 = 10 points from hot_90
    df = pd.DataFrame({"code": ["s", "h"], "share": [0.1, 0.0],
                       "hotspot_code": ["not_significant", "hot_90"], "count": [5, 6]})
    r = rank_areas(df)
    assert_allclose(r["score"], [10, 10])
    assert r["code"].tolist() == ["h", "s"]


def test_all_signals_at_most_give_100():
    df = pd.DataFrame({
        "code": ["max", "other"],
        "hotspot_code": ["hot_99", "hot_90"], "hot_streak": [9, 1],
        "pattern": ["intensifying_hot", "sporadic_hot"],
        "harm_per_km2": [500.0, 1.0],
        "change_class": ["significant_increase", "significant_increase"],
        "change_pct": [np.inf, 300.0],
        "share": [0.9, 0.5], "years_hot": [5, 5], "years_total": [5, 5],
        "clearance_rate": [0.0, 0.0],
    })
    r = rank_areas(df)
    assert_allclose(r.loc[0, "score"], 100)
    assert ((r["score"] >= 0) & (r["score"] <= 100)).all()


def test_custom_weights_are_rescaled_to_100():
    df = pd.DataFrame({"code": ["a", "b"], "hotspot_code": ["hot_99", "not_significant"],
                       "share": [0.2, 0.2]})
    r = rank_areas(df, weights={"hotspot": 60, "share": 0})
    # weights now sum to 100 - 20 + 60 - 10 = 130; a: 100 * 60 * 1 / 130
    assert_allclose(r["score"], [100 * 60 / 130, 0.0])
    assert "%" in sentence(r.loc[0, "reasons"], "vi") and "số vụ" not in sentence(r.loc[0, "reasons"], "vi")
    assert sum(WEIGHTS.values()) == 100        # the defaults are left alone


def test_top_keeps_the_first():
    r = rank_areas(_four_units(), top=2)
    assert r["code"].tolist() == ["A", "B"]
    assert r["rank"].tolist() == [1, 2]
    assert len(rank_areas(_four_units(), top=10)) == 4


@pytest.mark.parametrize("signals, match", [
    (pd.DataFrame({"ward": ["a"]}), r"no column `code`"),
    (pd.DataFrame({"code": ["a", "b", "a"]}), r"several rows for code 'a'"),
    (pd.DataFrame({"code": ["a", None]}), r"missing values"),
    ([{"code": "a"}], r"must be a DataFrame"),
    (pd.DataFrame({"code": ["a"], "clearance_rate": [84.04]}), r"divide percentages by 100"),
    (pd.DataFrame({"code": ["a"], "share": [-0.1]}), r"`signals\['share'\]` was -0.1"),
    (pd.DataFrame({"code": ["a"], "count": ["many"]}), r"`signals\['count'\]` must hold numbers"),
    (pd.DataFrame({"code": ["a"], "hot_streak": [-1]}), r"must be >= 0"),
    (pd.DataFrame({"code": ["a"], "years_hot": [4], "years_total": [3]}),
     r"more than `years_total`"),
    (pd.DataFrame({"code": ["a"], "pattern": ["persistent"]}), r"'persistent' for code 'a'"),
    (pd.DataFrame({"code": ["a"], "change_class": ["increase"]}), r"significant_increase"),
    (pd.DataFrame({"code": ["a"], "hotspot_code": ["Hot Spot"]}), r"'hot_99'"),
])
def test_bad_signals(signals, match):
    with pytest.raises(InputError, match=match):
        rank_areas(signals)


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": {"hotness": 5}}, r"unknown key 'hotness'"),
    ({"weights": {"share": -1}}, r"`weights\['share'\]` was -1 but must be a number >= 0"),
    ({"weights": {"share": float("nan")}}, r"must be a number >= 0"),
    ({"weights": {"share": "10"}}, r"must be a number >= 0"),
    ({"weights": dict.fromkeys(WEIGHTS, 0)}, r"all 0"),
    ({"weights": [("share", 1)]}, r"must be a dict"),
    ({"top": 0}, r"`top` was 0"),
    ({"top": 2.5}, r"integer >= 1"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        rank_areas(_four_units(), **kwargs)


def test_docstring_examples():
    assert doctest.testmod(clustering.ranking).failed == 0
