"""``kefu-host new-plugin NAME [--dir D]``: a plugin package that installs, loads and passes its own tests.

The files come from ``plugin_template/`` next to this module, with ``$name``, ``$dist`` and ``$host_version``
filled in. docs/plugins.md walks from here to a published package.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template

from kefu_host import __version__
from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

TEMPLATE = Path(__file__).with_name("plugin_template")
#: A plugin's name is its module's, its entry point's and its actions' area (``NAME.greet``): one lowercase word.
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("new-plugin", parents=[common], help="create a plugin package to start from")
    p.add_argument("name", metavar="NAME", help="the plugin's name: lowercase letters, digits, _ (e.g. loyalty)")
    p.add_argument("--dir", type=Path, default=Path("."), metavar="D",
                   help="where to create the NAME/ directory (default: here)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    name = args.name
    if not NAME.match(name) or name in ("kefu_host", "plugins", "tests"):
        print(f"kefu-host: new-plugin: {name!r} is not a plugin name: use lowercase letters, digits and _, "
              "starting with a letter, at most 40 (it names the module, the entry point and the actions)",
              file=sys.stderr)
        return EXIT_USAGE
    target = args.dir / name
    if target.exists():
        print(f"kefu-host: new-plugin: {target} already exists; choose another name or --dir", file=sys.stderr)
        return EXIT_FAILURE
    values = {"name": name, "dist": "kefu-" + name.replace("_", "-"), "host_version": __version__}
    written = []
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        if relative.parts[0] == "package":
            relative = Path(name, *relative.parts[1:])
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        written.append(path)
    for path in written:
        print(path)
    print(f"\nnext: cd {target} && pip install -e '.[test]' && python -m pytest -q   (docs/plugins.md)")
    return EXIT_OK
