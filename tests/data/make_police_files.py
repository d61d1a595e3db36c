"""Write the police-export test files (tests/data/police_*), as police units' software and Excel do.

    /work/main/.venv/bin/python tests/data/make_police_files.py

openpyxl writes real Excel cell types: date cells, datetime cells, time cells and plain numbers
holding Excel time fractions. The points are representative points of real wards of Hồ Chí Minh
City (the shipped 2025 layer), projected with pyproj for the VN-2000 files;
``police_expected.csv`` lists each incident that must be accepted, with its WGS 84 point and
local time, for the tests' independent check.
"""
from __future__ import annotations

import csv
import datetime as dt
import unicodedata
from pathlib import Path

import geopandas as gpd
from openpyxl import Workbook
from pyproj import CRS, Transformer
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion

HERE = Path(__file__).resolve().parent
WARDS = HERE.parents[2] / "shared" / "data" / "boundaries" / "hcmc_wards_2025.geojson"
if not WARDS.exists():
    WARDS = Path("/work/shared/data/boundaries/hcmc_wards_2025.geojson")

CATS = ["Trộm cắp tài sản", "Cướp giật tài sản", "Lừa đảo chiếm đoạt tài sản", "Ma túy", "Gây rối trật tự công cộng"]


def points(n: int = 8):
    wards = gpd.read_file(WARDS).sort_values("code").reset_index(drop=True)
    picked = wards.iloc[[i * 9 for i in range(n)]]
    rep = picked.geometry.representative_point()
    return [(round(p.x, 6), round(p.y, 6)) for p in rep]


def tm3(central_meridian: float) -> CRS:
    return ProjectedCRS(conversion=TransverseMercatorConversion(
        latitude_natural_origin=0, longitude_natural_origin=central_meridian, scale_factor_natural_origin=0.9999,
        false_easting=500000, false_northing=0), geodetic_crs=CRS.from_epsg(4756))


def cp1258(text: str) -> bytes:
    # Python's cp1258 codec knows only some precomposed letters (â ê ô ơ ư ă đ): write each other
    # letter as one of those (or its base letter) followed by the combining tone mark
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        d = unicodedata.normalize("NFD", ch)
        base, marks = d[0], d[1:]
        for i, mark in enumerate(marks):
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1 and composed.encode("cp1258", errors="ignore"):
                base, marks = composed, marks[:i] + marks[i + 1:]
                break
        out += (base + marks).encode("cp1258")
    return bytes(out)


