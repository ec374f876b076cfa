"""Turn the config's model groups into runtime groups with their provider adapters."""

from __future__ import annotations

import time
from collections.abc import Mapping

from switchyard.config.schema import Config, deployment_id
from switchyard.errors import ConfigError
from switchyard.providers.base import ProviderContext, ProviderFactory
from switchyard.routing.strategies import build_strategy
from switchyard.routing.target import Group, Target


def build_groups(
    config: Config, providers: Mapping[str, ProviderFactory], context: ProviderContext
) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    created = int(time.time())
    for name, spec in config.model_groups.items():
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
            if spec.timeout_s is not None and deployment.timeout_s is None:
                deployment = deployment.model_copy(update={"timeout_s": spec.timeout_s})
            try:
                provider = factory(deployment, context)
            except ConfigError as exc:
                raise ConfigError(f"{path}.{exc.path}", exc.message, exc.fix) from None
            targets.append(Target(deployment_id(name, index, deployment), deployment, provider))
        strategy = build_strategy(spec.strategy or config.router.strategy)
        retries = spec.num_retries if spec.num_retries is not None else config.router.num_retries
        groups[name] = Group(name, targets, strategy, 1 + retries, created)
    return groups
