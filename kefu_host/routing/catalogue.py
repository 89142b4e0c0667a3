"""The rule catalogue of this host: the core fields and actions plus every loaded plugin's."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from kefu_host.hookcall import Hooks
from kefu_host.rules import ActionSpec, Catalogue, FieldSpec

log = structlog.get_logger("kefu_host.rules")


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
    for kind, hook in (("fields", "kefu_rule_fields"), ("actions", "kefu_rule_actions")):
        for contribution in hooks.call_sync(hook):
            specs = list(contribution.value)
            try:
                if kind == "fields":
                    _check_types(specs, FieldSpec)
                    catalogue = catalogue.extended(fields=specs)
                    field_owner.update({s.name: contribution.plugin for s in specs})
                else:
                    _check_types(specs, ActionSpec)
                    catalogue = catalogue.extended(actions=specs)
                    action_owner.update({s.name: contribution.plugin for s in specs})
            except (TypeError, ValueError) as exc:
                hooks.registry.record_error(contribution.plugin, hook, exc)
                log.error("plugin rule extension rejected", plugin=contribution.plugin, hook=hook, error=str(exc))
    return HostCatalogue(catalogue, field_owner, action_owner)


def _check_types(specs: list[object], kind: type) -> None:
    for spec in specs:
        if not isinstance(spec, kind):
            raise TypeError(f"expected {kind.__name__} objects, got {type(spec).__name__}")
