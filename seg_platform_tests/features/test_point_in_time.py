"""Point in time: events dated after month M never change month M's features.

A synthetic company's six months are loaded and features built for March and June. Then every
event is delivered again, six months later (new ids, same people and identifiers, so identities
do not move), and everything is rebuilt: March and June must be byte-identical, while the later
months see the new events.
"""

import pytest

from seg_platform.core.warehouse import connect
from seg_platform.synthetic.company import generate
from seg_platform_tests.features.helpers import build_all, month_digest

# source: (id columns to make unique, timestamp columns to shift)
LATER = {
    "web_events": (["event_id"], ["event_ts"]),
    "app_events": (["event_id"], ["event_ts"]),
    "email_events": (["event_id"], ["event_ts"]),
    "orders": (["order_line_id", "order_id"], ["order_ts"]),
    "billing": (["invoice_id"], ["invoice_ts"]),
    "support_tickets": (["ticket_id"], ["opened_at", "closed_at"]),
}


def deliver_six_months_later(database, landing):
    with connect(database) as con:
        for source, (ids, stamps) in LATER.items():
            replace = ", ".join(
                [f"{c} || '-later' AS {c}" for c in ids]
                + [f"{c} + INTERVAL 6 MONTH AS {c}" for c in stamps]
            )
            suffix, options = (
                (".csv.gz", ", COMPRESSION gzip") if source == "email_events" else (".csv", "")
            )
            out = landing / source / f"{source}_later{suffix}"
            con.execute(
                f"COPY (SELECT * EXCLUDE (source_file, source_row) REPLACE ({replace}) "
                f"FROM raw.{source}) TO '{out}' (HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S'"
                f"{options})"
            )


def profiles(database):
    with connect(database) as con:
        return con.execute(
            "SELECT profile_id, first_seen FROM identity.profiles ORDER BY profile_id"
        ).fetchall()


@pytest.mark.timeout(300)
def test_appending_later_events_leaves_earlier_months_byte_identical(tmp_path):
    generate(300, 6, 11, tmp_path / "company", end_month="2025-06")
    landing = tmp_path / "company" / "landing"
    database = tmp_path / "warehouse.duckdb"
    build_all(database, landing / "sources.yaml", ["2025-03", "2025-06"])
    before = {m: month_digest(database, m) for m in ("2025-03-31", "2025-06-30")}
    identities = profiles(database)
    assert all(rows > 200 for rows, _ in before.values()), before

    deliver_six_months_later(database, landing)
    build_all(database, landing / "sources.yaml", ["2025-03", "2025-06", "2025-09"])

    assert profiles(database) == identities  # same people, so the comparison is fair
    after = {m: month_digest(database, m) for m in ("2025-03-31", "2025-06-30")}
    assert after == before
    with connect(database) as con:
        later_sessions = con.execute(
            "SELECT sum(sessions_30d) FROM features.customer_features "
            "WHERE as_of_date = '2025-09-30'"
        ).fetchall()[0][0]
    assert later_sessions > 0  # the delivered events do count in their own months
