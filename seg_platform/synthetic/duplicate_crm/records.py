"""Records: one person as one channel writes them down at one time."""

from __future__ import annotations

from datetime import date, timedelta

from seg_platform.synthetic.duplicate_crm.places import (
    COUNTRY_NAMES,
    DIRECTIONS,
    GB_NATIONS,
    STREET_TYPES,
)
from seg_platform.synthetic.duplicate_crm.population import Address, Person, Population
from seg_platform.synthetic.duplicate_crm.randomness import (
    Rand,
    one_edit,
    spaces,
    strip_accents,
    title,
)
from seg_platform.synthetic.duplicate_crm.rates import (
    ASCII_ONLY,
    DOB_PLACEHOLDER_RATE,
    DOB_PLACEHOLDERS,
    DOB_SWAP_RATE,
    DOMAIN_TYPO_RATE,
    EMAIL_CASE_RATE,
    FULL_NAME_ONLY,
    FULL_NAME_TOO,
    GMAIL_DOTS_RATE,
    HEAVY_EXPONENT,
    HEAVY_SHARE,
    INITIAL_RATE,
    LOWER_CASE,
    MIDDLE_RATE,
    NICKNAME_RATE,
    OLD_COMPANY_RATE,
    PRESENCE,
    SPACE_RATE,
    SPELLING_RATE,
    SURNAME_SPELLING_RATE,
    SWAP_RATE,
    TYPO_RATE,
    UPPER_CASE,
    WORK_EMAIL,
)
from seg_platform.synthetic.duplicate_crm.vocabulary import (
    COLUMNS,
    NICKNAMES,
    SPELLINGS,
    SURNAME_SPELLINGS,
    TITLES,
)
from seg_platform.synthetic.duplicate_crm.work import COMPANIES, DOMAIN_TYPOS, LEGAL_FORMS, ROLES


def records_per_person(r: Rand, share_duplicated: float, min_records: int, max_records: int) -> int:
    if not r.p(share_duplicated):
        return 1
    light = list(range(2, min_records))
    if light and not r.p(HEAVY_SHARE):
        return int(r.weighted(light, [k**-2.0 for k in light]))
    heavy = list(range(min_records, max_records + 1))
    return int(r.weighted(heavy, [k**-HEAVY_EXPONENT for k in heavy]))


def record_times(r: Rand, k: int, start: int, end: int) -> list[int]:
    """Times of a person's records: re-entries in bursts (within three days) or months to
    years apart; the first contact skewed to recent years (CRMs grow), and early enough that
    all of them fit before `end` (a long history starts long ago)."""
    gaps = [
        r.int(60, 3 * 86400) if r.p(0.3) else int(r.g.exponential(240 * 86400))
        for _ in range(k - 1)
    ]
    room = end - start
    span = sum(gaps)
    if span > 0.9 * room:
        gaps = [int(g * 0.9 * room / span) for g in gaps]
        span = sum(gaps)
    t = start + int((room - span) * r.g.beta(1.6, 1.0))
    out = [t]
    for g in gaps:
        t += g
        out.append(t)
    return out


def _format_phone(r: Rand, country: str, groups: tuple[str, ...], work: bool) -> str:
    if country == "GB":
        national = "0" + " ".join(groups)
        style = r.weighted(range(7), (0.4, 0.15, 0.15, 0.1, 0.08, 0.07, 0.05))
        text = (
            national,
            national.replace(" ", ""),
            "+44 " + " ".join(groups),
            "+44" + "".join(groups),
            "+44 (0)" + " ".join(groups),
            "".join(groups),  # the leading zero lost in a spreadsheet
            "0044 " + " ".join(groups),
        )[int(style)]
    else:
        a, e, ln = groups
        style = r.weighted(range(9), (0.25, 0.2, 0.08, 0.12, 0.1, 0.08, 0.05, 0.07, 0.05))
        text = (
            f"({a}) {e}-{ln}", f"{a}-{e}-{ln}", f"{a}.{e}.{ln}", f"{a}{e}{ln}",
            f"+1 {a}-{e}-{ln}", f"+1{a}{e}{ln}", f"1-{a}-{e}-{ln}", f"{a} {e} {ln}",
            f"+1 ({a}) {e}-{ln}",
        )[int(style)]  # fmt: skip
    if work and r.p(0.3):
        text += r.pick((" x", " ext. ", " ext ", "#")) + str(r.int(100, 4999))
    return text


