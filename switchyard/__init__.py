"""Switchyard: an OpenAI-compatible AI gateway with almost no overhead.

The public API is deliberately small: build an app from a config, or load a config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "SwitchyardError", "__version__", "create_app", "load_config"]

if TYPE_CHECKING:
    from switchyard.config import Config, load_config
    from switchyard.errors import ConfigError, SwitchyardError
    from switchyard.server.app import create_app


def __getattr__(name: str) -> Any:
    # Lazy, so that importing a submodule (or running the CLI) does not pull in the web stack.
    if name == "create_app":
        from switchyard.server.app import create_app

        return create_app
    if name in ("Config", "load_config"):
        from switchyard import config

        return getattr(config, name)
    if name in ("ConfigError", "SwitchyardError"):
        from switchyard import errors

        return getattr(errors, name)
    raise AttributeError(name)
