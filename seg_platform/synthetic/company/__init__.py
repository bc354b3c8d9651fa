"""Synthetic company generator: landing files for every contract source, plus ground truth.

`generate()` simulates a company's customers month by month and writes what its systems would
export: web and app events, CRM contacts, email events, support tickets, billing invoices and
shop orders, one CSV per source and month (`landing/`), in exactly the columns of
`seg_platform.sources.contract`; then, from random streams of their own so that nothing above
changes, consent changes and survey answers (one CSV a month, no defects) and an empty
erasure-request file. Next to the landing files it writes the truth the platform is measured
against (`truth/`): who every record of the linking sources belongs to, each person's
archetype per month, what happened in the 90 days after each month, every planted defect, and
every planted over-merge trap.

The model, in short:

* Persons carry identifiers keyed differently per source (cookie, device, account, email,
  phone, CRM id, billing id, shop key), with the messiness real systems have: work billing
  emails that replace the main one from some month on, emails in mixed case with stray spaces
  and Gmail dot/plus variants, phones in many formats, junk values.
* Product identifiers meet contact identifiers on a few records, so that a resolver linking
  identifiers that co-occur on a record can join a person's web and app behaviour to their
  purchases: the site's identify call puts the typed email on ~70% of login and signup events
  (a logged-in session starts on the login page when the browser saw no login of that person
  for 30 days), visitors without an account leave their email on lead forms (signup events
  without user id), and ~90% of CRM contacts of account holders record the user id. Cookies
  that never see a login stay anonymous.
* Traps for resolvers that merge too eagerly, listed in `truth/traps.parquet` with the number
  of persons whose records carry each value: family devices shared by 2-5 accounts, browsers
  shared by two account holders who both log in on them, household emails two persons give
  on some of their orders and invoices, and every junk value. Second CRM contacts (the same
  person entered again, one typo in the first or last name) share no hard identifier with
  anything: no user id or phone, an address of their own or none; only name, company, role
  and country can link them.
* Each person has an archetype (power user, loyal big spender, bargain hunter, pricing-curious
  prospect, setup struggler, dormant, new explorer) that sets what they do and how much:
  activity is concentrated, each archetype does a lot of its own thing and little of the
  others', on a steady number of active days a month. New sign-ups explore in their sign-up
  month and then settle into another archetype; each month a share of the others switch along
  sensible transitions (changing plan with it), some churn and go silent.
* Defects are planted on purpose and recorded: late events (delivered in next month's file),
  duplicate deliveries, malformed rows of one unambiguous kind each, truncated last lines.

A truncated last line has too few fields: the platform's reader records it as an unreadable
line at its exact line number (DuckDB `store_rejects`) instead of padding it with NULLs.

Everything is vectorised with numpy and polars: loops run per month and per source, never per
person or per event. Randomness comes from `numpy.random.Generator(PCG64)` streams keyed by
(seed, purpose, month, ...), so each month's output depends only on the arguments, and the same
arguments give byte-identical files. Wall-clock time appears only in the returned summary.
"""

from seg_platform.synthetic.company.behaviour import ARCHETYPES
from seg_platform.synthetic.company.defects import MALFORMED_KINDS
from seg_platform.synthetic.company.generation import generate

__all__ = ["ARCHETYPES", "MALFORMED_KINDS", "generate"]
