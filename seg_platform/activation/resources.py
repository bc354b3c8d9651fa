"""The activation side of resources other groups use: the feeds as `published_outputs`."""

import dagster as dg

from seg_platform.activation.feeds import FeedErasure


@dg.resource(required_resource_keys={"activation"})
def published_outputs(init_context) -> FeedErasure:
    """The feeds erasure scrubs (`privacy.published.PublishedOutputs`), with the destinations
    and folder of `resources.activation` (a nested ConfigurableResource did not receive the
    launchpad's `resources.activation.config`; a resource depending on the key does)."""
    activation = init_context.resources.activation
    return FeedErasure(activation.destinations or None, activation.folder())
