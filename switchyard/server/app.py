"""``create_app``: the composition root, and the only module that names concrete backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from switchyard import errors
from switchyard.accounting.tokens import TokenCounter
from switchyard.auth.admin import AdminService
from switchyard.auth.authenticator import Authenticator
from switchyard.auth.boot import start_or_retry
from switchyard.cache.memory import MemoryCache
from switchyard.cache.policy import resolve as cache_policy
from switchyard.cache.protocols import CacheBackend, SemanticIndex
from switchyard.config import load_config
from switchyard.config.schema import Config
from switchyard.limits.alerts import WebhookNotifier
from switchyard.limits.budget import BudgetStore, MemoryBudgetStore, seed_from_history
from switchyard.limits.memory import MemoryLimitStore
from switchyard.limits.protocols import LimitStore
from switchyard.observability.build import build_observability
from switchyard.observability.logs import configure_logging
from switchyard.pipeline.cache import ResponseCache
from switchyard.pipeline.runner import Pipeline
from switchyard.pipeline.stage import Stage
from switchyard.pipeline.stages.access import AccessStage
from switchyard.pipeline.stages.auth import AuthStage
from switchyard.pipeline.stages.budget import BudgetStage
from switchyard.pipeline.stages.limits import LimitsStage, sizing_from_config
from switchyard.pipeline.stages.log import RequestLogStage
from switchyard.pipeline.stages.metrics import observability_stages
from switchyard.pipeline.stages.redact import Redactor
from switchyard.pipeline.stages.usage import CostStage
from switchyard.providers.base import ProviderContext
from switchyard.providers.registry import PROVIDERS
from switchyard.routing.build import build_groups
from switchyard.routing.executor import Executor
from switchyard.routing.probes import HealthChecker
from switchyard.routing.router_build import build_routers
from switchyard.routing.router_group import RouterGroup
from switchyard.server.envelope import error_response
from switchyard.server.fast import FastPaths
from switchyard.server.formats import anthropic_errors
from switchyard.server.routes import (
    admin,
    admin_cache,
    admin_keys,
    admin_logs,
    admin_routers,
    admin_status,
    anthropic,
    health,
    metrics,
    openai,
)
from switchyard.server.routes import route as routing_routes
from switchyard.server.routes import ui as dashboard
from switchyard.server.routes.common import Services
from switchyard.storage.feedback import FeedbackStore, SQLiteFeedbackStore
from switchyard.storage.keys_protocol import KeyStore
from switchyard.storage.keys_sqlite import SQLiteKeyStore
from switchyard.storage.logs_protocol import LogBackend, SyncLogStore
from switchyard.storage.memory import MemoryHealthStore
from switchyard.storage.protocols import LogSink, NullSink
from switchyard.storage.spill import Spill
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.storage.writer import BatchWriter
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher
from switchyard.transport.proxy import Proxy

if TYPE_CHECKING:  # scale-out backends are imported where they are built, so the default never loads redis
    from switchyard.storage.redis_health import RedisHealthStore

log = logging.getLogger("switchyard")

_HTTP_ERRORS: dict[int, type[errors.SwitchyardError]] = {
    404: errors.NotFoundError,
    405: errors.MethodNotAllowedError,
    413: errors.PayloadTooLargeError,
}


def create_app(
    config: Config, *, log_store: SyncLogStore | LogBackend | None = None, span_exporter: object = None
) -> ASGIApp:
    """Build every part of the gateway from the config and wire them together.

    ``log_store`` replaces the SQLite request-log store (tests pass a memory store); ``span_exporter`` is an
    OpenTelemetry span exporter that turns tracing on (tests pass an in-memory one).
    """
    transport = HttpTransport(proxy=_egress_proxy(config))
    images = config.server.images
    fetcher = GuardedFetcher(
        max_bytes=images.max_bytes, timeout_s=images.timeout_s, allow_private=images.allow_private_networks
    )
    groups = build_groups(config, PROVIDERS, ProviderContext(transport, config.router, fetcher, images.max_bytes))
    sink: LogSink = NullSink()
    logs: LogBackend | None = None
    if config.server.request_log:
        if log_store is None:
            log_store = _log_store(config)
        writer = _log_writer(config, log_store)
        sink, logs = writer, writer.backend
    # After-stages run in reverse: cost is computed first, then the log records it.
    observe = build_observability(
        config, groups, sink, lambda: executor.health, span_exporter, thresholds=lambda: _thresholds(routers),
        stage_thresholds=lambda: _stage_thresholds(routers),
    )
    redactor = Redactor(config.server.log_redact) if config.server.log_bodies else None
    counter = TokenCounter()
    limits, budget, notifier = _limits(config, counter)
    stages: list[Stage] = [
        RequestLogStage(sink, redactor), *observability_stages(observe), AccessStage(), limits, budget, CostStage()
    ]
    master_key = config.server.master_key
    key_store = _key_store(config)
    authenticator = Authenticator(
        key_store,
        master_key.get_secret_value() if master_key else None,
        ttl_s=config.auth.cache_ttl_s,
        max_entries=config.auth.cache_size,
    )
    auth = AuthStage(authenticator)
    shared_health = _shared_health(config, [t.id for group in groups.values() for t in group.targets])
    health_store = shared_health or MemoryHealthStore(config.router.breaker.window_s)
    executor = Executor(groups, config.router, health_store, limits.store)  # deployment limits share the store
    cache = _response_cache(config, executor)
    # Router groups (model: auto) choose among member groups; their token counts feed the capability filter.
    routers = build_routers(config, groups, counter)
    pipeline = Pipeline(executor, stages, auth, cache=cache, routers=routers)
    feedback = _feedback_store(config)
    checks = config.router.health_checks
    checker = HealthChecker(groups, executor.health, checks.interval_s) if checks.enabled else None
    services = Services(config, pipeline, log_store, sink)
    services.authenticator = authenticator

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def start_keys() -> None:
            await key_store.start()
            await authenticator.start()

        # PostgreSQL down at boot must not keep the gateway down: keys and spend history load when it is back.
        authenticator.close_until_started()
        retrying = [await start_or_retry("key store", start_keys)]
        await sink.start()
        if shared_health is not None:
            await shared_health.start()
        if notifier is not None:
            await notifier.start()
        if isinstance(budget.store, MemoryBudgetStore) and log_store is not None:
            spend, history = budget.store, log_store  # spend survives a restart of a lone instance
            retrying.append(await start_or_retry("budget seeding", lambda: seed_from_history(spend, history)))
        probing = asyncio.get_running_loop().create_task(checker.run()) if checker else None
        services.ready = True
        try:
            yield
        finally:
            services.ready = False
            for task in (probing, *retrying):
                if task is not None:
                    task.cancel()
            if shared_health is not None:
                await shared_health.close()
            # Flush what was accepted before letting go of anything it might need.
            if cache is not None:
                await cache.close()  # waits for the cache writes already started
            await sink.close()
            await limits.store.close()
            await budget.store.close()
            if notifier is not None:
                await notifier.close()
            await transport.close()
            await fetcher.close()
            await key_store.close()
            await feedback.aclose()
            observe.close()

    observability_routes = [*dashboard.routes(services)]
    if observe.metrics is not None:
        observability_routes += metrics.routes(services, observe.metrics)
    admin_sections = [
        admin_keys.routes(services, AdminService(key_store, authenticator)),
        admin_status.routes(services, observe.recent),
        admin_routers.routes(services),
        admin_cache.routes(services),
    ]
    if logs is not None:
        admin_sections.append(admin_logs.routes(services, logs))
    admin_routes = admin.routes(services, admin_sections)
    api_routes = [
        *openai.routes(services),
        *anthropic.routes(services),
        *health.routes(services),
        *routing_routes.routes(services, feedback),
    ]
    app = Starlette(
        routes=[*api_routes, *observability_routes, *admin_routes],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.services = services
    # The API's fixed paths skip Starlette's middleware and router; tracing, when on, wraps both.
    return metrics.traced(FastPaths(app, api_routes, _unexpected), observe)


def app_from_env() -> ASGIApp:
    """Factory for ``uvicorn --factory`` worker processes: config from ``SWITCHYARD_CONFIG``."""
    from switchyard.server.runtime import tune_gc

    config = load_config()
    configure_logging(config.server.log_level, config.server.log_format)  # a worker process: its own handlers
    app = create_app(config)
    tune_gc()
    return app


def _egress_proxy(config: Config) -> Proxy | None:
    url = config.server.upstream_proxy
    return None if url is None else Proxy.from_url(url.get_secret_value(), config.server.no_proxy)


def _key_store(config: Config) -> KeyStore:
    """Keys, teams and users: PostgreSQL when ``server.database_url`` is set, else the SQLite database file."""
    url = config.server.database_url
    if url is not None:
        from switchyard.storage.keys_postgres import PostgresKeyStore  # asyncpg: only a scale-out install has it

        return PostgresKeyStore(url.get_secret_value())
    return SQLiteKeyStore(Path(config.server.data_dir) / "switchyard.db")


def _shared_health(config: Config, deployments: list[str]) -> RedisHealthStore | None:
    router = config.router
    if router.state != "redis" or router.state_redis_url is None:
        return None
    from switchyard.storage.redis_health import RedisHealthStore  # scale-out only: redis is not imported otherwise

    url = router.state_redis_url.get_secret_value()
    return RedisHealthStore(url, router.breaker.window_s, sync_s=router.state_sync_s, known=deployments)


def _thresholds(routers: dict[str, RouterGroup]) -> dict[str, tuple[float, str]]:
    found = {name: router.threshold_now() for name, router in routers.items()}
    return {name: value for name, value in found.items() if value is not None}


def _stage_thresholds(routers: dict[str, RouterGroup]) -> dict[tuple[str, str], tuple[float, str]]:
    return {
        (name, member): found
        for name, router in routers.items()
        if router.cascade is not None
        for member, found in router.cascade.thresholds_now().items()
    }


def _feedback_store(config: Config) -> FeedbackStore:
    """Feedback: in PostgreSQL when ``server.database_url`` is set, so every instance's lands in one table."""
    url = config.server.database_url
    if url is not None:
        from switchyard.storage.feedback_postgres import PostgresFeedbackStore

        return PostgresFeedbackStore(url.get_secret_value())
    return SQLiteFeedbackStore(Path(config.server.data_dir) / "feedback.db")


