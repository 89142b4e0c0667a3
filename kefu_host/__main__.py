"""``python -m kefu_host`` is the ``kefu-host`` command."""

from kefu_host.cli import main

main()
