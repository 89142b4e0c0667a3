"""Test helpers for the host and for plugin authors: real sockets against a real app.

``kefu_host.testing.clients`` drives visitor and agent sockets; ``kefu_host.testing.fixtures`` is a pytest plugin
with fixtures for an app, agents, visitors and signed events.
"""
