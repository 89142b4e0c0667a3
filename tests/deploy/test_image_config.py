"""The configuration the image and the Kubernetes base ship (docs/deploy/k8s/base/kefu.toml) runs a real host on
PostgreSQL and Redis with the environment the manifests set, and drains on SIGTERM as the preStop hook expects."""

from __future__ import annotations

import signal
import tomllib
from pathlib import Path

import requests
import yaml

from kefu_host.testing.process import HostProcess
from tests.deploy.conftest import DEPLOY, IMAGE_PATHS

BASE = DEPLOY / "k8s" / "base"


def image_config(tmp: Path) -> Path:
    """The shipped kefu.toml with the image's paths mapped to the repository and /var/lib/kefu to ``tmp``."""
    text = (BASE / "kefu.toml").read_text(encoding="utf-8")
    for inside, outside in IMAGE_PATHS.items():
        text = text.replace(inside, str(outside))
    path = tmp / "kefu.toml"
    path.write_text(text.replace("/var/lib/kefu", str(tmp)), encoding="utf-8")
    return path


def test_the_shipped_configuration_serves_and_drains(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    secret = yaml.safe_load((BASE / "secret.yaml").read_text(encoding="utf-8"))["stringData"]
    env = {key: f"real-{key.lower()}" for key in secret if key.startswith("KEFU_SECRETS__")}
    env.update({
        "KEFU_DATABASE__URL": pg_url,
        "KEFU_EVENTS__REDIS__URL": redis_url,
        "KEFU_EVENTS__REDIS__CONSUMER": "kefu-host-0",
        "KEFU_PLUGINS__PAYMENTS__API_KEY": "real-key",
        # the only changes for a shared test machine: loopback, any free port
        "KEFU_SERVER__HOST": "127.0.0.1",
        "KEFU_SERVER__PORT": "0",
    })
    assert set(env) - {"KEFU_SERVER__HOST", "KEFU_SERVER__PORT"} <= {*secret, "KEFU_EVENTS__REDIS__CONSUMER"}
    drain = tomllib.loads((BASE / "kefu.toml").read_text(encoding="utf-8"))["server"]["drain_delay"]
    host = HostProcess(image_config(tmp_path), env=env)
    try:
        host.wait_listening(timeout=60)
        assert requests.get(f"{host.url}/readyz", timeout=10).status_code == 200
        plugins = requests.get(f"{host.url}/api/plugins", timeout=10,
                               headers={"Authorization": f"Bearer {env['KEFU_SECRETS__ADMIN_TOKEN']}"}).json()
        assert {p["name"]: p["status"] for p in plugins["plugins"]} == {
            "core.webhooks": "loaded", "ticket": "loaded", "erp": "loaded", "payments": "loaded"}
        host.proc.send_signal(signal.SIGTERM)
        # the drain the preStop hook is sized for (tests/deploy/test_kubernetes.py checks they match)
        assert host.log.wait("shutting down")["drain_delay_s"] == drain > 0
        assert host.wait(timeout=drain + 30) == 0
    finally:
        host.kill()
    stopped = host.log.find(lambda r: r.get("event") == "stopped")
    assert stopped is not None
    assert not [r for r in host.log.records if r.get("level") == "error"], host.log.records[-5:]
