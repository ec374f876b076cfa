"""Turn the config's model groups into runtime groups with their provider adapters."""

from __future__ import annotations

import time
from collections.abc import Mapping

from switchyard.accounting.pricing import price_for
from switchyard.config.schema import Config, ModelGroup, RouterSettings, deployment_id
from switchyard.errors import ConfigError
from switchyard.providers.base import ProviderContext, ProviderFactory
from switchyard.routing.strategies import build_strategy
from switchyard.routing.target import Group, GroupPolicy, Target


def build_groups(
    config: Config, providers: Mapping[str, ProviderFactory], context: ProviderContext
) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    created = int(time.time())
    for name, spec in config.model_groups.items():
        if spec.router is not None:  # router groups are built by routing.router_build
            continue
        targets = []
        for index, deployment in enumerate(spec.deployments):
            path = f"model_groups.{name}.deployments[{index}]"
            factory = providers.get(deployment.provider)
            if factory is None:
                raise ConfigError(
                    f"{path}.provider",
                    f"unknown provider {deployment.provider!r}",
                    "use one of: " + ", ".join(sorted(providers)),
                )
            try:
                provider = factory(deployment, context)
            except ConfigError as exc:
                raise ConfigError(f"{path}.{exc.path}", exc.message, exc.fix) from None
            targets.append(Target(deployment_id(name, index, deployment), deployment, provider, price_for(deployment)))
        strategy = build_strategy(spec.strategy or config.router.strategy)
        groups[name] = Group(name, targets, strategy, policy_for(spec, config.router), created)
    return groups


def policy_for(group: ModelGroup, router: RouterSettings) -> GroupPolicy:
    def pick(own: float | None, default: float | None) -> float | None:
        return own if own is not None else default

    retries = group.num_retries if group.num_retries is not None else router.num_retries
    return GroupPolicy(
        attempts=1 + retries,
        timeout_s=group.timeout_s or router.timeout_s,
        total_timeout_s=group.total_timeout_s or router.total_timeout_s,
        ttft_timeout_s=pick(group.ttft_timeout_s, router.ttft_timeout_s),
        stall_timeout_s=pick(group.stall_timeout_s, router.stall_timeout_s),
        fallbacks=group.fallbacks,
        hedge=group.hedge or router.hedge,
    )
