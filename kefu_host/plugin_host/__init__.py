"""The host as plugins see it: one :class:`PluginHost` per plugin, handed to every hook as ``host``.

Everything here is built over public methods of the chat service, the store and the config; plugins never reach
past it. docs/internals.md says what is stable.
"""

from kefu_host.plugin_host.chat import Agents, Conversations
from kefu_host.plugin_host.customers import Customers
from kefu_host.plugin_host.host import Host, HostNotReady, PluginHost

__all__ = ["Agents", "Conversations", "Customers", "Host", "HostNotReady", "PluginHost"]
