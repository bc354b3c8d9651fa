"""How people's contact details are written: phone formats, email variants, name typos."""

from typing import Any

import numpy as np
import polars as pl

from seg_platform.synthetic.company.randomness import affine
from seg_platform.synthetic.company.vectors import take
from seg_platform.synthetic.company.vocabulary import FIRST_NAMES, LAST_NAMES

# Phones: NANP numbers whose area code and exchange never start with 0/1, are never N11 and
# never 555, so every number looks real yet is not a reserved fictional one.
_NANP3 = np.array([c for c in range(200, 1000) if c % 100 != 11 and c != 555], dtype=np.int64)
_PHONE_SPACE = len(_NANP3) ** 2 * 10_000
PHONE_FORMATS = (
    "+1 AAA-EEE-LLLL",
    "(AAA) EEE-LLLL",
    "AAA.EEE.LLLL",
    "AAAEEELLLL",
    "+1AAAEEELLLL",
    "AAA-EEE-LLLL",
    "1-AAA-EEE-LLLL",
)
PHONE_FORMAT_MIX = np.array([0.2, 0.25, 0.1, 0.15, 0.15, 0.1, 0.05])


def phone_numbers(pidx: np.ndarray, fmt: np.ndarray | None, salt: int) -> pl.Series:
    """Each person's unique US number, E.164 when `fmt` is None, else in PHONE_FORMATS[fmt]."""
    y = affine(pidx, _PHONE_SPACE, salt)
    line = y % 10_000
    rest = y // 10_000
    df = pl.DataFrame(
        {
            "a": _NANP3[rest // len(_NANP3)],
            "e": _NANP3[rest % len(_NANP3)],
            "l": line,
            "f": np.zeros(len(y), dtype=np.int64) if fmt is None else fmt,
        }
    )
    a, e = pl.col("a").cast(pl.String), pl.col("e").cast(pl.String)
    ln = pl.col("l").cast(pl.String).str.zfill(4)
    if fmt is None:
        return df.select(pl.concat_str(pl.lit("+1"), a, e, ln)).to_series()
    expr: Any = pl.when(pl.col("f") == 0).then(
        pl.concat_str(pl.lit("+1 "), a, pl.lit("-"), e, pl.lit("-"), ln)
    )
    pieces = (
        (pl.lit("("), a, pl.lit(") "), e, pl.lit("-"), ln),
        (a, pl.lit("."), e, pl.lit("."), ln),
        (a, e, ln),
        (pl.lit("+1"), a, e, ln),
        (a, pl.lit("-"), e, pl.lit("-"), ln),
        (pl.lit("1-"), a, pl.lit("-"), e, pl.lit("-"), ln),
    )
    for code, parts in enumerate(pieces, start=1):
        expr = expr.when(pl.col("f") == code).then(pl.concat_str(*parts))
    return df.select(expr.otherwise(None)).to_series()


def email_variants(emails: pl.Series, codes: np.ndarray, tag: np.ndarray) -> pl.Series:
    """Emails as people type them into forms.

    codes: 0 as is, 1 Title.Case, 2 UPPER, 3 '  Title.Case ', 4 ' lower  ',
    5 Gmail variant (dots removed from the local part, or a +tag when it has no dots; other
    domains fall back to Title.Case). Gmail ignores dots and +tags, so 5 is the same mailbox.
    """
    df = pl.DataFrame({"e": emails, "c": codes, "t": take(("news", "shop", "promo"), tag)})
    e = pl.col("e")
    parts = e.str.split_exact("@", 1)
    local, domain = parts.struct.field("field_0"), parts.struct.field("field_1")
    gmail: Any = pl.when(local.str.contains(".", literal=True)).then(
        pl.concat_str(local.str.replace_all(".", "", literal=True), pl.lit("@"), domain)
    )
    gmail = gmail.otherwise(pl.concat_str(local, pl.lit("+"), pl.col("t"), pl.lit("@"), domain))
    c = pl.col("c")
    expr = (
        pl.when(c == 0)
        .then(e)
        .when(c == 2)
        .then(e.str.to_uppercase())
        .when(c == 3)
        .then(pl.concat_str(pl.lit("  "), e.str.to_titlecase(), pl.lit(" ")))
        .when(c == 4)
        .then(pl.concat_str(pl.lit(" "), e, pl.lit("  ")))
        .when((c == 5) & (domain == "gmail.com"))
        .then(gmail)
        .otherwise(e.str.to_titlecase())
    )
    return df.select(expr).to_series()


_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# A neighbouring key on the same keyboard row: the letter a slipping finger types instead.
_NEIGHBOUR_KEY = {
    row[i]: row[i + 1] if i + 1 < len(row) else row[i - 1]
    for row in _KEYBOARD_ROWS
    for i in range(len(row))
}
N_TYPO_KINDS = 4


def typos(name: str) -> tuple[str, str, str, str]:
    """Four misspellings of a name, each exactly one edit away from it (case aside): two
    neighbouring letters transposed, one letter dropped, one doubled (an insertion), one
    replaced by its neighbour on the keyboard. Where a kind cannot apply (equal neighbours,
    names of three letters) a letter is appended instead, still one insertion."""
    i = max(1, len(name) // 2)
    if i + 1 < len(name) and name[i] != name[i + 1]:
        swapped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    else:
        swapped = name + name[-1]
    dropped = name[:i] + name[i + 1 :] if len(name) > 3 else name + "h"
    doubled = name[: i + 1] + name[i] + name[i + 1 :]
    c = name[i].lower()
    replaced = name[:i] + _NEIGHBOUR_KEY[c] + name[i + 1 :] if c in _NEIGHBOUR_KEY else name + "e"
    return swapped, dropped, doubled, replaced


FIRST_TYPOS = tuple(t for name in FIRST_NAMES for t in typos(name))
LAST_TYPOS = tuple(t for name in LAST_NAMES for t in typos(name))
