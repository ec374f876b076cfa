"""Azure OpenAI: OpenAI's wire format at Azure's URLs, with Azure's credentials and content filter.

Two URL styles, chosen by ``api_version``:

- a dated version (``2024-10-21``, ``2025-04-01-preview``, ...): the deployment is in the path,
  ``{api_base}/openai/deployments/{model}/chat/completions?api-version={api_version}``;
- ``v1`` (the v1 API, GA since August 2025) or ``preview``: ``{api_base}/openai/v1/chat/completions``
  with the deployment name as ``model`` in the body (``?api-version=preview`` for the latter).

``api_base`` is the resource endpoint, ``https://NAME.openai.azure.com`` (a trailing ``/openai`` or
``/openai/v1`` is tolerated). Credentials: ``api_key`` goes in the ``api-key`` header; without one,
``azure_ad_token`` (Microsoft Entra ID) goes in ``Authorization: Bearer``.

Azure's differences from OpenAI that matter here: a streamed answer opens with a chunk whose ``choices``
is empty and which carries only ``prompt_filter_results`` (dropped, because clients written for OpenAI
index ``choices[0]`` of every chunk); a prompt the content filter rejects is a 400 with
``code: "content_filter"`` (a ``ContentPolicyError``); a filtered answer ends with
``finish_reason: "content_filter"`` (passed on as is, it is OpenAI's value too).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

import msgspec

from switchyard import errors
from switchyard.config.schema import Deployment
from switchyard.providers._openai_compat import OpenAICompatProvider, OpenAICompatSpec, upstream_error
from switchyard.providers.base import ProviderContext

# The newest dated GA version of the data-plane inference API (the one the REST reference documents).
CURRENT_GA_VERSION = "2024-10-21"
_V1_STYLES = ("v1", "preview")
_DATED = re.compile(r"^(\d{4}-\d{2}-\d{2})(-preview)?$")
# stream_options.include_usage exists from 2024-09-01-preview on; older versions reject the field.
_STREAM_USAGE_SINCE = "2024-09-01"

SPEC = OpenAICompatSpec("azure", None, requires_api_key=False, auth_header="api-key", auth_prefix="")


class _Probe(msgspec.Struct):
    choices: list[msgspec.Raw] | None = None
    usage: msgspec.Raw | None = None


_probe = msgspec.json.Decoder(_Probe)


def is_prompt_filter_chunk(payload: bytes) -> bool:
    """Azure's extra chunks: no choices and no usage (only filter annotations). Cheap test first."""
    if b"prompt_filter_results" not in payload:
        return False
    try:
        probe = _probe.decode(payload)
    except msgspec.DecodeError:
        return False  # the relay reports malformed chunks
    return not probe.choices and probe.usage is None


class AzureOpenAIProvider(OpenAICompatProvider):
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        version = deployment.api_version
        if not version:
            raise errors.ConfigError(
                "api_version",
                "provider 'azure' needs an api_version",
                f"api_version: {CURRENT_GA_VERSION} (or v1 for the v1 API)",
            )
        dated = _DATED.match(version)
        if version not in _V1_STYLES and dated is None:
            raise errors.ConfigError(
                "api_version",
                f"{version!r} is not an Azure OpenAI API version",
                f"use a dated version such as {CURRENT_GA_VERSION}, or v1",
            )
        if not deployment.api_base:
            raise errors.ConfigError(
                "api_base", "provider 'azure' needs the resource endpoint", "api_base: https://NAME.openai.azure.com"
            )
        if not deployment.api_key and not deployment.azure_ad_token:
            raise errors.ConfigError(
                "api_key",
                "provider 'azure' needs an api_key or an azure_ad_token",
                "api_key: os.environ/AZURE_OPENAI_API_KEY",
            )
        self._version = version
        token = deployment.azure_ad_token.get_secret_value() if deployment.azure_ad_token else None
        self._token = None if deployment.api_key else token
        stream_usage = dated is None or dated.group(1) >= _STREAM_USAGE_SINCE
        super().__init__(dataclasses.replace(SPEC, stream_usage=stream_usage), deployment, context)
        if self._token:
            self._secret = self._token

    def _urls(self, base: str, deployment: Deployment) -> tuple[str, str]:
        root = re.sub(r"/openai(/v1)?$", "", base)
        if self._version in _V1_STYLES:
            query = "?api-version=preview" if self._version == "preview" else ""
            return f"{root}/openai/v1/chat/completions{query}", f"{root}/openai/v1/embeddings{query}"
        prefix = f"{root}/openai/deployments/{deployment.model}"
        query = f"?api-version={self._version}"
        return f"{prefix}/chat/completions{query}", f"{prefix}/embeddings{query}"

    def _auth(self, key: str | None, deployment: Deployment) -> dict[str, str]:
        if key:
            return {"api-key": key}
        return {"Authorization": f"Bearer {self._token}"}

    def _chunk_filter(self) -> Callable[[bytes], bool] | None:
        return is_prompt_filter_chunk

    def _error(self, status: int, headers: Mapping[str, str], body: bytes) -> errors.SwitchyardError:
        error = upstream_error("azure", status, headers, body, self._secret)
        if status == 404 and b"DeploymentNotFound" in body:
            # The deployment name is wrong or not yet live: this deployment cannot serve, another one may,
            # and trying the same one again is pointless.
            error = errors.UpstreamNotFoundError(
                f"upstream azure has no deployment {self._model!r} at this resource (DeploymentNotFound)"
            )
        return error
