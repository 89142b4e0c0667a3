"""The deployment files under docs/deploy, read as the container would see them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kefu_host.cli.common import load_host_plugins
from kefu_host.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
#: Where the image puts what the repository holds (docs/deploy/Dockerfile), and where data lives.
IMAGE_PATHS = {"/opt/kefu/plugins": ROOT / "plugins", "/etc/kefu/rules": ROOT / "rules"}


def container_config(toml: str, environ: Mapping[str, str], tmp: Path) -> Config:
    """``toml`` with the environment ``environ``, loaded as the host in the image loads it (the image's paths mapped
    to the repository, /var/lib/kefu to ``tmp``): a ConfigError names a key the host does not have."""
    for inside, outside in IMAGE_PATHS.items():
        toml = toml.replace(inside, str(outside))
    toml = toml.replace("/var/lib/kefu", str(tmp))
    path = tmp / "kefu.toml"
    path.write_text(toml, encoding="utf-8")
    return load_config(path, environ=dict(environ))


def plugin_failures(config: Config) -> list[dict[str, Any]]:
    """The plugins that would not load with ``config`` (an unknown plugin setting is one)."""
    from argparse import Namespace

    _, registry = load_host_plugins(Namespace(), config)
    return [r for r in registry.to_list() if r["status"] != "loaded"]
