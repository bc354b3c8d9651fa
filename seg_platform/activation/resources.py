"""The activation group's Dagster resources: its settings (`ActivationConfig`, defaults read
from `settings.ActivationSettings`, where they are written once), and the feeds erasure scrubs
(`published_outputs`)."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from seg_platform.activation.feeds import FeedErasure
from seg_platform.activation.settings import DEFAULTS
from seg_platform.core import settings


class ActivationConfig(dg.ConfigurableResource):
    """Feeds, holdouts, lift and surveys (README, "Activation"); all have defaults.

    Override in the Dagster launchpad under `resources.activation.config`.
    """

    destinations: str | None = Field(
        default=DEFAULTS.destinations,
        description="YAML of the destinations (channels and their feeds). Unset: the embedded "
        "default.",
    )
    surveys: str | None = Field(
        default=DEFAULTS.surveys,
        description="YAML of the survey triggers. Unset: the embedded default.",
    )
    feeds_folder: str | None = Field(
        default=DEFAULTS.feeds_folder,
        description="Folder the feed files are written to. Unset: activation/ in the platform "
        "home.",
    )
    holdout_share: float = Field(
        default=DEFAULTS.holdout_share,
        description="Share of each segment held out of every feed as a control group, in [0, 1).",
    )
    segment_holdout_shares: dict[str, float] = Field(
        default=DEFAULTS.segment_holdout_shares,
        description="Segment name to its own holdout share, replacing holdout_share for it.",
    )
    holdout_salt: str = Field(
        default=DEFAULTS.holdout_salt,
        description="Salt of the deterministic holdout draw: changing it draws a new control "
        "group.",
    )
    confidence: float = Field(
        default=DEFAULTS.confidence,
        description="Confidence level of the lift intervals, in (0.5, 1).",
    )
    min_group: int = Field(
        default=DEFAULTS.min_group,
        description="Fewer customers with an outcome in a group: no lift interval for it.",
    )
    survey_response_days: int = Field(
        default=DEFAULTS.survey_response_days,
        description="Answers this many days after a trigger count for it.",
    )

    def folder(self) -> Path:
        return (
            Path(self.feeds_folder)
            if self.feeds_folder
            else (settings.platform_home().root / "activation")
        )

    def validate_settings(self) -> None:
        for name, share in {"holdout_share": self.holdout_share,
                            **self.segment_holdout_shares}.items():  # fmt: skip
            if not 0 <= share < 1:
                raise ValueError(f"activation holdout share for {name} = {share}: use [0, 1)")
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"activation.confidence = {self.confidence}: use (0.5, 1)")


@dg.resource(required_resource_keys={"activation"})
def published_outputs(init_context) -> FeedErasure:
    """The feeds erasure scrubs (`privacy.published.PublishedOutputs`), with the destinations
    and folder of `resources.activation` (a nested ConfigurableResource did not receive the
    launchpad's `resources.activation.config`; a resource depending on the key does)."""
    activation = init_context.resources.activation
    return FeedErasure(activation.destinations or None, activation.folder())
