"""Categories of the store: the built-ins, user categories, a source's label mapping (remembered),
the unknown-label warning, the raw-label filter and re-filing, on a sample of the Vancouver police file."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from alembic import command
from flask import Flask
from sqlalchemy import inspect, text

from geo import analysis
from geo.categories import BUILTIN, raw_terms, read_category_map
from geo.errors import InputError
from geo.ingest import boundaries as gb
from geo.ingest.importer import import_file
from geo.store import accounts
from geo.store import categories as cs
from geo.store.models import alembic_config
from geo.store.queries import area_counts, day_rows
from tests.conftest import NOW
from tests.data.make_vancouver_sample import AREAS, points_in_areas, vancouver_sample

# The built-ins, written out by hand: code, Vietnamese label, English label.
BUILTINS = [
    ("giet_nguoi", "Giết người", "Murder"),
    ("co_y_gay_thuong_tich", "Cố ý gây thương tích", "Assault / injury"),
    ("cuop_tai_san", "Cướp tài sản", "Robbery"),
    ("cuop_giat_tai_san", "Cướp giật tài sản", "Snatch theft"),
    ("trom_cap_tai_san", "Trộm cắp tài sản", "Theft"),
    ("lua_dao", "Lừa đảo chiếm đoạt tài sản", "Fraud"),
    ("danh_bac", "Đánh bạc, tổ chức đánh bạc", "Gambling"),
    ("mai_dam", "Mại dâm", "Prostitution"),
    ("ma_tuy", "Ma túy", "Drugs"),
    ("gay_roi", "Gây rối trật tự công cộng", "Public disorder"),
    ("chong_nguoi_thi_hanh_cong_vu", "Chống người thi hành công vụ", "Resisting officers"),
    ("tin_dung_den", "Tín dụng đen", "Loan-sharking"),
    ("vu_khi", "Vũ khí, vật liệu nổ, công cụ hỗ trợ", "Weapons and explosives"),
    ("xam_hai_tinh_duc", "Xâm hại tình dục", "Sexual abuse"),
    ("khac", "Khác", "Other"),
]
GROUP_MEMBERS = {
    "duong_pho": {"cuop_tai_san", "cuop_giat_tai_san", "trom_cap_tai_san", "gay_roi"},
    "te_nan": {"danh_bac", "mai_dam", "ma_tuy"},
    "trat_tu_xa_hoi": {"giet_nguoi", "co_y_gay_thuong_tich", "cuop_tai_san", "cuop_giat_tai_san",
                       "trom_cap_tai_san", "lua_dao", "danh_bac", "mai_dam", "gay_roi",
                       "chong_nguoi_thi_hanh_cong_vu", "tin_dung_den", "vu_khi", "xam_hai_tinh_duc"},
}
# The mapping the test gives for the Vancouver labels (the rest stay unknown, except "Homicide",
# a shipped spelling of giet_nguoi).
MAPPING = {"Theft from Vehicle": "trom_xe", "Theft of Vehicle": "trom_xe", "Theft of Bicycle": "trom_cap_tai_san",
           "Mischief": "gay_roi", "Break and Enter Residential/Other": "trom_cap_tai_san"}
SHIPPED = {"Homicide": "giet_nguoi"}


def english():
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    return app.app_context()


@pytest.fixture
def vancouver(engine):
    """The engine with the Vancouver local areas as boundary version ``vancouver``."""
    gb.save_version(engine, gb.read_layer(AREAS, gb.FieldMap(code="mapid", name="name")), "vancouver")
    return engine


def add_trom_xe(engine):
    with engine.begin() as conn:
        cs.add(conn, "trom_xe", "Trộm xe", "Vehicle theft", ["duong_pho"])


def write_map(path, mapping) -> str:
    pd.DataFrame({"label": list(mapping), "category": list(mapping.values())}).to_csv(path, index=False)
    return str(path)


def expected_codes(types: pd.Series, mapping: dict) -> pd.Series:
    return types.map(mapping).astype(object).fillna(types.map(SHIPPED).astype(object)).fillna("khac")


def stored_counts(engine, source: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT category, COUNT(*) FROM incident WHERE source = :s GROUP BY category"),
                                 {"s": source}).all())


# --------------------------------------------------------------------------- built-ins and migration

def test_built_ins_are_seeded_unchanged(engine):
    cat = cs.catalogue(engine)
    assert [(c, *cat.categories[c]) for c in cat.categories] == BUILTINS
    assert {g: set(m) for g, m in cat.groups.items()} == GROUP_MEMBERS
    assert {g: set(m) for g, m in BUILTIN.groups.items()} == GROUP_MEMBERS
    assert [(c, *BUILTIN.categories[c]) for c in BUILTIN.categories] == BUILTINS
    assert cat.label("duong_pho", "vi") == "Tội phạm đường phố" and cat.label("te_nan", "en") == "Social evils"
    assert all(cat.builtin(c) for c, _vi, _en in BUILTINS)


def test_migration_upgrades_and_downgrades(db_url, engine):
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0009")
    names = set(inspect(engine).get_table_names())
    assert not names & {"category", "category_group", "source_category_map"}
    command.upgrade(cfg, "head")
    assert {"category", "category_group", "source_category_map"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM category WHERE builtin")).scalar() == 15
        assert conn.execute(text("SELECT COUNT(*) FROM category_group")).scalar() == 4 + 3 + 13


# --------------------------------------------------------------------------- user categories

def test_add_rename_group_and_remove(engine):
    add_trom_xe(engine)
    cat = cs.catalogue(engine)
    assert cat.label("trom_xe", "vi") == "Trộm xe" and not cat.builtin("trom_xe")
    assert "trom_xe" in cat.expand(["duong_pho"]) and "trom_xe" not in cat.expand(["te_nan"])
    assert cat.lookup("trom xe") == "trom_xe" and cat.lookup("VEHICLE THEFT") == "trom_xe"
    with engine.begin() as conn:
        cs.rename(conn, "trom_xe", "Trộm cắp xe", "Theft of vehicles")
        cs.set_groups(conn, "trom_xe", ["te_nan", "trat_tu_xa_hoi"])
    cat = cs.catalogue(engine)
    assert cat.categories["trom_xe"] == ("Trộm cắp xe", "Theft of vehicles")
    assert "trom_xe" in cat.expand(["te_nan"]) and "trom_xe" not in cat.expand(["duong_pho"])
    with english(), engine.begin() as conn, pytest.raises(InputError, match="built-in"):
        cs.remove(conn, "khac")
    with engine.begin() as conn, pytest.raises(InputError):  # its label folds like a built-in's
        cs.add(conn, "cuop_2", "Cướp", "Robbery")
    with engine.begin() as conn, pytest.raises(InputError):
        cs.add(conn, "Bad Code", "Mã xấu", "Bad code")
    with engine.begin() as conn:
        cs.remove(conn, "trom_xe")
    assert "trom_xe" not in cs.catalogue(engine).categories


def test_category_map_file_errors_name_the_line(tmp_path):
    cat = BUILTIN
    bad = tmp_path / "map.csv"
    bad.write_text("label,category\nTheft from Vehicle,trom_cap_tai_san\nMischief,no_such_code\n", encoding="utf-8")
    with english(), pytest.raises(InputError, match=r"map.csv, line 3: 'no_such_code' is not a category code"):
        read_category_map(bad, cat)
    yml = tmp_path / "map.yaml"
    yml.write_text("Theft from Vehicle: trom_cap_tai_san\n\nMischief: gay_roi\nHomicide: nope\n", encoding="utf-8")
    with english(), pytest.raises(InputError, match=r"map.yaml, line 4: 'nope'"):
        read_category_map(yml, cat)
    yml.write_text("Theft from Vehicle: trom_cap_tai_san\nMischief: gay_roi\n", encoding="utf-8")
    assert read_category_map(yml, cat) == {"Theft from Vehicle": "trom_cap_tai_san", "Mischief": "gay_roi"}
    twice = tmp_path / "twice.csv"
    twice.write_text("label,category\nMischief,gay_roi\nMISCHIEF,vu_khi\n", encoding="utf-8")
    with english(), pytest.raises(InputError, match="line 3.*already given on line 2"):
        read_category_map(twice, cat)


# --------------------------------------------------------------------------- the Vancouver file

def test_vancouver_labels_are_filed_by_the_mapping_and_remembered(vancouver, tmp_path):
    engine = vancouver
    add_trom_xe(engine)
    sample = vancouver_sample(2024, 2000, seed=138)
    sample.to_csv(tmp_path / "vpd_2024.csv", index=False)
    cmap = read_category_map(write_map(tmp_path / "map.csv", MAPPING), cs.catalogue(engine))
    res = import_file(engine, tmp_path / "vpd_2024.csv", source="vpd", now=NOW, category_map=cmap, tolerance_m=0)
    assert res.accepted == 2000 and res.rejected == 0
    assert stored_counts(engine, "vpd") == expected_codes(sample["type"], MAPPING).value_counts().to_dict()

    # every label filed as "khac", with its rows, most frequent first: pandas' value_counts
    unknown = sample["type"][~sample["type"].isin(list(MAPPING) + list(SHIPPED))].value_counts()
    got = res.unknown_categories
    assert list(zip(got["label"], got["count"])) == sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))
    assert len(got) >= 3  # Other Theft, Break and Enter Commercial, collisions (with injury)

    # the next import of the source, without a file, files by the remembered mapping
    second = vancouver_sample(2023, 2000, seed=139)
    second.to_csv(tmp_path / "vpd_2023.csv", index=False)
    import_file(engine, tmp_path / "vpd_2023.csv", source="vpd", now=NOW, tolerance_m=0)
    both = pd.concat([sample, second])
    assert stored_counts(engine, "vpd") == expected_codes(both["type"], MAPPING).value_counts().to_dict()
    # another source does not share it
    second.assign(id="x" + second["id"]).to_csv(tmp_path / "other.csv", index=False)
    import_file(engine, tmp_path / "other.csv", source="other", now=NOW, tolerance_m=0)
    assert stored_counts(engine, "other") == expected_codes(second["type"], {}).value_counts().to_dict()

    # the aggregates the maps read hold the user category too: per area, as geopandas counts it
    placed = points_in_areas(sample.assign(code=expected_codes(sample["type"], MAPPING)))
    want = placed[placed["code"] == "trom_xe"].groupby("mapid").size()
    counts = area_counts(engine, boundary="vancouver", start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31),
                         categories=["trom_xe"]).set_index("code")["count"]
    assert counts[counts > 0].sort_index().to_dict() == want.sort_index().to_dict()
    duong_pho = area_counts(engine, boundary="vancouver", start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31),
                            categories=["duong_pho"])["count"].sum()
    assert duong_pho == placed["code"].isin(["trom_xe", "trom_cap_tai_san", "gay_roi"]).sum()


def test_unknown_label_warning_lists_every_label(vancouver, tmp_path):
    sample = vancouver_sample(2022, 2000, seed=7)
    sample.to_csv(tmp_path / "vpd.csv", index=False)
    with english():
        res = import_file(vancouver, tmp_path / "vpd.csv", source="vpd", now=NOW, tolerance_m=0)
    unknown = sample["type"][sample["type"] != "Homicide"].value_counts()
    assert dict(zip(res.unknown_categories["label"], res.unknown_categories["count"])) == unknown.to_dict()
    assert list(res.unknown_categories["count"]) == sorted(unknown, reverse=True)
    warning = next(w for w in res.warnings if "filed as 'Khác'" in w)
    assert warning.startswith(f"{unknown.sum():,} rows have a category")
    for label, n in unknown.items():
        assert f"'{label}' ({n:,})" in warning


def test_unknown_label_warning_shows_twenty_and_says_how_many_more(vancouver, tmp_path):
    labels = [f"Loại {i:02d}" for i in range(25)]
    # three rows of each, ten more of the last one, which the warning names first
    sample = vancouver_sample(2024, 25 * 3 + 10, seed=1).assign(
        type=[lab for lab in labels for _ in range(3)] + ["Loại 24"] * 10)
    sample.to_csv(tmp_path / "many.csv", index=False)
    with english():
        res = import_file(vancouver, tmp_path / "many.csv", source="many", now=NOW, tolerance_m=0)
    assert len(res.unknown_categories) == 25 and res.unknown_categories["label"].iloc[0] == "Loại 24"
    warning = next(w for w in res.warnings if "filed as 'Khác'" in w)
    assert warning.endswith("and 5 more") and warning.index("'Loại 24'") < warning.index("'Loại 00'")


def test_raw_label_filter_counts(vancouver, tmp_path):
    sample = vancouver_sample(2024, 2000, seed=138)
    # the same label written with other white space is the same raw label
    sample.loc[:4, "type"] = "  Theft  from\u00a0Vehicle "
    sample.to_csv(tmp_path / "vpd.csv", index=False)
    import_file(vancouver, tmp_path / "vpd.csv", source="vpd", now=NOW, tolerance_m=0)
    sample["type"] = sample["type"].map(lambda s: " ".join(s.split()))
    placed = points_in_areas(sample)
    start, end = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
    for labels in (["Mischief"], ["Theft of Bicycle", "Theft from Vehicle"]):
        want = placed[placed["type"].isin(labels)].groupby("mapid").size()
        got = area_counts(vancouver, boundary="vancouver", start=start, end=end,
                          categories=list(raw_terms(labels))).set_index("code")["count"]
        assert got[got > 0].sort_index().to_dict() == want.sort_index().to_dict()
        # the incident path (analyses that read points) agrees
        inc = analysis.incidents(vancouver, boundary="vancouver", start=start, end=end,
                                 categories=list(raw_terms(labels)))
        assert len(inc) == sample["type"].isin(labels).sum()
    # with a category too, both must hold (Mischief is filed as "khac" here)
    rows = day_rows(vancouver, "SUM(d.n)", boundary="vancouver", start=start, end=end,
                    categories=["gay_roi", *raw_terms(["Mischief"])], group_by="")
    assert rows[0][0] is None


def test_refiling_applies_the_current_mapping(vancouver, tmp_path):
    engine = vancouver
    add_trom_xe(engine)
    sample = vancouver_sample(2024, 2000, seed=138)
    sample.to_csv(tmp_path / "vpd.csv", index=False)
    import_file(engine, tmp_path / "vpd.csv", source="vpd", now=NOW, tolerance_m=0)
    assert stored_counts(engine, "vpd") == expected_codes(sample["type"], {}).value_counts().to_dict()
    before = analysis.data_version(engine)
    with engine.begin() as conn:
        cs.set_source_map(conn, "vpd", MAPPING)
    # a changed mapping leaves the stored incidents alone …
    assert stored_counts(engine, "vpd") == expected_codes(sample["type"], {}).value_counts().to_dict()
    moved = cs.refile(engine, "vpd", by=accounts.COMMAND_LINE)
    # … until they are re-filed
    want = expected_codes(sample["type"], MAPPING)
    assert moved == int((want != expected_codes(sample["type"], {})).sum())
    assert stored_counts(engine, "vpd") == want.value_counts().to_dict()
    placed = points_in_areas(sample.assign(code=want))
    with engine.connect() as conn:
        agg = dict(conn.execute(text(
            "SELECT category, SUM(n) FROM area_day WHERE version_id = (SELECT id FROM boundary_version "
            "WHERE name = 'vancouver') GROUP BY category")).all())
    assert agg == placed["code"].value_counts().to_dict()
    assert analysis.data_version(engine) != before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_log WHERE action = 'category_refile' "
                                 "AND target = 'vpd'")).scalar() == 1
    with english(), engine.begin() as conn, pytest.raises(InputError, match="incidents are filed under"):
        cs.remove(conn, "trom_xe")  # now in use
