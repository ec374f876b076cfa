"""Keys, teams and roles on PostgreSQL: the same behaviour as SQLite, shared by several gateway processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from switchyard.auth.admin import AdminService
from switchyard.auth.authenticator import Authenticator
from switchyard.auth.schema import KeyCreate, TeamCreate
from switchyard.errors import AuthenticationError, ConflictError
from switchyard.storage.keys_postgres import PostgresKeyStore
from switchyard.types.identity import MASTER
from tests.conftest import GatewayFactory
from tests.gateway_process import GatewayProcess
from tests.services import PostgresServer

MASTER_KEY = "mk-pg"
Pair = tuple[GatewayProcess, GatewayProcess, str]
HI = [{"role": "user", "content": "Hi"}]


def config(dsn: str, ttl_s: float) -> dict[str, Any]:
    return {
        "server": {"master_key": MASTER_KEY, "database_url": dsn},
        "auth": {"cache_ttl_s": ttl_s},
        "model_groups": {
            "demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
            "other": {"deployments": [{"provider": "demo", "model": "demo-2"}]},
        },
    }


@pytest.fixture
def pair(postgres_server: PostgresServer, start_gateway: GatewayFactory) -> Iterator[Pair]:
    dsn = postgres_server.fresh_database()
    # The second instance caches nothing, so what the first changes is seen there on the next request.
    yield start_gateway(config(dsn, 5.0)), start_gateway(config(dsn, 0.0)), dsn


def admin(gateway: GatewayProcess, method: str, path: str, key: str = MASTER_KEY, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, gateway.base_url + path, headers={"authorization": f"Bearer {key}"}, timeout=10,
                         **kwargs)


def chat(gateway: GatewayProcess, key: str, model: str = "demo") -> str:
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    return reply.choices[0].message.content or ""


def test_a_key_made_on_one_instance_works_on_the_other(pair: Pair, postgres_server: PostgresServer) -> None:
    first, second, dsn = pair
    made = admin(first, "POST", "/admin/keys", json={"alias": "shared", "models": ["demo"]}).json()
    assert chat(second, made["key"]) and chat(first, made["key"])
    with pytest.raises(openai.PermissionDeniedError):
        chat(second, made["key"], "other")
    listed = admin(second, "GET", "/admin/keys").json()["data"]
    assert [item["id"] for item in listed] == [made["id"]] and "key" not in listed[0]

    database = dsn.rsplit("/", 1)[1]
    stored = postgres_server.psql(database, "SELECT data || key_hash FROM sy_keys")
    assert made["key"][14:] not in stored and made["prefix"] in stored
    versions = "SELECT version FROM sy_schema_version WHERE component='keys' ORDER BY version"
    assert postgres_server.psql(database, versions) == "1\n2"  # 2: rotation grace periods

    rotated = admin(first, "POST", f"/admin/keys/{made['id']}/rotate").json()
    with pytest.raises(openai.AuthenticationError):
        chat(second, made["key"])
    assert chat(second, rotated["key"])
    assert admin(first, "DELETE", f"/admin/keys/{made['id']}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        chat(second, rotated["key"])
    assert admin(second, "POST", "/admin/keys", json={"alias": "shared"}).status_code == 201  # alias freed


def test_roles_and_conflicts_hold_across_instances(pair: Pair) -> None:
    first, second, _ = pair
    red = admin(first, "POST", "/admin/teams", json={"name": "red"}).json()["id"]
    blue = admin(first, "POST", "/admin/teams", json={"name": "blue"}).json()["id"]
    assert admin(second, "POST", "/admin/teams", json={"name": "red"}).status_code == 409
    blue_key = admin(first, "POST", "/admin/keys", json={"team_id": blue}).json()
    boss = admin(first, "POST", "/admin/keys", json={"team_id": red, "role": "team_admin"}).json()["key"]
    assert admin(second, "GET", f"/admin/keys/{blue_key['id']}", boss).status_code == 404
    assert admin(second, "POST", "/admin/keys", boss, json={"role": "admin"}).status_code == 403
    own = admin(second, "POST", "/admin/keys", boss, json={}).json()
    assert own["team_id"] == red and chat(first, own["key"])
    viewer = admin(first, "POST", "/admin/keys", json={"role": "viewer"}).json()["key"]
    assert admin(second, "POST", "/admin/keys", viewer, json={}).status_code == 403
    assert admin(second, "DELETE", f"/admin/teams/{red}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        chat(second, own["key"])


def test_store_pages_and_invalidates_like_sqlite(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.fresh_database()

    async def main() -> None:
        stores = [PostgresKeyStore(dsn), PostgresKeyStore(dsn)]
        await asyncio.gather(*(store.start() for store in stores))  # concurrent migrations take turns
        try:
            auth = Authenticator(stores[0], MASTER_KEY, ttl_s=60)
            service = AdminService(stores[0], auth)
            made = [(await service.create_key(MASTER, KeyCreate(alias=f"k{i}"))).id for i in range(5)]
            seen, cursor = [], None
            while True:
                page, cursor = await service.list_keys(MASTER, None, 2, cursor)
                seen += [view.id for view in page]
                if cursor is None:
                    break
            assert len(seen) == len(made) and set(seen) == set(made)
            await service.create_team(MASTER, TeamCreate(name="t"))
            with pytest.raises(ConflictError):
                await service.create_team(MASTER, TeamCreate(name="t"))
            created = await service.create_key(MASTER, KeyCreate())
            assert await auth.authenticate(created.key) is not None
            await service.revoke_key(MASTER, created.id)
            with pytest.raises(AuthenticationError):
                await auth.authenticate(created.key)
            other = Authenticator(stores[1], None, ttl_s=60)
            await other.start()
            assert not other.open  # keys exist in the shared database
        finally:
            await asyncio.gather(*(store.close() for store in stores))

    asyncio.run(main())


def test_database_outage_is_a_503_and_known_keys_keep_working(pair: Pair, postgres_server: PostgresServer) -> None:
    first, second, dsn = pair
    database = dsn.rsplit("/", 1)[1]
    made = admin(first, "POST", "/admin/keys", json={}).json()
    assert chat(first, made["key"])  # now cached on the first instance
    # An outage of this test's database only (the server is shared): refuse new connections, cut the open ones.
    postgres_server.psql("postgres", f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
    cut = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    postgres_server.psql("postgres", cut)
    try:
        assert chat(first, made["key"])  # within its cache TTL, or served stale while the database is away
        with pytest.raises(openai.InternalServerError) as caught:
            chat(second, made["key"])  # caches nothing, so it must ask the database
        assert caught.value.status_code == 503
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "store_unavailable"
        listing = admin(first, "GET", "/admin/keys")
        assert listing.status_code == 503 and made["key"] not in listing.text
        assert chat(second, MASTER_KEY)  # the master key needs no database
    finally:
        postgres_server.psql("postgres", f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
    for _ in range(50):  # the pool reconnects on its next use
        if admin(second, "GET", "/admin/keys").status_code == 200:
            break
    assert chat(second, made["key"])
