"""``create_app``: the composition root, and the only module that names concrete backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from switchyard import errors
from switchyard.config import load_config
from switchyard.config.schema import Config
from switchyard.pipeline.runner import Pipeline
from switchyard.pipeline.stage import Stage
from switchyard.pipeline.stages.auth import MasterKeyAuth
from switchyard.pipeline.stages.log import RequestLogStage
from switchyard.pipeline.stages.usage import CostStage
from switchyard.providers.base import ProviderContext
from switchyard.providers.registry import PROVIDERS
from switchyard.routing.build import build_groups
from switchyard.routing.executor import Executor
from switchyard.routing.probes import HealthChecker
from switchyard.server.envelope import error_response
from switchyard.server.formats import anthropic_errors
from switchyard.server.routes import anthropic, health, openai
from switchyard.server.routes.common import Services
from switchyard.storage.memory import MemoryHealthStore
from switchyard.storage.protocols import LogSink, LogStore, NullSink
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.storage.writer import BatchWriter
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher

log = logging.getLogger("switchyard")

_HTTP_ERRORS: dict[int, type[errors.SwitchyardError]] = {
    404: errors.NotFoundError,
    405: errors.MethodNotAllowedError,
    413: errors.PayloadTooLargeError,
}


def create_app(config: Config, *, log_store: LogStore | None = None) -> Starlette:
    """Build every part of the gateway from the config and wire them together.

    ``log_store`` replaces the SQLite request-log store (tests pass a memory store).
    """
    transport = HttpTransport()
    images = config.server.images
    fetcher = GuardedFetcher(
        max_bytes=images.max_bytes, timeout_s=images.timeout_s, allow_private=images.allow_private_networks
    )
    groups = build_groups(config, PROVIDERS, ProviderContext(transport, config.router, fetcher, images.max_bytes))
    sink: LogSink = NullSink()
    if config.server.request_log:
        if log_store is None:
            log_store = SQLiteLogStore(Path(config.server.data_dir) / "switchyard.db")
        sink = BatchWriter(log_store, max_queue=config.server.log_queue_size)
    # After-stages run in reverse: cost is computed first, then the log records it.
    stages: list[Stage] = [RequestLogStage(sink), CostStage()]
    master_key = config.server.master_key
    auth = MasterKeyAuth(master_key.get_secret_value()) if master_key else None
    executor = Executor(groups, config.router, MemoryHealthStore(config.router.breaker.window_s))
    pipeline = Pipeline(executor, stages, auth)
    checks = config.router.health_checks
    checker = HealthChecker(groups, executor.health, checks.interval_s) if checks.enabled else None
    services = Services(config, pipeline, log_store, sink)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sink.start()
        probing = asyncio.get_running_loop().create_task(checker.run()) if checker else None
        services.ready = True
        try:
            yield
        finally:
            services.ready = False
            if probing is not None:
                probing.cancel()
            # Flush what was accepted before letting go of anything it might need.
            await sink.close()
            await transport.close()
            await fetcher.close()

    app = Starlette(
        routes=[*openai.routes(services), *anthropic.routes(services), *health.routes(services)],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` worker processes: config from ``SWITCHYARD_CONFIG``."""
    from switchyard.server.runtime import tune_gc

    app = create_app(load_config())
    tune_gc()
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _HTTP_ERRORS.get(exc.status_code, errors.InvalidRequestError)
    message = {
        404: f"Unknown path {request.url.path}. See /v1/models, /v1/chat/completions, /v1/embeddings.",
        405: f"Method {request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    error = kind(message)
    error.status = exc.status_code
    return _in_callers_format(request, error)


def _in_callers_format(request: Request, error: errors.SwitchyardError) -> Response:
    # Anthropic clients parse Anthropic's error shape, even for a wrong method or path under their API.
    if request.url.path.startswith("/v1/messages"):
        return anthropic_errors.error_response(error, {}, "")
    return error_response(error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug of ours: log it with the traceback, answer without one.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _in_callers_format(request, errors.SwitchyardError("The gateway hit an internal error; it has been logged."))