def _format_address(r: Rand, a: Address, upper: bool) -> tuple[str, list[str]]:
    tags: list[str] = []
    full, abbrevs = STREET_TYPES[a.stype]
    stype = full
    if r.p(0.45):
        stype = r.pick(abbrevs)
        tags.append("address:abbreviated")
    direction = ""
    if a.direction:
        long, short = DIRECTIONS[int(a.direction)]
        direction = (long if r.p(0.4) else short + r.pick(("", "."))) + " "
    street = a.street
    if r.p(TYPO_RATE["address"]):
        street = one_edit(r, street)
        tags.append("address:typo")
    text = f"{a.number} {direction}{street} {stype}"
    if a.unit and not r.p(0.25):  # the flat number is often left out
        if a.country == "GB":
            unit = r.pick(("Flat ", "Flat ", "Apartment "))
            text = f"{unit}{a.unit}, {text}" if r.p(0.7) else f"{text}, {unit}{a.unit}"
        else:
            unit = r.pick(("Apt ", "Apt. ", "#", "Unit ", "Suite "))
            text = f"{text} {unit}{a.unit}" if r.p(0.6) else f"{text}, {unit}{a.unit}"
    if upper:
        text = text.upper()
    elif r.p(0.04):
        text = text.lower()
    return text, tags


def _format_postcode(r: Rand, code: str, country: str) -> tuple[str, list[str]]:
    tags: list[str] = []
    if country == "US":
        if r.p(0.08):
            code = f"{code}-{r.int(0, 9999):04d}"
        if code.startswith("0") and r.p(0.3):
            code = code.lstrip("0")  # read as a number by a spreadsheet
            tags.append("postcode:leading_zero_lost")
    else:
        if r.p(0.25):
            code = code.replace(" ", "")
        if r.p(0.15):
            code = code.lower()
    if r.p(TYPO_RATE["postcode"]):
        code = one_edit(r, code, digits=True)
        tags.append("postcode:typo")
    return code, tags


