"""Write the time-of-day test files (tests/data/times_*): time ranges in one cell, end columns,
unknown times, and bad ranges, as police files write them.

    /work/main/.venv/bin/python tests/data/make_time_files.py

The XLSX file holds real Excel date and time cells (openpyxl). Every point is Chợ Bến Thành.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
LON, LAT = 106.6981, 10.7725
THEFT = "Trộm cắp tài sản"


def write_csv(name: str, header: list[str], rows: list[list]) -> None:
    with open(HERE / name, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def main() -> None:
    write_csv("times_ranges.csv",
              ["Mã vụ", "Ngày xảy ra", "Giờ xảy ra", "Đến giờ", "Loại tội phạm", "Kinh độ", "Vĩ độ"], [
                  ["T01", "10/03/2025", "22:00-06:00", "", THEFT, LON, LAT],
                  ["T02", "11/03/2025", "22h - 6h", "", THEFT, LON, LAT],
                  ["T03", "12/03/2025", "từ 22 giờ đến 6 giờ sáng", "", THEFT, LON, LAT],
                  ["T04", "13/03/2025", "14h30", "16h", THEFT, LON, LAT],
                  ["T05", "14/03/2025", "23:00", "02:00", THEFT, LON, LAT],
                  ["T06", "15/03/2025", "", "", THEFT, LON, LAT],
                  ["T07", "16/03/2025 08:15", "", "", THEFT, LON, LAT],
              ])
    write_csv("times_bad.csv",
              ["Mã vụ", "Ngày xảy ra", "Giờ xảy ra", "Đến ngày", "Đến giờ", "Loại tội phạm", "Kinh độ", "Vĩ độ"], [
                  ["B01", "10/03/2025", "22:00-06:00", "", "", THEFT, LON, LAT],
                  ["B02", "10/03/2025", "22h-25h", "", "", THEFT, LON, LAT],
                  ["B03", "10/03/2025", "10:00", "09/03/2025", "", THEFT, LON, LAT],
                  ["B04", "10/03/2025", "08:00", "", "sáng", THEFT, LON, LAT],
              ])
    wb = Workbook()
    ws = wb.active
    ws.append(["Mã vụ", "Ngày xảy ra", "Giờ xảy ra", "Đến ngày", "Đến giờ", "Loại tội phạm", "Kinh độ", "Vĩ độ"])
    ws.append(["X01", dt.date(2025, 3, 17), dt.time(21, 0), dt.date(2025, 3, 18), dt.time(7, 30), THEFT, LON, LAT])
    ws.append(["X02", dt.date(2025, 3, 18), None, dt.date(2025, 3, 20), None, THEFT, LON, LAT])
    ws.append(["X03", dt.date(2025, 3, 19), "22h-2h", None, None, THEFT, LON, LAT])
    ws.append(["X04", dt.date(2025, 3, 20), None, None, None, THEFT, LON, LAT])
    for row in ws.iter_rows(min_row=2):
        row[1].number_format = row[3].number_format = "dd/mm/yyyy"
        row[2].number_format = row[4].number_format = "hh:mm"
    wb.save(HERE / "times_ranges.xlsx")


if __name__ == "__main__":
    main()
