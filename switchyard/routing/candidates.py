"""Which of a group's deployments may serve this request: pins, exclusions, capabilities, health."""

from __future__ import annotations

from switchyard import errors
from switchyard.routing.health import Health
from switchyard.routing.options import RequestShape, RouteOptions
from switchyard.routing.target import Group, Target


def capable(group: Group, shape: RequestShape, options: RouteOptions) -> list[Target]:
    """The deployments able to serve the request, or the error that says why none is."""
    targets = group.targets
    if options.pin is not None:
        targets = [t for t in targets if t.id == options.pin]
        if not targets:
            raise errors.InvalidRequestError(
                f"deployment {options.pin!r} is not part of model group {group.name!r}", param="x-switchyard-pin"
            )
    if options.exclude:
        targets = [t for t in targets if t.id not in options.exclude]
    if not targets:
        raise errors.InvalidRequestError(
            f"every deployment of {group.name!r} was excluded", param="x-switchyard-exclude"
        )
    needs = [("tools", shape.tools), ("vision", shape.vision), ("json_schema", shape.json_schema)]
    for capability, needed in needs:
        if needed:
            targets = [t for t in targets if getattr(t.config.capabilities, capability)]
            if not targets:
                raise errors.NoCapableDeploymentError(
                    f"no deployment of model group {group.name!r} supports {capability.replace('_', ' ')}"
                )
    tokens = shape.prompt_tokens + shape.max_output_tokens
    fitting = [t for t in targets if t.config.context_window is None or t.config.context_window >= tokens]
    if not fitting:
        largest = max(t.config.context_window or 0 for t in targets)
        raise errors.ContextWindowExceededError(
            f"the request needs about {tokens} tokens; the largest context in {group.name!r} is {largest}",
            param="messages",
        )
    return fitting


def healthy(group: Group, targets: list[Target], health: Health) -> list[Target]:
    ready = [t for t in targets if health.available(t.id)]
    if ready:
        return ready
    wait = min(health.seconds_until_available(t.id) for t in targets)
    if all(health.cooling_down(t.id) for t in targets):
        # Every deployment asked us to wait (Retry-After): that is a rate limit, and the client should hear so.
        raise errors.UpstreamRateLimitError(
            f"every deployment of model group {group.name!r} is rate limited", retry_after=wait
        )
    raise errors.NoHealthyDeploymentError(
        f"every deployment of model group {group.name!r} is failing or cooling down", retry_after=wait
    )