def _log_store(config: Config) -> SyncLogStore | LogBackend:
    url = config.server.database_url
    if url is not None:
        from switchyard.storage.logs_postgres import PostgresLogStore

        return PostgresLogStore(url.get_secret_value())
    return SQLiteLogStore(Path(config.server.data_dir) / "switchyard.db")


def _log_writer(config: Config, store: SyncLogStore | LogBackend) -> BatchWriter:
    server = config.server
    return BatchWriter(
        store,
        spill=Spill(Path(server.data_dir) / "spill"),
        max_queue=server.log_queue_size,
        retention_days=server.log_retention_days,
    )


def _limits(config: Config, counter: TokenCounter) -> tuple[LimitsStage, BudgetStage, WebhookNotifier | None]:
    """Rate limits and budgets: in-process counters, or Redis shared by every instance."""
    settings, budgets = config.limits, config.budgets
    notifier = WebhookNotifier(budgets.webhook_url.get_secret_value()) if budgets.webhook_url else None
    on_alert = notifier.notify if notifier is not None else None
    # A concurrency slot outlives no request: the lease is the longest a request may take.
    lease_s = config.router.total_timeout_s + 60
    limit_store: LimitStore
    budget_store: BudgetStore
    if settings.backend == "redis" and settings.redis_url is not None:
        from switchyard.limits.budget_redis import RedisBudgetStore
        from switchyard.limits.redis_store import RedisLimitStore

        url = settings.redis_url.get_secret_value()
        limit_store = RedisLimitStore.from_url(url, lease_s=lease_s)
        budget_store = RedisBudgetStore.from_url(url, on_alert)
    else:
        limit_store = MemoryLimitStore(lease_s=lease_s)
        budget_store = MemoryBudgetStore(on_alert)
    fail_open = settings.redis_failure == "open"
    limits = LimitsStage(
        limit_store, counter, sizing_from_config(config), fail_open=fail_open,
        default_output=settings.default_max_output_tokens,
    )
    budget = BudgetStage(budget_store, thresholds=tuple(budgets.soft_thresholds), fail_open=fail_open)
    return limits, budget, notifier