def _format_dob(r: Rand, dob: date) -> tuple[str, list[str]]:
    if r.p(DOB_PLACEHOLDER_RATE):
        return r.pick(DOB_PLACEHOLDERS), ["dob:placeholder"]
    y, m, d = dob.year, dob.month, dob.day
    tags: list[str] = []
    if d <= 12 and d != m and r.p(DOB_SWAP_RATE):
        m, d = d, m
        tags.append("dob:day_month_swapped")
    elif r.p(TYPO_RATE["dob"]):
        kind = r.int(0, 2)
        if kind == 0 and y % 10 != (y // 10) % 10:
            y = y // 100 * 100 + (y % 10) * 10 + (y // 10) % 10  # 1985 -> 1958
        elif kind == 1:
            y += r.pick((-1, 1))
        else:
            shifted = date(y, m, d) + timedelta(days=r.pick((-1, 1)))
            y, m, d = shifted.year, shifted.month, shifted.day
        tags.append("dob:typo")
    return f"{y:04d}-{m:02d}-{d:02d}", tags


def _company_name(r: Rand, company: int) -> tuple[str, list[str]]:
    name, form = COMPANIES[company]
    tags: list[str] = []
    if form and r.p(0.3):
        form = r.pick(LEGAL_FORMS[form])
        tags.append("company:variant")
    elif form and r.p(0.35):
        form = ""
        tags.append("company:variant")
    text = name if not form else (f"{name}{form}" if form.startswith(",") else f"{name} {form}")
    if r.p(0.04):
        text = "The " + text if not text.startswith("The ") else text
    if r.p(TYPO_RATE["company"]):
        text = one_edit(r, text)
        tags.append("company:typo")
    return text, tags


def _case(text: str, style: str) -> str:
    return text.upper() if style == "upper" else text.lower() if style == "lower" else text


def record(r: Rand, pop: Population, p: Person, t: int, ch: int) -> tuple[dict, list[str]]:
    """One contact record of `p`, as channel `ch` writes it at time `t`, and what was done to
    it (`defects`, for the truth file)."""
    tags: list[str] = []
    hh = p.household
    present = {k: r.p(v[ch]) for k, v in PRESENCE.items()}
    case = "upper" if r.p(UPPER_CASE[ch]) else ("lower" if r.p(LOWER_CASE[ch]) else "")
    ascii_only = r.p(ASCII_ONLY[ch])

    # Names at this time: maiden name before the marriage, variants, typos.
    last = p.maiden if p.maiden and t < p.marriage_ts else p.last
    if last != p.last:
        tags.append("last_name:maiden")
    first = p.first
    if first in NICKNAMES and r.p(NICKNAME_RATE * (1.5 if ch in (2, 3) else 1.0)):
        first = r.pick(NICKNAMES[first])
        tags.append("first_name:nickname")
    elif first in SPELLINGS and r.p(SPELLING_RATE):
        first = r.pick(SPELLINGS[first])
        tags.append("first_name:spelling")
    elif r.p(INITIAL_RATE):
        first = first[0] + r.pick(("", "."))
        tags.append("first_name:initial")
    if last in SURNAME_SPELLINGS and r.p(SURNAME_SPELLING_RATE):
        last = r.pick(SURNAME_SPELLINGS[last])
        tags.append("last_name:spelling")
    if len(first) > 2 and r.p(TYPO_RATE["first_name"]):
        first = one_edit(r, first)
        tags.append("first_name:typo")
    if r.p(TYPO_RATE["last_name"]):
        last = one_edit(r, last)
        tags.append("last_name:typo")
    if p.suffix == "Jr." and r.p(0.35):
        last = f"{last} Jr." if r.p(0.7) else f"{last} Jr"
        tags.append("last_name:suffix")
    if ascii_only:
        first, last = strip_accents(first), strip_accents(last)
    first_f = f"{first} {p.middle}." if p.middle and r.p(MIDDLE_RATE) else first
    if first_f != first:
        tags.append("first_name:middle_initial")

    row: dict[str, str | None] = dict.fromkeys(COLUMNS)
    if r.p(FULL_NAME_ONLY[ch]):
        tags.append("name:full_name_only")
        style = r.weighted(range(5), (0.72, 0.1, 0.08, 0.05, 0.05))
        middle = f" {p.middle}." if p.middle else ""
        full = (
            f"{first} {last}", f"{first}{middle} {last}", f"{last}, {first}",
            f"{r.pick(TITLES)} {first} {last}", f"{last} {first}",
        )[int(style)]  # fmt: skip
        if style in (2, 4):
            tags.append("name:last_first_order")
        row["full_name"] = _case(full, case)
    else:
        fn, ln = (first_f if present["first_name"] else None,
                  last if present["last_name"] else None)  # fmt: skip
        if fn is None:
            tags.append("first_name:missing")
        if ln is None:
            tags.append("last_name:missing")
        if fn and ln and r.p(SWAP_RATE):
            fn, ln = ln, fn
            tags.append("name:swapped")
        row["first_name"] = _case(fn, case) if fn else None
        row["last_name"] = _case(ln, case) if ln else None
        if r.p(FULL_NAME_TOO[ch]):
            row["full_name"] = _case(f"{first} {last}", case)

    # Work at this time; a CRM often keeps the old company after a job change.
    job = next((j for j in reversed(p.jobs) if j.since <= t), None)
    company_job = job
    if job is not None and job is not p.jobs[0] and r.p(OLD_COMPANY_RATE):
        company_job = p.jobs[0]
        tags.append("company:stale")
    if job is not None and len(p.jobs) > 1 and job is p.jobs[-1]:
        tags.append("job:changed")
    if company_job is not None and present["company"]:
        text, more = _company_name(r, company_job.company)
        row["company"], tags = (text.upper() if case == "upper" else text), tags + more
        if present["role"]:
            role = company_job.role
            if r.p(0.3):
                role = r.pick(ROLES[role])
                tags.append("role:variant")
            row["role"] = _case(role, case)

    # Email: work or own (the address in use at this time), sometimes the family's.
    own = next((e for since, e in reversed(p.emails) if since <= t), None)
    if len(p.emails) > 1 and own == p.emails[-1][1]:
        tags.append("email:new_personal")
    email = None
    if job is not None and r.p(WORK_EMAIL[ch]):
        email = job.email
        tags.append("email:work")
    elif hh.family_email and r.p(0.35):
        email = hh.family_email
        tags.append("email:family")
    else:
        email = own
    if email and present["email"]:
        local, domain = email.split("@")
        if r.p(TYPO_RATE["email"]):
            local = one_edit(r, local)
            tags.append("email:typo")
        if domain in DOMAIN_TYPOS and r.p(DOMAIN_TYPO_RATE):
            domain = r.pick(DOMAIN_TYPOS[domain])
            tags.append("email:domain_typo")
        if domain == "gmail.com" and "." in local and r.p(GMAIL_DOTS_RATE):
            local = local.replace(".", "")
            tags.append("email:gmail_dots")
        email = f"{local}@{domain}"
        if r.p(EMAIL_CASE_RATE) or case == "upper":
            email = email.upper() if case == "upper" or r.p(0.3) else title(email)
            tags.append("email:case")
        row["email"] = email
    else:
        tags.append("email:missing")

    # Phone: own mobile, the household's landline or the company switchboard.
    options: list[tuple[str, tuple[str, tuple[str, ...]]]] = []
    if p.mobile:
        options.append(("mobile", p.mobile))
    if hh.landline and (not p.mobile or r.p(0.35)):
        options.append(("landline", hh.landline))
    if job is not None and ch in (1, 2, 3) and r.p(0.35):
        options.append(("switchboard", pop.switchboards[job.company]))
    if options and present["phone"]:
        kind, (country, groups) = options[-1] if r.p(0.5) else options[0]
        if kind != "mobile":
            tags.append(f"phone:{kind}")
        phone = _format_phone(r, country, groups, work=kind == "switchboard")
        if r.p(TYPO_RATE["phone"]):
            phone = one_edit(r, phone, digits=True)
            tags.append("phone:typo")
        row["phone"] = phone
    else:
        tags.append("phone:missing")

    # Address at this time (the old one before a move).
    address = hh.prev_address if hh.prev_address and t < hh.move_ts else hh.address
    if address is hh.prev_address:
        tags.append("address:old")
    if present["address"]:
        row["address"], more = _format_address(r, address, case == "upper")
        tags += more
    if present["postcode"]:
        row["postcode"], more = _format_postcode(r, address.postcode, address.country)
        tags += more
    if present["city"]:
        city = address.city.name
        if address.city.aliases and r.p(0.15):
            city = r.pick(address.city.aliases)
            tags.append("city:alias")
        if ascii_only:
            city = strip_accents(city)
        if r.p(TYPO_RATE["city"]):
            city = one_edit(r, city)
            tags.append("city:typo")
        row["city"] = _case(city, case)
    if present["country"]:
        country = r.pairs(COUNTRY_NAMES[address.country])
        if address.city.name in GB_NATIONS and r.p(0.3):
            country = GB_NATIONS[address.city.name]
        row["country"] = country

    if present["dob"]:
        row["date_of_birth"], more = _format_dob(r, p.dob)
        tags += more
    else:
        tags.append("dob:missing")
    if p.user_id and present["user_id"]:
        row["user_id"] = p.user_id

    for col in ("first_name", "last_name", "full_name", "company", "city", "address", "email"):
        value = row[col]
        if value and r.p(SPACE_RATE):
            row[col] = spaces(r, value)
            tags.append("spaces")
    if case:
        tags.append(f"case:{case}")
    if ascii_only and any(strip_accents(v) != v for v in (p.first, p.last, p.household.city.name)):
        tags.append("accents_dropped")
    return row, tags
