"""The only place that reads configuration files and ``os.environ``.

Values written as ``os.environ/NAME`` are replaced by that environment variable, so secrets stay out of
config files. Every problem becomes a ``ConfigError`` naming the key path and a one-line fix.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from switchyard.config.schema import DEMO_CONFIG, Config
from switchyard.errors import ConfigError

ENV_PREFIX = "os.environ/"
CONFIG_ENV = "SWITCHYARD_CONFIG"


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load, interpolate and validate a config file; without a file, the demo configuration.

    ``overrides`` sets ``server`` keys (e.g. from CLI flags). ``SWITCHYARD_DATA_DIR`` and
    ``SWITCHYARD_MASTER_KEY`` in the environment override the file, so a deployment can keep both out of it.
    """
    environ = os.environ if env is None else env
    path = path or environ.get(CONFIG_ENV) or None
    raw = _read_yaml(Path(path)) if path else _copy(DEMO_CONFIG)
    raw = _interpolate(raw, "", environ)
    server = raw.setdefault("server", {})
    if not isinstance(server, dict):
        raise ConfigError("server", "must be a mapping", "write `server:` followed by indented keys")
    if environ.get("SWITCHYARD_DATA_DIR"):
        server["data_dir"] = environ["SWITCHYARD_DATA_DIR"]
    if environ.get("SWITCHYARD_MASTER_KEY"):
        server["master_key"] = environ["SWITCHYARD_MASTER_KEY"]
    for key, value in (overrides or {}).items():
        if value is not None:
            server[key] = value
    return validate(raw)


def validate(raw: Any) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise _first_problem(exc) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc.strerror}", "check the path") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("", f"{path} is not valid YAML{where}", "fix the indentation or quoting") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("", f"{path} must hold a mapping at the top level", "start with `model_groups:`")
    return data


def _interpolate(value: Any, path: str, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in environ:
            raise ConfigError(path, f"environment variable {name} is not set", f"export {name}=...")
        return environ[name]
    if isinstance(value, dict):
        return {k: _interpolate(v, _join(path, str(k)), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", environ) for i, v in enumerate(value)]
    return value


def _first_problem(exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    loc = error["loc"]
    path = ""
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    if error["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(key, sorted(_all_field_names(Config)), n=1)
        fix = f"did you mean `{close[0]}`?" if close else "remove it; see examples/ for the schema"
        return ConfigError(path, "unknown key", fix)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return ConfigError(path, "required key is missing", f"add `{loc[-1]}:`")
    return ConfigError(path, message, _fix_for(error["type"]))


def _fix_for(error_type: str) -> str | None:
    hints = {
        "greater_than": "use a positive number",
        "greater_than_equal": "use a larger number",
        "less_than_equal": "use a smaller number",
        "literal_error": "use one of the listed values",
        "int_parsing": "write a whole number",
        "float_parsing": "write a number",
        "bool_parsing": "write true or false",
        "dict_type": "write a mapping (indented `key: value` lines)",
        "list_type": "write a list (lines starting with `- `)",
        "too_short": "add at least one entry",
    }
    return hints.get(error_type)


def _all_field_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for arg in _nested_models(field.annotation):
            names |= _all_field_names(arg)
    return names


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found += _nested_models(arg)
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
