"""Test helpers for the host and for plugin authors: real sockets against a real app.

``kefu_host.testing.host`` starts the app and puts agents, visitors and signed events on it;
``kefu_host.testing.clients`` drives visitor and agent sockets; ``kefu_host.testing.pytest_plugin`` is the pytest
plugin (loaded through the ``pytest11`` entry point) with the fixtures docs/plugins.md describes.
"""