def _response_cache(config: Config, executor: Executor) -> ResponseCache | None:
    settings = config.cache
    policies = {name: cache_policy(settings, group.cache) for name, group in config.model_groups.items()}
    if not any(policy.enabled for policy in policies.values()) and not settings.enabled:
        return None
    backend: CacheBackend
    if settings.backend == "redis" and settings.redis_url is not None:
        from switchyard.cache.redis import RedisCache

        backend = RedisCache(settings.redis_url.get_secret_value(), settings.redis_timeout_s)
    else:
        backend = MemoryCache(settings.max_entries, settings.max_bytes)
    return ResponseCache(backend, settings, policies, semantic=_semantic_index(config, executor))


def _semantic_index(config: Config, executor: Executor) -> SemanticIndex | None:
    settings = config.cache
    semantic = settings.semantic
    if not semantic.enabled:
        return None
    if semantic.group is not None and semantic.group not in config.model_groups:
        raise errors.ConfigError("cache.semantic.model", f"no model group {semantic.group!r}", "name a model group")
    try:  # the `semantic` extra: the packaged MiniLM model, onnxruntime, tokenizers, usearch
        from switchyard.cache.cross_encoder import MODEL_PATH as CE_MODEL
        from switchyard.cache.cross_encoder import CrossEncoder
        from switchyard.cache.embed import Embedder, cache_embedder
        from switchyard.cache.semantic import SemanticCache
        from switchyard.cache.semantic_redis import RedisMirror
        from switchyard.cache.verifier import PairVerifier
        from switchyard.routing.group_embedder import GroupEmbedder
    except ImportError as exc:
        raise errors.ConfigError("cache.semantic", f"{exc.name} missing", "install switchyard[semantic]") from None
    verifier = PairVerifier()
    embedder: Embedder
    if semantic.group is None:
        embedder = cache_embedder(semantic.threads)
    else:
        assert semantic.dimensions is not None  # the settings' validator requires it with a model group
        embedder = GroupEmbedder(executor, semantic.group, semantic.dimensions)
    mirror = None
    if settings.backend == "redis" and settings.redis_url is not None:
        mirror = RedisMirror(settings.redis_url.get_secret_value(), dimensions=embedder.dimensions,
                             model_id=embedder.model_id, max_entries=semantic.max_entries,
                             timeout_s=settings.redis_timeout_s)
    return SemanticCache(embedder, verifier=verifier if semantic.verifier else None,
                         cross_encoder=CrossEncoder() if semantic.verifier and CE_MODEL.is_file() else None,
                         threshold=semantic.threshold, cosine_threshold=verifier.cosine_threshold,
                         max_entries=semantic.max_entries, ttl_s=settings.ttl_s, mirror=mirror)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _HTTP_ERRORS.get(exc.status_code, errors.InvalidRequestError)
    message = {
        404: f"Unknown path {request.url.path}. See /v1/models, /v1/chat/completions, /v1/embeddings.",
        405: f"Method {request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    error = kind(message)
    error.status = exc.status_code
    response = _in_callers_format(request, error)
    response.headers.update(exc.headers or {})  # a 405 says which methods the path has (Allow)
    return response


def _in_callers_format(request: Request, error: errors.SwitchyardError) -> Response:
    # Anthropic clients parse Anthropic's error shape, even for a wrong method or path under their API.
    if request.url.path.startswith("/v1/messages"):
        return anthropic_errors.error_response(error, {}, "")
    return error_response(error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug of ours: log it with the traceback, answer without one.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _in_callers_format(request, errors.SwitchyardError("The gateway hit an internal error; it has been logged."))
