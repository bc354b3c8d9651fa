"""First names and surnames at real population frequencies, from Faker's frequency-weighted
lists, with a long tail: how often two unrelated persons share a full name.

Faker's en_US lists are the top of real distributions renormalised to sum to 1: the 1,000
commonest surnames of the 1990 US census (Smith 2.17% of the list, 1.006% of people) and the
top-200 first names of the 1960s-1990s birth decades (SSA). Renormalised, they would make
namesakes three to four times as common as in a real CRM. Here each head keeps its real share
of people and the rest goes to a tail of other real names (Faker's other locales, ordered by a
fixed hash) with Zipf weights continuing the head. Collision probability (sum of squared
shares) of US surnames: about 0.0008, as in the census; of first names about 0.007 (men) and
0.003 (women). Deterministic: the lists come from the pinned Faker release, no random draws.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# Share of people the head of each Faker list covers. Surnames: Smith's share of the 1990
# census (1.006%) over its share of the list; GB: Faker's en_GB weights are already percent.
# First names: about what the SSA's decade tables give for their top 200 names, 1960s-1990s.
US_SURNAME_COVER = 0.01006 / 0.021712045
GB_SURNAME_COVER = 0.3951
MALE_COVER = 0.75
FEMALE_COVER = 0.62
# Locales whose names a US, UK or Canadian customer list also holds (Latin script only).
TAIL_LOCALES = (
    "en_GB", "en_IE", "en_NZ", "en_IN", "en_PK", "es_MX", "es_ES", "fr_CA", "fr_FR",
    "de_DE", "it_IT", "nl_NL", "pt_BR", "sv_SE", "en_US",
)  # fmt: skip
_LATIN = re.compile(r"[A-Za-z][A-Za-z'’ -]*[a-z]$")


def _provider(locale: str) -> Any:
    return importlib.import_module(f"faker.providers.person.{locale}").Provider


def _ascii(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", _ascii(name).lower())


def _census_spelling(name: str, irish: Mapping[str, str]) -> str:
    """The census writes McDonald as MCDONALD and O'Brien as OBRIEN (Faker: Mcdonald, Obrien)."""
    if name in irish:
        return irish[name]
    if name.startswith("Mc") and len(name) > 3:
        return "Mc" + name[2:].capitalize()
    return name


def _tail(attr: str, head: Iterable[str], extra: Iterable[str] = (), spaces: bool = True):
    seen = {_key(n) for n in head}
    out: dict[str, str] = {}
    for locale in TAIL_LOCALES:
        for name in [*getattr(_provider(locale), attr, ()), *extra]:
            k = _key(name)
            if k and k not in seen and _LATIN.match(_ascii(name)) and (spaces or " " not in name):
                out.setdefault(k, name)
    # A fixed, locale-blind order, so no one country's names lead the tail.
    return sorted(out.values(), key=lambda n: hashlib.blake2b(n.encode(), digest_size=8).digest())


def weighted(
    head: Mapping[str, float], cover: float, tail: list[str]
) -> tuple[tuple[str, ...], np.ndarray]:
    """`head` scaled to `cover` of people, `tail` sharing the rest with Zipf weights that
    continue the head's ranks."""
    w = np.array(list(head.values()), dtype=float)
    w = w / w.sum() * cover
    t = 1.0 / (np.arange(1, len(tail) + 1) + len(head))
    t = t / t.sum() * (1.0 - cover)
    return (*head, *tail), np.concatenate([w, t])


def collision(weights: np.ndarray) -> float:
    """Chance that two persons drawn at random share the name: the sum of squared shares."""
    return float(np.square(weights / weights.sum()).sum())


def name_tables(surname_extra: Iterable[str]):
    us, gb = _provider("en_US"), _provider("en_GB")
    irish = {
        n.replace("'", "").title(): n
        for loc in ("en_IE", "en_GB", "en_NZ")
        for n in _provider(loc).last_names
        if "'" in n
    }
    us_last = {_census_spelling(n, irish): w for n, w in us.last_names.items()}
    extra = list(surname_extra)
    surnames = {
        "US": weighted(us_last, US_SURNAME_COVER, _tail("last_names", us_last, extra)),
        "GB": weighted(gb.last_names, GB_SURNAME_COVER, _tail("last_names", gb.last_names, extra)),
    }
    surnames["CA"] = surnames["US"]  # English Canada's surnames are close to the US census
    male = weighted(
        us.first_names_male, MALE_COVER, _tail("first_names_male", us.first_names_male, (), False)
    )
    female = weighted(
        us.first_names_female,
        FEMALE_COVER,
        _tail("first_names_female", us.first_names_female, (), False),
    )
    return surnames, male, female
