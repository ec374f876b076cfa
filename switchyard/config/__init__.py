"""Configuration: one strict schema (``schema``) and its only reader (``loader``)."""

from switchyard.config.loader import load_config
from switchyard.config.schema import Config, Deployment, ModelGroup, RouterSettings, ServerSettings

__all__ = ["Config", "Deployment", "ModelGroup", "RouterSettings", "ServerSettings", "load_config"]
