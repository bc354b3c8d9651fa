"""Channels (where a record comes from sets which fields it has and how they are written),
the defect rates per record, and the make-up of persons and households."""

from __future__ import annotations

CHANNELS = ("web_form", "list_import", "sales_entry", "event_scan", "shop_account", "support")
CHANNEL_MIX = (0.34, 0.18, 0.15, 0.1, 0.13, 0.1)
# Chance that a field is filled in, per channel (if the person has the value at all).
PRESENCE: dict[str, tuple[float, ...]] = {
    #              web   import sales  event  shop   support
    "email":      (0.97, 0.85,  0.7,   0.92,  0.99,  0.8),
    "phone":      (0.35, 0.5,   0.85,  0.4,   0.75,  0.85),
    "dob":        (0.04, 0.08,  0.04,  0.0,   0.5,   0.2),
    "address":    (0.1,  0.3,   0.25,  0.05,  0.95,  0.35),
    "postcode":   (0.3,  0.35,  0.25,  0.05,  0.95,  0.35),
    "city":       (0.35, 0.6,   0.6,   0.3,   0.95,  0.45),
    "company":    (0.45, 0.85,  0.9,   0.95,  0.1,   0.3),
    "role":       (0.3,  0.7,   0.6,   0.9,   0.05,  0.1),
    "country":    (0.6,  0.8,   0.5,   0.6,   0.95,  0.7),
    "user_id":    (0.03, 0.0,   0.0,   0.0,   0.6,   0.15),
    "first_name": (0.97, 0.98,  0.97,  0.99,  0.99,  0.9),
    "last_name":  (0.9,  0.98,  0.95,  0.99,  0.99,  0.85),
}  # fmt: skip
# Share of records with the name in `full_name` only (first and last empty), and with both.
FULL_NAME_ONLY = (0.04, 0.4, 0.08, 0.3, 0.0, 0.15)
FULL_NAME_TOO = (0.05, 0.1, 0.2, 0.05, 0.3, 0.2)
WORK_EMAIL = (0.3, 0.75, 0.8, 0.9, 0.03, 0.25)  # when employed: work email rather than own
UPPER_CASE = (0.03, 0.3, 0.03, 0.1, 0.01, 0.04)  # whole record in capitals
LOWER_CASE = (0.12, 0.02, 0.03, 0.02, 0.05, 0.05)  # names typed in lower case
ASCII_ONLY = (0.3, 0.9, 0.5, 0.6, 0.1, 0.4)  # accents dropped

# Per record and field, once present (`_Record.noise` draws these).
TYPO_RATE = {
    "first_name": 0.03, "last_name": 0.035, "email": 0.015, "phone": 0.02, "address": 0.03,
    "postcode": 0.02, "city": 0.015, "company": 0.02,
    "dob": 0.02,
}  # fmt: skip
NICKNAME_RATE = 0.14  # of records of persons whose name has nicknames
SPELLING_RATE = 0.07  # of records of persons whose name has other spellings
SURNAME_SPELLING_RATE = 0.2
INITIAL_RATE = 0.02
MIDDLE_RATE = 0.06
SWAP_RATE = 0.015  # first and last name swapped
SPACE_RATE = 0.025  # per text field: leading, trailing or doubled space
EMAIL_CASE_RATE = 0.1
DOMAIN_TYPO_RATE = 0.03  # of records at a domain listed in DOMAIN_TYPOS
GMAIL_DOTS_RATE = 0.04
DOB_SWAP_RATE = 0.06  # day and month swapped (only where both are <= 12)
DOB_PLACEHOLDER_RATE = 0.01
DOB_PLACEHOLDERS = ("1900-01-01", "1970-01-01", "1901-01-01")
OLD_COMPANY_RATE = 0.15  # after a job change: company field not updated
DOUBLE_SUBMIT_RATE = 0.5  # records within three days of the previous one: a copy of it

# Persons and households.
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5)
HOUSEHOLD_MIX = (0.62, 0.25, 0.07, 0.045, 0.015)
TWIN_RATE = 0.3  # households with two relatives besides the head: the two are twins
JUNIOR_RATE = 0.2  # a son named after his father
SAME_SURNAME_RATE = 0.7  # partners sharing the surname
MARRIAGE_IN_WINDOW = 0.2  # of partners who took the surname: married during the window
SAME_BUILDING_RATE = 0.06  # households in a building another household lives in
MOVE_RATE = 0.12  # households that moved during the window (older records: old address)
LANDLINE_RATE = 0.45
FAMILY_EMAIL_RATE = 0.15
MOBILE_RATE = 0.88
PERSONAL_EMAIL_RATE = 0.95
NEW_EMAIL_RATE = 0.1  # a second personal address from some time on
EMPLOYED_RATE = 0.6
JOB_CHANGE_RATE = 0.3
ACCOUNT_RATE = 0.12
HEAVY_SHARE = 0.3  # of duplicated persons: min_records..max_records records
HEAVY_EXPONENT = 2.0  # power law of the heavy tail
YEARS = 9  # records spread over this many years before `end`

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")


def _neighbours() -> dict[str, str]:
    out: dict[str, str] = {}
    for row in _KEYBOARD_ROWS:
        for i, ch in enumerate(row):
            out[ch] = (row[i - 1] if i else "") + (row[i + 1] if i + 1 < len(row) else "")
    return out


NEIGHBOURS = _neighbours()
