"""Asset keys prefixed by layer: an asset of group `segments` is `segments/<name>`.

The group is written once where an asset is declared (`@dg.asset(**in_layer("segments"))`,
`layer_specs("segments", [...])`) and the key's prefix is derived from it, so the two cannot
disagree; other assets are named by `layer_key(group, name)`. The key's last part stays the
table's name (the table `segments.segment_profiles` is the asset `segments/segment_profiles`).
"""

from collections.abc import Iterable
from typing import TypedDict

import dagster as dg


class InLayer(TypedDict):
    group_name: str
    key_prefix: list[str]


def in_layer(group: str) -> InLayer:
    """`group_name` and `key_prefix` of an `@dg.asset` of `group`:
    `@dg.asset(**in_layer("privacy"))` on `def erasure` declares `privacy/erasure`."""
    return {"group_name": group, "key_prefix": [group]}


def layer_specs(group: str, specs: Iterable[dg.AssetSpec]) -> list[dg.AssetSpec]:
    """The specs of a `@dg.multi_asset` in `group`, each keyed `group/<its name>`."""
    return [
        spec.replace_attributes(key=spec.key.with_prefix(group), group_name=group) for spec in specs
    ]


def layer_key(group: str, name: str) -> dg.AssetKey:
    """The key of the asset `name` of `group` (for deps, check targets and results)."""
    return dg.AssetKey([group, name])
