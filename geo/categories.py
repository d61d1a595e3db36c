"""Crime categories named in the committees' reports, with Vietnamese and English labels.

Codes are stable ASCII identifiers stored with each incident. ``GROUPS`` are
the groupings the reports use ("tội phạm đường phố" = street crime).
"""
from __future__ import annotations

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
    vi, en, _ = CATEGORIES.get(code) or GROUPS.get(code) or (code, code, ())
    return vi if lang == "vi" else en


def expand(codes_or_groups) -> list[str]:
    """Category codes for a mix of category and group codes."""
    out = []
    for c in codes_or_groups:
        out.extend(GROUPS[c][2] if c in GROUPS else [c])
    return sorted(set(out))