def main():
    pts = points()
    expected = []  # file, id, local time, lon, lat

    # --- A: date cells + a text time column; every problem of a row; pre-1900 and future dates
    wb = Workbook()
    ws = wb.active
    ws.append(["Mã vụ", "Ngày xảy ra", "Giờ", "Loại tội phạm", "Kinh độ (WGS84)", "Vĩ độ (WGS 84)", "Ghi chú"])
    times = ["16:31", "14h30", "14 giờ 30", "08:05", "23:59", "00:10"]
    for i, t in enumerate(times):
        day = dt.datetime(2024, 3, 1 + i)
        ws.append([f"A{i + 1:02d}", day, t, CATS[i % 5], pts[i][0], pts[i][1], "ghi chú"])
        h, m = (int(x) for x in t.replace("h", ":").replace(" giờ ", ":").split(":"))
        expected.append(("police_text_time.xlsx", f"A{i + 1:02d}", day.replace(hour=h, minute=m), *pts[i]))
    # a datetime cell with its own time: the time column does not apply
    ws.append(["A07", dt.datetime(2024, 5, 1, 9, 15), "16:31", CATS[0], pts[6][0], pts[6][1], ""])
    expected.append(("police_text_time.xlsx", "A07", dt.datetime(2024, 5, 1, 9, 15), *pts[6]))
    # row 9: bad time, bad latitude, no category (three reasons); a formula-like note
    ws.append(["A08", dt.datetime(2024, 3, 9), "25:70", None, pts[7][0], "10,7x", '=HYPERLINK("http://x")'])
    ws.cell(ws.max_row, 7).data_type = "s"  # text as police software writes it, not a formula
    ws.append(["A09", "15/03/1890", "10:00", CATS[1], pts[0][0], pts[0][1], ""])   # row 10: before 1900
    ws.append(["A10", dt.datetime(2031, 1, 1), "10:00", CATS[1], pts[1][0], pts[1][1], ""])  # row 11: future
    for row in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        if isinstance(row[0].value, dt.datetime):
            row[0].number_format = "dd/mm/yyyy" if row[0].value.hour == 0 else "dd/mm/yyyy hh:mm"
    wb.save(HERE / "police_text_time.xlsx")

    # --- B: datetime cells, headers qualified after a comma
    wb = Workbook()
    ws = wb.active
    ws.append(["Mã vụ", "Ngày giờ xảy ra", "Loại tội phạm", "Kinh độ, WGS84", "Vĩ độ, WGS84"])
    for i in range(5):
        when = dt.datetime(2024, 6, 10 + i, 7 + i, 5 * i)
        ws.append([f"B{i + 1:02d}", when, CATS[i], pts[i][0], pts[i][1]])
        ws.cell(ws.max_row, 2).number_format = "dd/mm/yyyy hh:mm"
        expected.append(("police_datetime_cells.xlsx", f"B{i + 1:02d}", when, *pts[i]))
    wb.save(HERE / "police_datetime_cells.xlsx")

    # --- C: date cells + Excel time fractions (plain numbers) or time cells
    wb = Workbook()
    ws = wb.active
    ws.append(["Mã vụ", "Ngày xảy ra", "Giờ xảy ra", "Loại tội phạm", "Kinh độ", "Vĩ độ"])
    cases = [(0.6881, (16, 31)), (991 / 1440, (16, 31)), (0.25, (6, 0)), (dt.time(21, 45), (21, 45)),
             (dt.time(0, 5), (0, 5))]
    for i, (t, (h, m)) in enumerate(cases):
        day = dt.datetime(2024, 7, 1 + i)
        ws.append([f"C{i + 1:02d}", day, t, CATS[i], pts[i + 2][0], pts[i + 2][1]])
        ws.cell(ws.max_row, 2).number_format = "dd/mm/yyyy"
        expected.append(("police_time_fractions.xlsx", f"C{i + 1:02d}", day.replace(hour=h, minute=m), *pts[i + 2]))
    wb.save(HERE / "police_time_fractions.xlsx")

    # --- D: VN-2000 / UTM zone 48N (EPSG:3405), X = northing and Y = easting as Vietnamese surveys write
    to3405 = Transformer.from_crs("EPSG:4326", "EPSG:3405", always_xy=True)
    wb = Workbook()
    ws = wb.active
    ws.append(["Mã vụ", "Thời gian xảy ra", "Loại tội phạm", "X (VN-2000, múi 48)", "Y (VN-2000, múi 48)"])
    for i in range(6):
        e, n = to3405.transform(*pts[i])
        when = dt.datetime(2024, 8, 1 + i, 10, 0)
        ws.append([f"D{i + 1:02d}", when.strftime("%d/%m/%Y %H:%M"), CATS[i % 5], round(n, 2), round(e, 2)])
        expected.append(("police_vn2000.xlsx", f"D{i + 1:02d}", when, *pts[i]))
    wb.save(HERE / "police_vn2000.xlsx")

    # --- E: VN-2000 TM-3 central meridian 105°45' in a CSV, X = easting
    tm = Transformer.from_crs("EPSG:4326", tm3(105.75), always_xy=True)
    with open(HERE / "police_vn2000_tm3.csv", "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["Mã vụ", "Ngày xảy ra", "Loại tội phạm", "Tọa độ X (VN2000 105°45')", "Tọa độ Y (VN2000 105°45')"])
        for i in range(4):
            e, n = tm.transform(*pts[i + 4])
            when = dt.datetime(2024, 9, 1 + i, 12, 30)
            w.writerow([f"E{i + 1:02d}", when.strftime("%d/%m/%Y %H:%M"), CATS[i], f"{e:.2f}", f"{n:.2f}"])
            expected.append(("police_vn2000_tm3.csv", f"E{i + 1:02d}", when, *pts[i + 4]))

    # --- F: "Tọa độ 1" / "Tọa độ 2" holding latitude then longitude
    with open(HERE / "police_swapped.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Mã vụ", "Ngày xảy ra", "Loại tội phạm", "Tọa độ 1", "Tọa độ 2"])
        for i in range(5):
            when = dt.datetime(2024, 10, 1 + i, 20, 0)
            w.writerow([f"F{i + 1:02d}", when.strftime("%d/%m/%Y %H:%M"), CATS[i], pts[i][1], pts[i][0]])
            expected.append(("police_swapped.csv", f"F{i + 1:02d}", when, *pts[i]))

    # --- G: ';' separated Windows-1258, rows with several problems and formula-like cells
    rows = [["Mã vụ", "Ngày xảy ra", "Giờ", "Loại tội phạm", "Kinh độ", "Vĩ độ", "Địa chỉ"]]
    good = [("G01", "02/11/2024", "08:00", CATS[0], pts[0], "12 Lê Lợi"),
            ("G02", "03/11/2024", "09:30", CATS[1], pts[1], "-5 Nguyễn Huệ"),
            ("G05", "06/11/2024", "22:15", CATS[4], pts[4], "@bến xe")]
    for ext, d, t, c, (lo, la), addr in good:
        rows.append([ext, d, t, c, f"{lo}".replace(".", ","), f"{la}".replace(".", ","), addr])
        day, mon, yr = (int(x) for x in d.split("/"))
        h, m = (int(x) for x in t.split(":"))
        expected.append(("police_rejects_cp1258.csv", ext, dt.datetime(yr, mon, day, h, m), lo, la))
    rows.insert(3, ["G03", "04/11/2024", "7g99", "", f"{pts[2][0]}".replace(".", ","), "abc", "=1+2"])
    rows.insert(4, ["G04", "31/02/2024", "10:00", CATS[3], f"{pts[3][0]}".replace(".", ","),
                    f"{pts[3][1]}".replace(".", ","), "Hẻm 5"])
    text = "\r\n".join(";".join(r) for r in rows) + "\r\n"
    (HERE / "police_rejects_cp1258.csv").write_bytes(cp1258(text))

    with open(HERE / "police_expected.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "external_id", "local_time", "lon", "lat"])
        for file, ext, when, lo, la in expected:
            w.writerow([file, ext, when.strftime("%Y-%m-%d %H:%M"), lo, la])


if __name__ == "__main__":
    main()
