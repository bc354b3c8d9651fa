"""Ground truth: records, persons, archetypes, outcomes and traps, written as Parquet."""

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from seg_platform.synthetic.company.behaviour import ARCHETYPES
from seg_platform.synthetic.company.contacts import phone_numbers
from seg_platform.synthetic.company.randomness import hex_ids
from seg_platform.synthetic.company.vectors import group_pos, list_series, masked, take
from seg_platform.synthetic.company.vocabulary import (
    COMPANY_NAMES,
    COUNTRY_CODES,
    FIRST_NAMES,
    LAST_NAMES,
)
from seg_platform.synthetic.company.world import World

# Over-merge trap kinds, in the order traps.parquet and the summary list them.
TRAP_KINDS = ("shared_device", "shared_cookie", "shared_email", "junk_identifier")


class Truth:
    """Ground truth collected while the files are written; records stream to Parquet."""

    RECORDS_SCHEMA = pa.schema(
        [("source", pa.string()), ("record_key", pa.string()), ("person_id", pa.string())]
    )

    def __init__(self, folder: Path):
        self.folder = folder
        self.malformed: list[pl.DataFrame] = []
        self.duplicates: list[pl.DataFrame] = []
        self.traps: list[pl.DataFrame] = []  # (trap, id_type, value, person) seen in the files
        self._records = pq.ParquetWriter(
            folder / "records.parquet", self.RECORDS_SCHEMA, compression="zstd"
        )

    def records(self, frame: pl.DataFrame) -> None:
        self._records.write_table(frame.to_arrow().cast(self.RECORDS_SCHEMA))

    def close(self) -> None:
        self._records.close()


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    # Written through pyarrow with fixed settings so the bytes depend only on the data.
    pq.write_table(frame.to_arrow(), path, compression="zstd")


def persons_frame(w: World) -> pl.DataFrame:
    n = w.n
    idx = np.arange(n, dtype=np.int64)
    cookie_off = np.concatenate([[0], np.cumsum(w.cookie_n)])
    cookies = w.cookie_slot[np.repeat(idx, w.cookie_n), group_pos(w.cookie_n)]
    dev_off = np.concatenate([[0], np.cumsum(w.device_n)])
    devices = w.device_slot[np.repeat(idx, w.device_n), group_pos(w.device_n)]
    months = (w.first_month + w.signup_m).astype(str)
    churn = (w.first_month + np.maximum(w.churn_m, 0)).astype(str)
    companies = COMPANY_NAMES
    return pl.DataFrame(
        {
            "person_id": w.person_ids,
            "archetype": take(ARCHETYPES, w.arch0),
            "signup_month": pl.Series(months, dtype=pl.String),
            "signup_ts": pl.Series(w.signup_ts * 1_000_000).cast(pl.Datetime("us")),
            "churn_month": masked(pl.Series(churn, dtype=pl.String), w.churn_m >= 0),
            "email": w.email,
            "phone": phone_numbers(idx, None, w.salt["phone"]),
            "first_name": take(FIRST_NAMES, w.first),
            "last_name": take(LAST_NAMES, w.last),
            "company": masked(take(companies, np.maximum(w.company, 0)), w.company >= 0),
            "country": take(COUNTRY_CODES, w.country),
            "user_id": masked(w.person_strings(idx, "user_id"), w.has_account),
            "anonymous_ids": list_series(cookie_off, hex_ids("a_", cookies, w.salt["cookie"])),
            "device_ids": list_series(dev_off, hex_ids("d_", devices, w.salt["device"])),
            "crm_id": masked(w.person_strings(idx, "crm_id"), w.has_crm),
            "crm_id_2": masked(
                w.person_strings(w.n + np.maximum(w.crm2_rank, 0), "crm_id"), w.has_crm2
            ),
            "billing_customer_id": masked(
                w.person_strings(idx, "billing_customer_id"), w.seen_billing
            ),
            "billing_email": masked(w.billing_email, w.seen_billing),
            "customer_key": masked(w.person_strings(idx, "customer_key"), w.seen_orders),
            "has_account": w.has_account,
            "has_web_login": w.seen_user,
            "has_crm": w.has_crm,
            "has_second_crm": w.has_crm2,
            "has_billing": w.seen_billing,
            "has_orders": w.seen_orders,
            "has_shared_device": w.shared_device,
            "has_shared_cookie": w.cookie_shared.any(axis=1),
            "has_shared_email": w.family >= 0,
            "has_work_billing_email": w.billing_alt & w.seen_billing,
        }
    )


def traps_frame(truth: Truth) -> pl.DataFrame:
    """One row per trap value: shared identifiers used by two persons or more, and every junk
    value, with the number of distinct persons whose records carry it."""
    schema = {"trap": pl.String, "id_type": pl.String, "value": pl.String, "person": pl.Int64}
    hits = pl.concat([pl.DataFrame(schema=schema), *truth.traps], how="vertical_relaxed")
    order = pl.col("trap").replace_strict(TRAP_KINDS, range(len(TRAP_KINDS)))
    return (
        hits.group_by("trap", "id_type", "value")
        .agg(persons=pl.col("person").n_unique().cast(pl.Int64))
        .filter((pl.col("persons") >= 2) | (pl.col("trap") == "junk_identifier"))
        .sort(order, "id_type", "value")
    )


def person_months(w: World) -> tuple[np.ndarray, np.ndarray]:
    """(person, month) pairs of every written month a person had signed up by, sorted."""
    joined = w.signup_m[:, None] <= np.arange(w.months)[None, :]
    person, month = np.nonzero(joined)
    return person, month


def archetypes_frame(w: World, p: np.ndarray, m: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "person_id": w.person_ids.gather(p),
            "month": take(w.labels, m),
            "archetype": take(ARCHETYPES, w.arch_hist[m, p]),
            "active": w.alive_hist[m, p],  # False once the person has churned
        }
    )


def outcomes_frame(w: World, p: np.ndarray, m: np.ndarray) -> pl.DataFrame:
    future_activity = np.zeros((w.months, w.n), dtype=np.int64)
    future_revenue = np.zeros((w.months, w.n), dtype=np.float64)
    for shift in (1, 2, 3):
        future_activity += w.activity[shift : shift + w.months]
        future_revenue += w.revenue[shift : shift + w.months]
    as_of = np.array([w.start(i + 1) - 1 for i in range(w.months)], dtype=np.int64)
    return pl.DataFrame(
        {
            "person_id": w.person_ids.gather(p),
            "month": take(w.labels, m),
            "as_of": pl.Series(as_of[m] * 1_000_000).cast(pl.Datetime("us")),
            "churned_next_90d": future_activity[m, p] == 0,
            "revenue_next_90d": np.round(future_revenue[m, p], 2),
        }
    )
