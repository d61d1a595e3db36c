"""Normalising Vietnamese names and labels for matching (case, diacritics, abbreviations)."""
from __future__ import annotations

import re
import unicodedata

from geo.format import gettext

# An abbreviation counts only with a dot or before a number ("P.7", "P 07", "Q.Gò Vấp"),
# so that names such as "Phú Nhuận" or "Hóc Môn" are left alone.
_ABBREV = [
    (re.compile(rf"^{abbr}\s*(\.\s*|(?=\d)|\s+(?=\d))"), full + " ")
    for abbr, full in [("tp", "thanh pho"), ("tt", "thi tran"), ("ph", "phuong"), ("p", "phuong"),
                       ("q", "quan"), ("x", "xa"), ("h", "huyen")]
]
_PREFIXES = ("phuong ", "xa ", "thi tran ", "dac khu ", "quan ", "huyen ", "thi xa ", "thanh pho ")


def fold(text) -> str:
    """Lower-case ASCII form with single spaces: "Phường Bến Thành" -> "phuong ben thanh"."""
    s = unicodedata.normalize("NFD", str(text)).replace("\u0111", "d").replace("\u0110", "d")
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn").lower()
    s = re.sub(r"[^0-9a-z]+", " ", s)
    return " ".join(s.split())


def fold_unit(text) -> str:
    """Folded unit name with abbreviations expanded and number padding removed.

    "P.7", "P 07", "Phường 7" -> "phuong 7"; "Q. Gò Vấp" -> "quan go vap".
    """
    raw = " ".join(str(text).strip().split()).lower()
    raw = unicodedata.normalize("NFD", raw).replace("\u0111", "d")
    raw = "".join(ch for ch in raw if unicodedata.category(ch) != "Mn")
    if not any(raw.startswith(p) for p in _PREFIXES):
        for pattern, repl in _ABBREV:
            if pattern.match(raw):
                raw = pattern.sub(repl, raw, count=1)
                break
    s = fold(raw)
    return re.sub(r"\b0+(\d)", r"\1", s)


def strip_unit_type(folded: str) -> str:
    """"phuong 7" -> "7"; "quan go vap" -> "go vap"."""
    for p in _PREFIXES:
        if folded.startswith(p):
            return folded[len(p):]
    return folded


_PARENT_PREFIX = re.compile(r"^(Quận|Huyện|Thị xã|Thành phố|Thị trấn|District|Town|City)\s+", re.IGNORECASE)


def display_names(names, parents) -> list[str]:
    """Unit names people can tell apart: a name that repeats among ``names`` gets its parent,
    without the parent's unit word unless the parent is a number ("Phường 7 (Gò Vấp)", "Phường 1
    (Quận 3)"); unique names stay as they are.

    >>> display_names(["Phường 7", "Phường 7", "Bến Thành"], ["Quận Gò Vấp", "Quận 3", "Quận 1"])
    ['Phường 7 (Gò Vấp)', 'Phường 7 (Quận 3)', 'Bến Thành']
    """
    names, parents = list(names), list(parents)
    seen: dict[str, int] = {}
    for n in names:
        seen[fold(n)] = seen.get(fold(n), 0) + 1
    out = []
    for n, p in zip(names, parents):
        if seen[fold(n)] > 1 and isinstance(p, str) and p.strip():
            short = _PARENT_PREFIX.sub("", p.strip())
            short = p.strip() if short.isdigit() else short   # "Quận 3" stays whole: "Phường 1 (Quận 3)"
            out.append(f"{n} ({short})")
        else:
            out.append(n)
    return out


# The house-number word before the first number ("số 12", "số nhà 12", "SN 12") and the street and unit
# abbreviations of addresses ("Đ. Lê Lợi", "P.7", "Q.1"), as whole words after folding.
_HOUSE_WORD = re.compile(r"^(so nha|so|sn)\s+(?=\d)")
_ADDRESS_WORDS = {"d": "duong", "p": "phuong", "q": "quan", "tp": "thanh pho"}


