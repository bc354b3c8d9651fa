"""When the stored duplicate model is reused and when a build trains a new version."""

import dataclasses

import duckdb
import pytest

from seg_platform.core.identity_rules import IdentityRules
from seg_platform.identity.linkage_store import ModelStore, rules_fingerprint

pytestmark = pytest.mark.unit

# (version, fingerprint, suppression, contacts when trained, trained run, report)
STORED = (3, "spec-a", "erased-1", 1000, "run-7", "{}")


@pytest.mark.parametrize(
    ("latest", "fingerprint", "suppression", "share", "contacts", "reason"),
    [
        (None, "spec-a", "erased-1", 0.25, 1000, "no stored model"),
        (STORED, "spec-a", "erased-1", 0.25, 1000, None),
        (STORED, "spec-a", "erased-1", 0.25, 1250, None),
        (STORED, "spec-a", "erased-1", 0.25, 1251, "contacts grew by more than 25%"),
        (STORED, "spec-a", "erased-1", 0.25, 900, None),
        (STORED, "spec-b", "erased-1", 0.25, 1000, "the model's specification, the identity"),
        (STORED, "spec-a", "erased-2", 0.25, 1000, "people were erased since it was trained"),
        (STORED, "spec-a", "erased-1", 0.0, 1000, "retrained on every build"),
    ],
)
def test_a_new_model_is_trained_only_when_due(
    latest, fingerprint, suppression, share, contacts, reason
):
    store = ModelStore(duckdb.connect(), "run-9", suppression, share)
    got = store.why_train(latest, fingerprint, contacts)
    if reason is None:
        assert got is None
    else:
        assert got is not None and got.startswith(reason)


def test_a_requested_full_rebuild_trains_and_other_rules_change_the_fingerprint():
    """`--full-reload` retrains whatever is stored; any identity rule but the retraining share
    itself makes the stored model another specification's."""
    forced = ModelStore(duckdb.connect(), "run-9", "erased-1", 0.25, retrain="full rebuild")
    assert forced.why_train(STORED, "spec-a", 1000) == "full rebuild"
    rules = IdentityRules()
    same = rules_fingerprint(dataclasses.replace(rules, dedup_model_retrain_share=0.5))
    assert same == rules_fingerprint(rules)
    other = rules_fingerprint(dataclasses.replace(rules, strip_plus_tags=not rules.strip_plus_tags))
    assert other != rules_fingerprint(rules)
