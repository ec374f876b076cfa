"""Request signing for Bedrock: AWS Signature Version 4 with botocore's maintained implementation.

botocore is imported here, lazily, so a gateway without a Bedrock deployment never loads it (it costs
about a tenth of a second at start-up). The credentials and the signer are built once per deployment;
each request is signed on its own because the signature covers the body and the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchyard.errors import ConfigError

SERVICE = "bedrock"


class SigV4Signer:
    __slots__ = ("_auth", "_request_class")

    def __init__(self, region: str, access_key: str, secret_key: str, session_token: str | None) -> None:
        try:
            from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
            from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
            from botocore.credentials import Credentials  # type: ignore[import-untyped]
        except ImportError:
            raise ConfigError(
                "provider",
                "provider 'bedrock' signs requests with botocore, which is not installed",
                "pip install 'switchyard[bedrock]'",
            ) from None
        self._auth: Any = SigV4Auth(Credentials(access_key, secret_key, session_token), SERVICE, region)
        self._request_class: Any = AWSRequest

    def sign(self, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers to send: ``headers`` plus X-Amz-Date, Authorization (and X-Amz-Security-Token)."""
        request = self._request_class(method="POST", url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        return dict(request.headers.items())