def address_key(text) -> str:
    """The form in which two spellings of one address compare equal: folded (case, diacritics,
    punctuation), without the house-number word, abbreviations written out; "" for no address.

    >>> address_key("số 12 đường Số 3") == address_key("12 Đường số 3") == "12 duong so 3"
    True
    >>> address_key("  Số nhà 5, Đ. Lê Lợi, P.Bến Thành ")
    '5 duong le loi phuong ben thanh'
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    words = _HOUSE_WORD.sub("", fold(text)).split()
    return " ".join(_ADDRESS_WORDS.get(w, w) for w in words)

# Words before a street's name ("đường Quang Trung", "phố Huế"); "Đ." is written out first.
_STREET_WORDS = {"duong", "pho"}
# Words of a house's place on or off the street, stripped with their numbers: "số 12", "hẻm 12/3".
_HOUSE_WORDS = {"so", "sn", "nha", "hem", "ngo", "ngach", "kiet", "can", "lo", "km"}
# Where a unit starts in an address written without commas ("12 Quang Trung P.10 Gò Vấp").
_UNIT_WORDS = {"phuong", "xa", "quan", "huyen", "tp", "thi", "ward", "district"}
_HOUSE_NUMBER = re.compile(r"^\d[\w/\-.]*$")
_UNIT_ABBREV = re.compile(r"^[pqPQ]\.\S*$")
_STREET_DOT = re.compile(r"(?i)(?<!\w)(đ|d)\.\s*")


def street_of(address) -> str | None:
    """The street of an address as written, without house number, alley or units; None without one.

    The street is what follows the last "đường"/"phố" of the address's first part (before the
    first comma), else that part without its leading house number, "số" or "hẻm 12/3". Hand-written:
    no library parses Vietnamese addresses (libpostal needs a 2 GB model).

    >>> [street_of(a) for a in ["số 12 đường Quang Trung, Phường 10", "12 Quang Trung", "Đường Số 3",
    ...                         "QL1A", "hẻm 12/3 Lê Văn Sỹ", "Phường 7", ""]]
    ['Quang Trung', 'Quang Trung', 'Số 3', 'QL1A', 'Lê Văn Sỹ', None, None]
    """
    if not isinstance(address, str):
        return None
    head = _STREET_DOT.sub("đường ", address.split(",")[0])
    words = head.split()
    folded = [fold(w) for w in words]
    keys = [i for i, f in enumerate(folded) if f in _STREET_WORDS and i + 1 < len(words)]
    if keys:
        start = keys[-1] + 1
    else:
        start = 0
        while start < len(words) and (folded[start] in _HOUSE_WORDS or _HOUSE_NUMBER.match(words[start])
                                      or not folded[start]):
            start += 1

    def unit_at(i):   # "Xa lộ Hà Nội" is a street, "Xã Bình Chánh" a unit
        return (folded[i] in _UNIT_WORDS and folded[i:i + 2] != ["xa", "lo"]) or _UNIT_ABBREV.match(words[i])

    end = next((i for i in range(start + 1, len(words)) if unit_at(i)), len(words))
    street = words[start:end]
    if not street or unit_at(start) or all(_HOUSE_NUMBER.match(w) for w in street):
        return None
    text = " ".join(street).strip(" .;-")
    if text.islower():   # "số 3", "quang trung" -> "Số 3", "Quang Trung"
        text = " ".join(w[:1].upper() + w[1:] for w in text.split())
    return text or None


def main_street(addresses) -> str | None:
    """The street most of ``addresses`` are on (compared folded, written as most of them write it)."""
    streets = [s for s in map(street_of, addresses) if s]
    if not streets:
        return None
    by_key: dict[str, list[str]] = {}
    for s in streets:
        by_key.setdefault(fold(s), []).append(s)
    best = max(by_key.values(), key=len)   # ties: the street met first
    return max(set(best), key=lambda s: (best.count(s), s))


def spot_name(street, ward, spot_id, locale: str | None = None) -> str:
    """A hot spot's name in ``locale`` from its main street and ward, both as written: "Khu vực đường
    Quang Trung, Phường 10 (Gò Vấp)"; without a street "Khu vực Phường 10 (Gò Vấp)"; "Điểm 3"."""
    street = street if isinstance(street, str) and street else None
    ward = ward if isinstance(ward, str) and ward else None
    if street and ward:
        return gettext("Area of %(street)s street, %(ward)s", locale, street=street, ward=ward)
    if street or ward:
        return gettext("Area of %(street)s street", locale, street=street) if street \
            else gettext("Area of %(ward)s", locale, ward=ward)
    return gettext("Spot %(n)s", locale, n=spot_id)
