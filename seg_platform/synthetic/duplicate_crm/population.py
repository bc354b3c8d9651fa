"""The population: persons in households, with addresses, jobs, phones and emails over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from seg_platform.synthetic.duplicate_crm.places import (
    CITIES,
    COUNTRY_MIX,
    STREET_TYPE_MIX,
    STREET_TYPES,
    STREETS,
    City,
)
from seg_platform.synthetic.duplicate_crm.randomness import (
    Rand,
    strip_accents,
    zipf_weights,
)
from seg_platform.synthetic.duplicate_crm.rates import (
    ACCOUNT_RATE,
    EMPLOYED_RATE,
    FAMILY_EMAIL_RATE,
    HOUSEHOLD_MIX,
    HOUSEHOLD_SIZES,
    JOB_CHANGE_RATE,
    JUNIOR_RATE,
    LANDLINE_RATE,
    MARRIAGE_IN_WINDOW,
    MOBILE_RATE,
    MOVE_RATE,
    NEW_EMAIL_RATE,
    PERSONAL_EMAIL_RATE,
    SAME_BUILDING_RATE,
    SAME_SURNAME_RATE,
    TWIN_RATE,
)
from seg_platform.synthetic.duplicate_crm.vocabulary import (
    FEMALE_NAMES,
    MALE_NAMES,
    MIDDLE_INITIALS,
    NICKNAMES,
    SURNAMES,
)
from seg_platform.synthetic.duplicate_crm.work import COMPANIES, PERSONAL_DOMAINS, ROLES


@dataclass
class Address:
    number: str
    direction: str  # '' or a DIRECTIONS index as text
    street: str
    stype: int
    unit: str
    postcode: str
    country: str
    city: City


@dataclass
class _Household:
    hid: str
    country: str
    city: City
    address: Address
    prev_address: Address | None = None
    move_ts: int = 0
    landline: tuple[str, tuple[str, ...]] | None = None
    family_email: str | None = None
    surname: str = ""


@dataclass
class _Job:
    company: int
    role: str
    email: str
    since: int  # epoch seconds


@dataclass
class Person:
    pid: str
    household: _Household
    relation: str
    sex: str
    first: str
    middle: str
    last: str
    dob: date
    maiden: str | None = None
    marriage_ts: int = 0
    suffix: str = ""
    twin_of: str | None = None
    mobile: tuple[str, tuple[str, ...]] | None = None
    emails: list[tuple[int, str]] = field(default_factory=list)  # (since, address)
    jobs: list[_Job] = field(default_factory=list)
    user_id: str | None = None
    n_records: int = 1


def epoch(d: datetime) -> int:
    return int((d - datetime(1970, 1, 1)).total_seconds())


class Population:
    def __init__(self, persons: int, r: Rand, start: int, end: int):
        self.r, self.start, self.end = r, start, end
        self.used_phones: set[str] = set()
        self.used_emails: set[str] = set()
        self.buildings: dict[tuple[str, str], list[Address]] = {}
        # Each company's main number, which its staff give as their phone.
        self.switchboards = [
            self._landline_for(r.pick(CITIES[r.pick(("US", "GB"))])) for _ in COMPANIES
        ]
        self.domains = [self._company_domain(name) for name, _ in COMPANIES]
        self.company_w = zipf_weights(len(COMPANIES), 1.0, 3.0)
        self.people: list[Person] = []
        self.n_persons = 0
        self.households: list[_Household] = []
        while len(self.people) < persons:
            self._household(persons - len(self.people))

    # -- identifiers ---------------------------------------------------------------------

    def _phone_digits(self, country: str, area: str, mobile: bool) -> tuple[str, ...]:
        """Groups of the national number without trunk prefix, unique across persons."""
        r = self.r
        while True:
            if country == "GB":
                if mobile:
                    groups: tuple[str, ...] = (
                        "7" + f"{r.int(100, 999)}",
                        f"{r.int(0, 999999):06d}",
                    )
                elif len(area) == 2:
                    groups = (area, f"{r.int(2000, 8999)}", f"{r.int(0, 9999):04d}")
                elif len(area) == 3:
                    groups = (area, f"{r.int(200, 899)}", f"{r.int(0, 9999):04d}")
                else:
                    groups = (area, f"{r.int(200000, 899999)}")
            else:
                exchange = r.int(200, 999)
                if exchange % 100 == 11 or exchange == 555:
                    continue
                groups = (area, f"{exchange}", f"{r.int(0, 9999):04d}")
            key = country + "".join(groups)
            if key not in self.used_phones:
                self.used_phones.add(key)
                return groups

    def _landline_for(self, city: City) -> tuple[str, tuple[str, ...]]:
        country = next(c for c, cities in CITIES.items() if city in cities)
        return country, self._phone_digits(country, self.r.pick(city.area), mobile=False)

    def _mobile(self, country: str, city: City) -> tuple[str, tuple[str, ...]]:
        # North American mobiles carry the area code of where the person got the number.
        return country, self._phone_digits(country, self.r.pick(city.area), mobile=True)

    @staticmethod
    def _company_domain(name: str) -> str:
        slug = "".join(ch for ch in strip_accents(name).lower() if ch.isalnum())
        return slug + ".example"

    def _unique_email(self, local: str, domain: str) -> str:
        local = "".join(ch for ch in strip_accents(local).lower() if ch.isalnum() or ch in "._-")
        candidate = f"{local}@{domain}"
        while candidate in self.used_emails:
            candidate = f"{local}{self.r.int(1, 99)}@{domain}"
        self.used_emails.add(candidate)
        return candidate

    def _personal_email(self, p: Person, country: str) -> str:
        r = self.r
        f, last = p.first.lower(), p.last.replace(" ", "").replace("'", "").lower()
        if p.first in NICKNAMES and r.p(0.15):
            f = r.pick(NICKNAMES[p.first]).lower()
        yy = f"{p.dob.year % 100:02d}"
        local = r.weighted(
            (f"{f}.{last}", f"{f}{last}", f"{f[0]}{last}", f"{f}_{last}", f"{f}.{last}{yy}",
             f"{f}{yy}", f"{last}.{f}", f"{f}{last}{p.dob.year}", f"{f[0]}.{last}"),
            (0.25, 0.15, 0.12, 0.05, 0.1, 0.08, 0.05, 0.1, 0.1),
        )  # fmt: skip
        return self._unique_email(local, r.pairs(PERSONAL_DOMAINS[country]))

    def _work_email(self, p: Person, company: int) -> str:
        f, last = p.first.lower(), p.last.replace(" ", "").replace("'", "").lower()
        local = self.r.weighted((f"{f}.{last}", f"{f[0]}{last}", f"{f}", f"{f[0]}.{last}"),
                                (0.55, 0.25, 0.1, 0.1))  # fmt: skip
        return self._unique_email(local, self.domains[company])

    # -- places --------------------------------------------------------------------------

    def _postcode(self, country: str, city: City) -> str:
        r = self.r
        code = r.pick(city.codes)
        if country == "US":
            return f"{code}{r.int(0, 99):02d}"
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        if country == "GB":
            return f"{code} {r.int(1, 9)}{r.pick(letters)}{r.pick(letters)}"
        return f"{code} {r.int(0, 9)}{r.pick(letters)}{r.int(0, 9)}"

    def _address(self, country: str, city: City) -> Address:
        r = self.r
        key = (country, city.name)
        building = self.buildings.setdefault(key, [])
        if building and r.p(SAME_BUILDING_RATE):
            # Another flat in a building where a household already lives.
            b = r.pick(building)
            unit = f"{r.int(1, 12)}{r.pick('ABCD')}" if r.p(0.5) else str(r.int(1, 40))
            return Address(b.number, b.direction, b.street, b.stype, unit, b.postcode,
                            country, city)  # fmt: skip
        number = str(min(int(r.g.pareto(1.1) * 12) + 1, 9999))
        direction = str(r.int(0, 3)) if country == "US" and r.p(0.15) else ""
        street = STREETS[int(r.weighted(range(len(STREETS)), zipf_weights(len(STREETS), 1, 5)))]
        stype = int(r.weighted(range(len(STREET_TYPES)), STREET_TYPE_MIX[country]))
        unit = ""
        if r.p(0.2):
            unit = f"{r.int(1, 12)}{r.pick('ABCD')}" if r.p(0.4) else str(r.int(1, 40))
        address = Address(number, direction, street, stype, unit,
                           self._postcode(country, city), country, city)  # fmt: skip
        building.append(address)
        return address

    def _city(self, country: str) -> City:
        cities = CITIES[country]
        return cities[int(self.r.weighted(range(len(cities)), zipf_weights(len(cities), 1, 1)))]

    # -- persons -------------------------------------------------------------------------

    def _first_name(self, sex: str) -> str:
        names, w = MALE_NAMES if sex == "M" else FEMALE_NAMES
        return names[int(self.r.weighted(range(len(names)), w))]

    def _surname(self, country: str) -> str:
        names, w = SURNAMES[country]
        return names[int(self.r.weighted(range(len(names)), w))]

    def _dob(self, lo_year: int, hi_year: int) -> date:
        hi_year = min(hi_year, 2006)
        lo_year = min(lo_year, hi_year)
        return date(self.r.int(lo_year, hi_year), 1, 1) + timedelta(days=self.r.int(0, 364))

    def _household(self, room: int) -> None:
        r = self.r
        size = min(int(r.weighted(HOUSEHOLD_SIZES, HOUSEHOLD_MIX)), room)
        country = str(r.weighted(tuple(COUNTRY_MIX), tuple(COUNTRY_MIX.values())))
        city = self._city(country)
        hh = _Household(f"H{len(self.households) + 1:07d}", country, city,
                        self._address(country, city))  # fmt: skip
        if r.p(MOVE_RATE):
            old_city = city if r.p(0.6) else self._city(country)
            hh.prev_address = self._address(country, old_city)
            hh.move_ts = r.int(self.start, self.end)
        if r.p(LANDLINE_RATE):
            hh.landline = self._landline_for(city)
        self.households.append(hh)
        head_sex = "M" if r.p(0.5) else "F"
        head = self._person(hh, "head", head_sex, self._surname(country), self._dob(1940, 2001))
        hh.surname = head.last
        members = [head]
        rest = size - 1
        if rest and r.p(0.8):  # a partner
            sex = ("F" if head_sex == "M" else "M") if r.p(0.92) else head_sex
            same = r.p(SAME_SURNAME_RATE)
            dob = head.dob + timedelta(days=int(r.g.normal(0, 4 * 365)))
            last = head.last if same else self._surname(country)
            partner = self._person(hh, "partner", sex, last, self._dob(dob.year, dob.year))
            if same and sex == "F" and r.p(MARRIAGE_IN_WINDOW):
                partner.maiden = self._surname(country)
                partner.marriage_ts = r.int(self.start, self.end)
            members.append(partner)
            rest -= 1
        relatives: list[Person] = []
        for _ in range(rest):
            if head.dob.year <= 1980:  # grown-up children
                y = head.dob.year + r.int(20, 36)
                rel = self._person(hh, "child", "M" if r.p(0.5) else "F", head.last,
                                   self._dob(y, y))  # fmt: skip
            else:  # siblings or cousins sharing the flat
                y = head.dob.year + r.int(-8, 8)
                rel = self._person(hh, "relative", "M" if r.p(0.5) else "F", head.last,
                                   self._dob(y, y))  # fmt: skip
            relatives.append(rel)
        if len(relatives) >= 2 and r.p(TWIN_RATE):
            a, b = relatives[0], relatives[1]
            b.dob = a.dob
            if r.p(0.5):
                b.sex = a.sex
            while b.first == a.first:
                b.first = self._first_name(b.sex)
            b.twin_of, a.twin_of = a.pid, b.pid
        if head_sex == "M" and r.p(JUNIOR_RATE):
            sons = [p for p in relatives if p.sex == "M" and p.relation == "child"]
            if sons:
                sons[0].first, sons[0].suffix = head.first, "Jr."
                head.suffix = "Sr." if r.p(0.3) else ""
        members += relatives
        if size >= 2 and r.p(FAMILY_EMAIL_RATE):
            surname = hh.surname.replace(" ", "").replace("'", "").lower()
            local = r.pick((f"the{surname}s", f"{surname}family", f"{surname}.home"))
            hh.family_email = self._unique_email(local, r.pairs(PERSONAL_DOMAINS[country]))
        for p in members:
            self._identifiers(p, country, city)
        self.people += members

    def _person(self, hh: _Household, relation: str, sex: str, last: str, dob: date) -> Person:
        r = self.r
        first = self._first_name(sex)
        middle = r.pick(MIDDLE_INITIALS) if r.p(0.35) else ""
        self.n_persons += 1
        return Person(f"P{self.n_persons:07d}", hh, relation, sex, first, middle, last, dob)

    def _identifiers(self, p: Person, country: str, city: City) -> None:
        r = self.r
        if r.p(MOBILE_RATE):
            p.mobile = self._mobile(country, city)
        if r.p(PERSONAL_EMAIL_RATE):
            p.emails.append((0, self._personal_email(p, country)))
            if r.p(NEW_EMAIL_RATE):
                p.emails.append((r.int(self.start, self.end), self._personal_email(p, country)))
        if r.p(EMPLOYED_RATE) and p.dob.year < 2004:
            c = int(r.weighted(range(len(COMPANIES)), self.company_w))
            p.jobs.append(_Job(c, r.pick(tuple(ROLES)), self._work_email(p, c), 0))
            if r.p(JOB_CHANGE_RATE):
                c2 = int(r.weighted(range(len(COMPANIES)), self.company_w))
                while c2 == c:
                    c2 = int(r.weighted(range(len(COMPANIES)), self.company_w))
                since = r.int(self.start, self.end)
                p.jobs.append(_Job(c2, r.pick(tuple(ROLES)), self._work_email(p, c2), since))
        if r.p(ACCOUNT_RATE):
            p.user_id = f"U{r.int(0, 99_999_999):08d}"
