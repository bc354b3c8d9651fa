"""A CRM's free-text country ("United Kingdom", "GBR", "U.S.A.", "Scotland") as an ISO 3166-1
alpha-2 region code: the region a phone number in national format is read in."""

from functools import lru_cache

import pycountry

# Names in everyday use that ISO 3166 does not list: "UK" is reserved for the United Kingdom
# but its code is GB; Great Britain and Wales are not subdivision names pycountry looks up.
_ALIASES = {"uk": "GB", "great britain": "GB", "britain": "GB", "wales": "GB"}


@lru_cache(maxsize=4096)
def country_region(value: str | None) -> str | None:
    """ISO alpha-2 code of a country written as a code (GB, GBR), a name in any case, with or
    without dots (U.S.A.), or the name of one of its subdivisions (Scotland, California);
    None when it is none of these."""
    if not value:
        return None
    text = " ".join(value.replace(".", "").split())
    if not text:
        return None
    if text.casefold() in _ALIASES:
        return _ALIASES[text.casefold()]
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        pass
    try:
        return pycountry.subdivisions.lookup(text).country_code
    except LookupError:
        return None
