"""Config errors name the key path and a fix; env references resolve; secrets stay secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchyard.config import load_config
from switchyard.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


GROUP = "model_groups:\n  g:\n    deployments:\n      - provider: openai\n        model: m\n"


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        (GROUP + "        weigth: 2\n", "model_groups.g.deployments[0].weigth", "did you mean `weight`"),
        (GROUP + "        weight: 0\n", "model_groups.g.deployments[0].weight", "greater than 0"),
        (GROUP + "        api_base: ftp://x\n", "model_groups.g.deployments[0].api_base", "http(s) URL"),
        (
            GROUP + "        api_base: https://me:s3cret@api.example.com/v1\n",
            "model_groups.g.deployments[0].api_base",
            "must not carry credentials",
        ),
        (
            GROUP + "        api_key: os.environ/SWY_MISSING_KEY\n",
            "model_groups.g.deployments[0].api_key",
            "SWY_MISSING_KEY is not set",
        ),
        ("model_groups:\n  g:\n    deployments: []\n", "model_groups.g.deployments", "at least 1"),
        (
            "model_groups:\n  g:\n    deployments:\n      - model: m\n",
            "model_groups.g.deployments[0].provider",
            "required key is missing",
        ),
        ("server:\n  prot: 1\n", "server.prot", "did you mean `port`"),
        ("router:\n  strategy: fastest\n", "router.strategy", "weighted"),
        ("server: [1]\n", "server", "mapping"),
        (
            GROUP + "cache:\n  semantic:\n    model: g\n    dimensions: 8\n",
            "cache.semantic",
            "verifier works only with the packaged model",
        ),
        (
            GROUP + "cache:\n  semantic:\n    model: g\n    verifier: false\n",
            "cache.semantic",
            "needs a threshold and the dimensions",
        ),
    ],
)
def test_bad_values_name_their_path(tmp_path: Path, text: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert caught.value.path == path
    assert fragment in str(caught.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "model_groups:\n  g: [\n"), env={})
    assert "line" in str(caught.value)


def test_env_references_resolve_and_secrets_do_not_print(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, GROUP + "        api_key: os.environ/SWY_KEY\n"), env={"SWY_KEY": "sk-secret-9"}
    )
    key = config.model_groups["g"].deployments[0].api_key
    assert key is not None and key.get_secret_value() == "sk-secret-9"
    assert "sk-secret-9" not in repr(config) and "sk-secret-9" not in str(config.model_dump())


def test_no_file_means_the_demo_group(tmp_path: Path) -> None:
    config = load_config(None, env={})
    assert list(config.model_groups) == ["demo"]
    assert config.server.port == 4000 and config.server.host == "127.0.0.1"


def test_env_and_overrides_win_over_the_file(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "server:\n  port: 5000\n"),
        env={"SWITCHYARD_DATA_DIR": "/tmp/d", "SWITCHYARD_MASTER_KEY": "mk"},
        overrides={"port": 6000, "host": None},
    )
    assert config.server.port == 6000 and config.server.data_dir == "/tmp/d"
    assert config.server.master_key is not None and config.server.master_key.get_secret_value() == "mk"


def test_duplicate_deployment_ids_fail(tmp_path: Path) -> None:
    text = GROUP + "        id: x\n      - provider: demo\n        model: d\n        id: x\n"
    with pytest.raises(ConfigError, match="used twice"):
        load_config(write(tmp_path, text), env={})


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "switchyard"
    return subprocess.run([str(exe), "config", "check", str(path)], capture_output=True, text=True, timeout=60)


def test_config_check_command(tmp_path: Path) -> None:
    good = run_check(ROOT / "examples" / "demo.yaml")
    assert good.returncode == 0 and "OK" in good.stdout
    unknown = run_check(write(tmp_path, GROUP.replace("openai", "opneai")))
    assert unknown.returncode == 2
    assert "model_groups.g.deployments[0].provider" in unknown.stderr and "openai" in unknown.stderr
    keyless = run_check(write(tmp_path, GROUP))
    assert keyless.returncode == 2 and "api_key" in keyless.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_examples_are_valid(name: str) -> None:
    env = {
        "OPENAI_API_KEY": "sk-x",
        "GROQ_API_KEY": "gsk-x",
        "OPENROUTER_API_KEY": "or-x",
        "SWITCHYARD_MASTER_KEY": "mk",
    }
    config = load_config(ROOT / "examples" / name, env=env)
    assert config.model_groups


def test_the_semantic_cache_model_must_be_a_model_group(tmp_path: Path) -> None:
    from switchyard.server.app import create_app

    text = GROUP + "        api_key: sk-test-0123456789\n"
    text += "cache:\n  enabled: true\n  semantic:\n    enabled: true\n    model: nope\n    dimensions: 8\n"
    text += "    verifier: false\n    threshold: 0.95\n"
    with pytest.raises(ConfigError) as caught:
        create_app(load_config(write(tmp_path, text), env={}))
    assert caught.value.path == "cache.semantic.model" and "no model group 'nope'" in str(caught.value)


@pytest.mark.parametrize("url", ["https://gw:pw-secret@proxy:3128", "proxy:3128", "http://gw:pw-secret@proxy:port"])
def test_an_egress_proxy_must_be_an_http_url_and_errors_never_repeat_its_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"server:\n  upstream_proxy: {url}\n" + GROUP), env={})
    assert "upstream_proxy" in str(caught.value) and "pw-secret" not in str(caught.value)


def test_an_egress_proxy_with_no_proxy_hosts_loads(tmp_path: Path) -> None:
    text = "server:\n  upstream_proxy: http://proxy:3128\n  no_proxy: [localhost, .internal]\n" + GROUP
    config = load_config(write(tmp_path, text), env={})
    assert config.server.upstream_proxy is not None and config.server.no_proxy == ["localhost", ".internal"]
