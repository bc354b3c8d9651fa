"""A source's landing files: month files with late rows, duplicates, malformed and cut lines."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from seg_platform.sources.contract import Source
from seg_platform.synthetic.company.defects import (
    BAD_ACCEPTED,
    BAD_SATISFACTION,
    BAD_TIMESTAMPS,
    BAD_TIMESTAMPS_ISO,
    DUPLICATE_SOURCES,
    KINDS_BY_SOURCE,
    LATE_SHARE,
    LATE_SOURCES,
    NON_NUMERIC,
    OUT_OF_RANGE_TS,
    OUT_OF_RANGE_TS_ISO,
)
from seg_platform.synthetic.company.randomness import (
    FEEDBACK_SOURCES,
    S_FILES,
    SOURCE_ORDER,
    stream,
)
from seg_platform.synthetic.company.truth import Truth
from seg_platform.synthetic.company.vectors import masked, replace_where, take, ts_strings
from seg_platform.synthetic.company.world import World


@dataclass
class _Stats:
    rows: int = 0
    files: int = 0
    malformed: int = 0
    duplicates: int = 0
    late: int = 0
    truncated: list[str] = field(default_factory=list)


class SourceFiles:
    """Turns each month's valid rows of one source into its landing file.

    A month's file holds, in order: the month's on-time rows sorted by time (same-file duplicate
    copies a little after their original), then the previous month's late events and
    re-delivered duplicates, with malformed rows inserted at random lines, and possibly a
    truncated last line. Every row's CSV line number is known, so the truth can point at it.
    """

    def __init__(self, world: World, source: Source, landing: Path, truth: Truth, **shares):
        self.w, self.src, self.truth = world, source, truth
        self.folder = landing / source.name
        self.folder.mkdir(parents=True)
        self.gz = source.name == "email_events"
        self.malformed_share = shares["malformed_share"]
        self.duplicate_share = shares["duplicate_share"] if source.name in DUPLICATE_SOURCES else 0
        self.late_share = LATE_SHARE if source.name in LATE_SOURCES else 0.0
        self.carry: pl.DataFrame | None = None  # late rows and re-deliveries for next month
        self.carry_late = 0
        self.stats = _Stats()
        self.iso = source.name == "app_events"

    def file_name(self, m: int) -> str:
        return f"{self.src.name}_{self.w.labels[m]}.csv" + (".gz" if self.gz else "")

    def write_month(self, m: int, valid: pl.DataFrame) -> None:
        """Write month m's file from its valid rows. Copies of the month's rows are dropped as
        soon as they are not needed: at a million customers a month of web events is ~2M rows."""
        rng = stream(self.w.seed, S_FILES, SOURCE_ORDER.index(self.src.name), m)
        last = m == self.w.months - 1  # nothing can be delivered after the window
        valid = valid.with_columns(_seq=pl.int_range(pl.len(), dtype=pl.Int64)).sort("_ts", "_seq")
        late = (rng.random(valid.height) < self.late_share) & (not last)
        on_time = valid.filter(~pl.Series(late))
        late_rows = valid.filter(pl.Series(late))
        del valid
        n_on = on_time.height
        on_time = on_time.with_columns(_pos=pl.int_range(n_on, dtype=pl.Int64) * 4)

        # Duplicates: exact copies of on-time rows, here a little later or in next month's file.
        n_dup = int(round(self.duplicate_share * n_on))
        picks = np.sort(rng.choice(n_on, n_dup, replace=False)) if n_dup else np.zeros(0, int)
        copies = 1 + (rng.random(n_dup) < 0.1)
        redeliver = (rng.random(n_dup) < 0.5) & (not last)
        rows = np.repeat(picks, copies)
        later = np.repeat(redeliver, copies)
        near = rows + (rng.random(len(rows)) * np.minimum(n_on - rows, 2000)).astype(np.int64)
        dup_rows = on_time[rows]
        same = dup_rows.filter(~pl.Series(later)).with_columns(
            _pos=pl.Series(near[~later] * 4 + 1, dtype=pl.Int64)
        )
        next_dups = dup_rows.filter(pl.Series(later)).drop("_pos")
        if n_dup:
            key = self.src.key
            self.truth.duplicates.append(
                pl.DataFrame(
                    {
                        "source": self.src.name,
                        "record_key": on_time[picks][key],
                        "copies": copies.astype(np.int64),
                    }
                )
            )
            self.stats.duplicates += len(rows)

        carried = self.carry if self.carry is not None else on_time.clear().drop("_pos")
        carried = carried.with_columns(_pos=(n_on + pl.int_range(pl.len(), dtype=pl.Int64)) * 4)
        self.stats.late += self.carry_late
        body_n = n_on + same.height + carried.height

        # Malformed rows: new records made from random valid rows, inserted at random lines.
        n_bad = int(round(self.malformed_share * body_n))
        if body_n >= 200 and self.malformed_share > 0:
            # Every file of some size has its share, rounded up: at least one.
            n_bad = int(np.ceil(self.malformed_share * body_n))
        n_bad = n_bad if n_on else 0
        bad = self._malformed(rng, on_time, n_bad)
        slot = rng.integers(0, n_on + carried.height + 1, n_bad)
        bad = bad.with_columns(_pos=pl.Series(slot * 4 - 1, dtype=pl.Int64))

        final = pl.concat([on_time, same, carried, bad], how="diagonal")
        del on_time, same, carried, bad, dup_rows
        final = final.with_columns(_tie=pl.int_range(pl.len(), dtype=pl.Int64))
        final = final.sort("_pos", "_tie")
        self._write(m, final, rng)
        del final
        self.carry = pl.concat([late_rows, next_dups], how="diagonal").drop("_seq")
        self.carry_late = late_rows.height

    def _write(self, m: int, final: pl.DataFrame, rng: np.random.Generator) -> None:
        name = self.file_name(m)
        path = self.folder / name
        # Contract columns this generator does not make (e.g. a contact's date of birth) are
        # left out of the file, as a company without them would.
        cols = [c for c in self.src.column_names if c in final.columns]
        truncated = None
        if (self.src.name, m) in self.w.truncated and final.height and self.malformed_share:
            truncated = self._truncated_line(rng, final)
        if self.gz:
            final.select(cols).write_csv(path, compression="gzip", compression_level=1)
        else:
            final.select(cols).write_csv(path)
        line = pl.int_range(2, final.height + 2, dtype=pl.Int64, eager=True)
        person = self.w.person_ids.gather(final["_pidx"])
        records = pl.DataFrame(
            {"source": self.src.name, "record_key": final[self.src.key], "person_id": person}
        )
        bad = final.with_columns(source_row=line, person_id=person).filter(
            pl.col("_kind").is_not_null()
        )
        bad = bad.select(
            source=pl.lit(self.src.name),
            file=pl.lit(name),
            source_row="source_row",
            kind="_kind",
            column="_column",
            record_key=self.src.key,
            person_id="person_id",
        )
        if truncated is not None:
            text, key, pidx = truncated
            with path.open("ab") as fh:
                fh.write(text.encode())  # no newline: the export was cut off
            self.stats.truncated.append(name)
            person_id = self.w.person_ids[int(pidx)]
            records = pl.concat(
                [
                    records,
                    pl.DataFrame(
                        {"source": [self.src.name], "record_key": [key], "person_id": [person_id]}
                    ),
                ]
            )
            bad = pl.concat(
                [
                    bad,
                    pl.DataFrame(
                        {
                            "source": [self.src.name],
                            "file": [name],
                            "source_row": [final.height + 2],
                            "kind": ["truncated_line"],
                            "column": [None],
                            "record_key": [key],
                            "person_id": [person_id],
                        },
                        schema=bad.schema,
                    ),
                ]
            )
        self.truth.records(records)
        self.truth.malformed.append(bad)
        self._note_traps(final)
        self.stats.rows += records.height
        self.stats.files += 1
        self.stats.malformed += bad.height

    def _note_traps(self, final: pl.DataFrame) -> None:
        """Which persons' rows in this file carry a planted trap value, exactly as written."""
        for col in self.src.columns:
            traps = self.w.trap_values.get(col.identifier or "")
            if traps is None:
                continue
            hits = (
                final.lazy()
                .select(value=pl.col(col.name), person=pl.col("_pidx"))
                .filter(pl.col("value").is_in(traps["value"].implode()))
                .unique()
                .join(traps.lazy(), on="value")
                .select("trap", id_type=pl.lit(col.identifier), value="value", person="person")
                .collect()
            )
            self.truth.traps.append(hits)

    def _truncated_line(self, rng: np.random.Generator, final: pl.DataFrame):
        """A new record cut off in its third field: too few fields, no closing newline."""
        tmpl = final.filter(pl.col("_kind").is_null())
        row = tmpl[int(rng.integers(0, tmpl.height))]
        keys = self.w.fresh_keys(self.src.name, 1)
        row = row.with_columns(**{c: s for c, s in keys.items()})
        fields = [row[c][0] or "" for c in self.src.column_names[:3]]
        text = ",".join(fields[:2] + [fields[2][: max(1, len(fields[2]) // 2)]])
        key = row[self.src.key][0]
        return text, key, int(row["_pidx"][0])

    def _malformed(self, rng: np.random.Generator, tmpl: pl.DataFrame, k: int):
        """`k` new records, each breaking exactly one contract rule (its `_kind`)."""
        src = self.src
        empty = tmpl.clear().with_columns(
            _kind=pl.lit(None, pl.String), _column=pl.lit(None, pl.String)
        )
        if k == 0:
            return empty.drop("_pos")
        rows = tmpl[rng.integers(0, tmpl.height, k)].drop("_pos")
        rows = rows.with_columns(**self.w.fresh_keys(src.name, k))
        kinds = np.asarray(KINDS_BY_SOURCE[src.name])[
            rng.integers(0, len(KINDS_BY_SOURCE[src.name]), k)
        ]
        required = [c.name for c in src.columns if c.required]
        missing = np.asarray(required)[rng.integers(0, len(required), k)]
        column = np.full(k, src.timestamp, dtype=object)
        pick = rng.integers(0, 1 << 20, k)
        partner = {a: b for a, b in src.ordered}.get(src.timestamp)

        def choice(values: tuple[str, ...]) -> pl.Series:
            return take(values, pick % len(values))

        def put(col: str, mask: np.ndarray, values: pl.Series | str | None) -> None:
            nonlocal rows
            if values is None:
                new = masked(rows[col], ~mask)
            else:
                new = replace_where(rows[col], mask, values)
            rows = rows.with_columns(new.alias(col))

        ts = src.timestamp
        for kind in sorted(set(kinds.tolist())):
            mask = kinds == kind
            if kind == "bad_timestamp":
                put(ts, mask, choice(BAD_TIMESTAMPS_ISO if self.iso else BAD_TIMESTAMPS))
            elif kind == "timestamp_out_of_range":
                put(ts, mask, choice(OUT_OF_RANGE_TS_ISO if self.iso else OUT_OF_RANGE_TS))
            elif kind == "missing_required":
                for col in required:
                    put(col, mask & (missing == col), None)
                column[mask] = missing[mask]
            elif kind == "non_numeric_amount":
                put("amount", mask, choice(NON_NUMERIC))
                column[mask] = "amount"
            elif kind == "negative_amount":
                neg = pl.select(
                    pl.when(rows["amount"] == "0.00")
                    .then(pl.lit("-12.50"))
                    .otherwise(pl.lit("-") + rows["amount"])
                ).to_series()
                put("amount", mask, neg)
                column[mask] = "amount"
            elif kind == "bad_accepted_value":
                col, values = BAD_ACCEPTED[src.name]
                put(col, mask, choice(values))
                column[mask] = col
            elif kind == "out_of_range":
                put("satisfaction", mask, choice(BAD_SATISFACTION))
                column[mask] = "satisfaction"
            elif kind == "closed_before_opened":
                back = rows["_ts"].to_numpy() - rng.integers(3600, 72 * 3600, k)
                put("closed_at", mask, ts_strings(back))
                column[mask] = "closed_at"
            elif kind == "missing_contact":
                put("email", mask, None)
                put("phone", mask, None)
                column[mask] = "email,phone"
            # A broken or absurd opening time must not also make the pair look out of order.
            if partner and kind in ("bad_timestamp", "timestamp_out_of_range"):
                put(partner, mask, None)
        return rows.with_columns(
            _kind=pl.Series(kinds.astype(str), dtype=pl.String),
            _column=pl.Series(column.astype(str), dtype=pl.String),
        )


def sources_yaml(gz: set[str]) -> str:
    """The landing folder's sources.yaml: one file pattern per source, gzipped or not."""
    lines = [
        "# Written by seg-platform generate: the synthetic company's landing files.",
        "version: 1",
        "sources:",
    ]
    for name in SOURCE_ORDER + FEEDBACK_SOURCES:
        ext = "csv.gz" if name in gz else "csv"
        lines += [f"  {name}:", f"    path: {name}/*.{ext}"]
    return "\n".join(lines) + "\n"
