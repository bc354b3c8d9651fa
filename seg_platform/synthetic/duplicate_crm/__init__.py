"""A duplicate-heavy synthetic CRM with ground truth, to measure person deduplication.

`generate_duplicate_crm()` writes one `crm_contacts` landing file in which real people appear
many times (lead-form re-entries, list imports, sales entries, badge scans, shop accounts,
support calls), each record as messy as its channel makes it, plus the truth of who is who.
`crm_truth_pairs()` and `pairwise_scores()` measure a clustering against that truth.

What makes it hard, on purpose:

* Records per person: most persons once, a good share two or three times, a heavy tail with
  `min_records`..`max_records` records (power law).
* Per record, at rates that depend on the channel: missing fields, one-edit typos (insert,
  delete, substitute with a keyboard neighbour, transpose), nicknames (Bob for Robert),
  spelling variants (Steven/Stephen), initials, first and last name swapped, the whole name
  in `full_name` only ("Smith, John", "Dr. John A. Smith"), upper/lower case, stray and
  doubled spaces, accents dropped, a maiden name before a marriage, a new work email and
  company after a job change (sometimes the old company left in place), an old address
  before a move, the household's landline or the company switchboard instead of the mobile,
  phones in many formats, street types abbreviated (Street/St/St.), ZIP codes that lost their
  leading zero or gained +4, date of birth with day and month swapped, a digit wrong or a
  placeholder (1900-01-01), and double submissions that copy the previous record.
* Hard negatives: households (partners with one surname, adult children, twins with the same
  surname, birth date and address, a Jr. with his father's name) sharing an address, a
  landline and sometimes a family email; colleagues sharing a company, a switchboard number
  and an email domain; neighbours in one building; namesakes as often as real name frequencies give
  them (`names`: census-weighted lists with a long tail); surname and city shared by
  unrelated persons.

Deterministic: the same arguments give byte-identical files (numpy `Generator` streams keyed
by the seed; no wall-clock time). Names come from the pinned Faker release, offline.

The package follows the generator's steps: `names`, `vocabulary`, `places`, `work` (what people are
called, where they live, where they work), `rates` (channels and defect rates), `randomness`,
`population`, `records` (one person written down by one channel), `writing`
(`generate_duplicate_crm`) and `scoring` (a clustering against the truth).
"""

from seg_platform.synthetic.duplicate_crm.scoring import (
    PairwiseScores,
    crm_truth_pairs,
    pairwise_scores,
)
from seg_platform.synthetic.duplicate_crm.vocabulary import COLUMNS, SOURCE
from seg_platform.synthetic.duplicate_crm.writing import generate_duplicate_crm

__all__ = [
    "COLUMNS",
    "SOURCE",
    "PairwiseScores",
    "crm_truth_pairs",
    "generate_duplicate_crm",
    "pairwise_scores",
]
