"""docs/deploy/k8s: the base and every overlay render with ``kubectl kustomize``; probes, ports, mounts, the drain
and the autoscaler are what the docs promise; every configuration key they set (the ConfigMap's TOML, the
container's and the Secret's KEFU_ variables) is one the host has; the rules ConfigMaps load."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kefu_host.config import ConfigError
from kefu_host.config.secrets import refuse_dev_secrets_off_loopback
from kefu_host.rules import Catalogue, load_rules
from tests.conftest import IN_CI
from tests.deploy.conftest import DEPLOY, container_config, plugin_failures

K8S = DEPLOY / "k8s"
TARGETS = ["base", "overlays/staging", "overlays/production"]


def render(target: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The rendered objects by (kind, name without the generator's hash suffix)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if IN_CI:
            pytest.fail("kubectl is needed in CI (kubectl kustomize renders the manifests)")
        pytest.skip("kubectl not installed")
    ran = subprocess.run([kubectl, "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    objects = {}
    for doc in yaml.safe_load_all(ran.stdout):
        name = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap" and name.startswith("kefu-config-"):
            name = "kefu-config"
        objects[(doc["kind"], name)] = doc
    return objects


@pytest.fixture(params=TARGETS, scope="module")
def rendered(request: pytest.FixtureRequest) -> dict[tuple[str, str], dict[str, Any]]:
    return render(request.param)


def container(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    pod = objects[("Deployment", "kefu-host")]["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    return dict(only)


def config_toml(objects: dict[tuple[str, str], dict[str, Any]]) -> str:
    return str(objects[("ConfigMap", "kefu-config")]["data"]["kefu.toml"])


def test_probes_and_ports(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    c = container(rendered)
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert tomllib.loads(config_toml(rendered))["server"]["port"] == 8080
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    service = rendered[("Service", "kefu-host")]["spec"]
    assert service["ports"][0]["targetPort"] == "http"
    assert "sessionAffinity" not in service  # any pod serves any client


def test_mounts_config_rules_and_shared_attachments(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    c = container(rendered)
    pod = rendered[("Deployment", "kefu-host")]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    config = mounts["/etc/kefu/kefu.toml"]
    assert config["subPath"] == "kefu.toml"
    generated = rendered[("ConfigMap", "kefu-config")]["metadata"]["name"]
    assert volumes[config["name"]]["configMap"]["name"] == generated
    rules = mounts["/etc/kefu/rules"]
    # the kubelet updates a ConfigMap volume in place only without subPath, and only a name without a hash keeps
    # the same volume across changes: then the host reloads the rules live
    assert "subPath" not in rules and volumes[rules["name"]]["configMap"]["name"] == "kefu-rules"
    assert ("ConfigMap", "kefu-rules") in rendered
    config_values = tomllib.loads(config_toml(rendered))
    assert config_values["rules"]["directory"] == "/etc/kefu/rules"
    assert config_values["attachments"]["directory"] == "/var/lib/kefu/attachments"
    claim = volumes[mounts["/var/lib/kefu/attachments"]["name"]]["persistentVolumeClaim"]["claimName"]
    assert rendered[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert {"KEFU_CONFIG": "/etc/kefu/kefu.toml"}.items() <= {e["name"]: e.get("value") for e in c["env"]}.items()


def test_the_pod_runs_as_the_images_non_root_user(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    pod = rendered[("Deployment", "kefu-host")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert "USER 10001:10001" in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert container(rendered)["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_prestop_drain_matches_server_drain_delay(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    server = tomllib.loads(config_toml(rendered))["server"]
    command = container(rendered)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and float(command[1]) == server["drain_delay"] > 0
    grace = rendered[("Deployment", "kefu-host")]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(command[1]) + server["shutdown_timeout"]  # SIGKILL only after the host's own timeout


def test_disruption_budget_and_autoscaler(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    labels = rendered[("Deployment", "kefu-host")]["spec"]["template"]["metadata"]["labels"]
    pdb = rendered[("PodDisruptionBudget", "kefu-host")]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items() and pdb["minAvailable"] >= 1
    hpa = rendered[("HorizontalPodAutoscaler", "kefu-host")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kefu-host"}
    assert hpa["minReplicas"] > pdb["minAvailable"]  # a node drain can always evict one pod
    metrics = {m["type"]: m for m in hpa["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["External"]["external"]["metric"]["name"] == "kefu_queue_length"


def test_every_key_it_sets_is_a_configuration_key(rendered: dict[tuple[str, str], dict[str, Any]],
                                                  tmp_path: Path) -> None:
    environ = {e["name"]: e.get("value", "pod-name") for e in container(rendered)["env"]}
    secret = rendered.get(("Secret", "kefu-secrets"))
    if secret is not None:
        environ.update(secret["stringData"])
    else:  # the overlay expects a Secret made outside it, with the base's keys
        base_secret = yaml.safe_load((K8S / "base" / "secret.yaml").read_text(encoding="utf-8"))
        environ.update(base_secret["stringData"])
    assert all(name.startswith("KEFU_") for name in environ)
    config = container_config(config_toml(rendered), environ, tmp_path)
    assert config.database.url.startswith("postgresql+asyncpg://")
    assert plugin_failures(config) == []


def test_the_rules_configmap_loads(rendered: dict[tuple[str, str], dict[str, Any]], tmp_path: Path) -> None:
    for name, text in rendered[("ConfigMap", "kefu-rules")]["data"].items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    teams = tomllib.loads(config_toml(rendered))["chat"]["teams"]
    ruleset = load_rules(tmp_path, Catalogue.core(), teams)  # inline tests included
    assert ruleset.rules


def test_production_leaves_the_secret_to_the_operator(tmp_path: Path) -> None:
    assert ("Secret", "kefu-secrets") not in render("overlays/production")
    placeholder = render("base")[("Secret", "kefu-secrets")]["stringData"]
    # the placeholders are development secrets, which the host refuses to serve with off loopback
    assert all(placeholder[k].startswith("dev-") for k in placeholder if k.startswith("KEFU_SECRETS__"))
    base = render("base")
    config = container_config(config_toml(base), placeholder, tmp_path)
    with pytest.raises(ConfigError, match="a development secret"):
        refuse_dev_secrets_off_loopback(config)
