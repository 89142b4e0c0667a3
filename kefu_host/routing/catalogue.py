"""The rule catalogue of this host: the core fields and actions plus every loaded plugin's."""

from __future__ import annotations

from dataclasses import dataclass

from kefu_host.hookcall import Hooks
from kefu_host.rules import ActionSpec, Catalogue, FieldSpec


@dataclass(frozen=True)
class HostCatalogue:
    catalogue: Catalogue
    #: plugin name of every plugin-defined field and action, so facts and actions reach the right plugin
    field_owner: dict[str, str]
    action_owner: dict[str, str]


def build_catalogue(hooks: Hooks) -> HostCatalogue:
    """Extend the core catalogue with what plugins declare; a clash is the later plugin's error, not fatal."""
    catalogue = Catalogue.core()
    field_owner: dict[str, str] = {}
    action_owner: dict[str, str] = {}

    def add_field(spec: FieldSpec, plugin: str) -> None:
        nonlocal catalogue
        catalogue = catalogue.extended(fields=[spec])
        field_owner[spec.name] = plugin

    def add_action(spec: ActionSpec, plugin: str) -> None:
        nonlocal catalogue
        catalogue = catalogue.extended(actions=[spec])
        action_owner[spec.name] = plugin

    hooks.collect("kefu_rule_fields", FieldSpec, add_field)
    hooks.collect("kefu_rule_actions", ActionSpec, add_action)
    return HostCatalogue(catalogue, field_owner, action_owner)
