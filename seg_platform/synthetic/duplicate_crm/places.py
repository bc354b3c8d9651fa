"""Places: cities with their postcodes and dialling codes, streets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    aliases: tuple[str, ...]  # other ways people write it
    codes: tuple[str, ...]  # ZIP3 prefixes (US), outward codes (GB), FSAs (CA)
    area: tuple[str, ...]  # area codes (NANP) or GB area code without the trunk 0


def _c(name: str, codes: str, area: str, *aliases: str) -> City:
    return City(name, aliases, tuple(codes.split()), tuple(area.split()))


CITIES: dict[str, tuple[City, ...]] = {
    "US": (
        _c("New York", "100 101 102 103 104", "212 646 917 718", "NYC", "New York City", "NY"),
        _c("Los Angeles", "900 901", "213 310 323", "LA", "L.A."),
        _c("Chicago", "606", "312 773", "Chgo"),
        _c("Houston", "770", "713 832"),
        _c("Phoenix", "850", "602 480"),
        _c("Philadelphia", "191", "215 267", "Phila", "Philly"),
        _c("San Antonio", "782", "210"),
        _c("San Diego", "921", "619 858"),
        _c("Dallas", "752", "214 469"),
        _c("Boston", "021 022", "617 857"),
        _c("Seattle", "981", "206"),
        _c("Austin", "787", "512 737"),
        _c("Denver", "802", "303 720"),
        _c("Atlanta", "303", "404 678"),
        _c("Miami", "331", "305 786"),
        _c("St. Louis", "631", "314", "Saint Louis", "St Louis"),
        _c("Fort Worth", "761", "817", "Ft Worth", "Ft. Worth"),
        _c("Portland", "972", "503 971"),
        _c("Newark", "071", "973 862"),
        _c("Springfield", "011", "413"),
        _c("Hartford", "061", "860"),
        _c("Salt Lake City", "841", "801 385", "SLC", "Salt Lake"),
        _c("Minneapolis", "554", "612", "Mpls"),
        _c("Pittsburgh", "152", "412", "Pittsburg"),
    ),
    "GB": (
        _c("London", "E1 E14 N1 N7 NW1 NW3 SE1 SE15 SW11 SW1A W1 W2 WC1 EC1", "20"),
        _c("Birmingham", "B1 B15 B29", "121", "B'ham"),
        _c("Manchester", "M1 M14 M20", "161"),
        _c("Leeds", "LS1 LS6", "113"),
        _c("Glasgow", "G1 G12", "141"),
        _c("Liverpool", "L1 L8", "151"),
        _c("Bristol", "BS1 BS8", "117"),
        _c("Sheffield", "S1 S10", "114"),
        _c("Edinburgh", "EH1 EH3", "131", "Edinburgh City"),
        _c("Cardiff", "CF10 CF24", "29", "Caerdydd"),
        _c("Nottingham", "NG1 NG7", "115", "Nottm"),
        _c("Newcastle upon Tyne", "NE1 NE6", "191", "Newcastle", "Newcastle-upon-Tyne"),
        _c("Brighton", "BN1 BN2", "1273", "Brighton and Hove", "Hove"),
        _c("Oxford", "OX1 OX4", "1865"),
        _c("Cambridge", "CB1 CB2", "1223"),
        _c("Belfast", "BT1 BT9", "28"),
    ),
    "CA": (
        _c("Toronto", "M5V M4C M6K", "416 647", "TO", "Toronto ON"),
        _c("Montreal", "H2X H3A", "514 438", "Montréal", "Mtl"),
        _c("Vancouver", "V6B V5K", "604 778", "Van"),
        _c("Calgary", "T2P T3A", "403 587"),
        _c("Ottawa", "K1A K2P", "613 343"),
        _c("Edmonton", "T5J", "780"),
        _c("Winnipeg", "R3C", "204"),
        _c("Quebec City", "G1R", "418", "Québec", "Quebec"),
        _c("Halifax", "B3H", "902"),
        _c("Mississauga", "L5B", "905", "Missisauga"),
    ),
}
COUNTRY_MIX = {"US": 0.6, "GB": 0.28, "CA": 0.12}
COUNTRY_NAMES = {
    "US": (("US", 0.3), ("USA", 0.25), ("United States", 0.25), ("us", 0.05), ("U.S.", 0.05),
           ("United States of America", 0.07), ("U.S.A.", 0.03)),
    "GB": (("GB", 0.25), ("UK", 0.3), ("United Kingdom", 0.3), ("England", 0.08),
           ("Great Britain", 0.04), ("gb", 0.03)),
    "CA": (("CA", 0.35), ("Canada", 0.5), ("CAN", 0.1), ("canada", 0.05)),
}  # fmt: skip
# The part of the UK people name instead of the country.
GB_NATIONS = {"Glasgow": "Scotland", "Edinburgh": "Scotland", "Cardiff": "Wales",
              "Belfast": "Northern Ireland"}  # fmt: skip

STREETS = (
    "Main", "Oak", "Maple", "Park", "Church", "High", "Station", "Cedar", "Pine", "Elm",
    "Washington", "Lake", "Hill", "Victoria", "King", "Queen", "Mill", "School", "Green",
    "Spring", "Chestnut", "Walnut", "Willow", "Birch", "Ridge", "Sunset", "Highland", "Jackson",
    "Lincoln", "Franklin", "Madison", "Grove", "York", "Albert", "Castle", "Manor", "Orchard",
    "Meadow", "Forest", "River", "Bridge", "Market", "North", "South", "Broad", "Union",
    "Cherry", "Riverside", "Windsor", "Kingsway", "Belmont", "Cambridge", "Grange", "Stanley",
)  # fmt: skip
# Street type: full form and the abbreviations people write for it.
STREET_TYPES = (
    ("Street", ("St", "St.", "Str")), ("Road", ("Rd", "Rd.")), ("Avenue", ("Ave", "Ave.", "Av")),
    ("Lane", ("Ln", "Ln.")), ("Drive", ("Dr", "Dr.")), ("Court", ("Ct", "Ct.")),
    ("Place", ("Pl", "Pl.")), ("Boulevard", ("Blvd", "Blvd.")), ("Close", ("Cl",)),
    ("Crescent", ("Cres", "Cresc")), ("Terrace", ("Ter", "Terr")), ("Way", ("Wy",)),
    ("Gardens", ("Gdns",)), ("Square", ("Sq", "Sq.")),
)  # fmt: skip
STREET_TYPE_MIX = {
    "US": (0.3, 0.08, 0.2, 0.08, 0.14, 0.06, 0.04, 0.06, 0.0, 0.0, 0.0, 0.04, 0.0, 0.0),
    "GB": (0.22, 0.25, 0.08, 0.1, 0.05, 0.03, 0.03, 0.0, 0.08, 0.05, 0.05, 0.03, 0.02, 0.01),
    "CA": (0.3, 0.12, 0.2, 0.06, 0.14, 0.06, 0.04, 0.04, 0.0, 0.02, 0.0, 0.02, 0.0, 0.0),
}  # fmt: skip
DIRECTIONS = (("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"))
