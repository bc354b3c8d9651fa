"""What erasure needs of the outputs published outside the warehouse (feed files, and later
an API push): the interface privacy defines and activation implements, so erasure stays
upstream of activation and imports nothing from it."""

import datetime as dt
from typing import Protocol


class PublishedOutputs(Protocol):
    """The published outputs erasure scrubs; Definitions bind an implementation as the resource
    `published_outputs` (activation's `FeedErasure` for the feeds)."""

    def check_config(self) -> None:
        """Read the configuration, raising a `ConfigFileError` before anything is deleted."""

    def holding(self, con) -> list[tuple[str, dt.date]]:
        """The published outputs (destination, as_of_date) holding a row of a profile in the
        temp table `_erased_profiles`; called before their rows leave the warehouse."""
        ...

    def scrub(self, con, outputs: list[tuple[str, dt.date]], profile_ids: list[str]) -> int:
        """Write `outputs` again without the erased profiles, from the tables as they are after
        the erasure; files rewritten."""
        ...
