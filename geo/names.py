"""Normalising Vietnamese names and labels for matching (case, diacritics, abbreviations)."""
from __future__ import annotations

import re
import unicodedata

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
