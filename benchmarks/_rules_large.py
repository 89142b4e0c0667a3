"""A large generated rule set (7,000 rules, about 5 MB in 71 files), for the reload benchmark.

Shaped like a set grown by many teams over years: each rule has a description and an owner, an inline word
list, a named list of its file, a tag test and a regex; each file has a test. Fixed seed, so runs compare.
"""

from __future__ import annotations

import random

TEAMS = ("support", "vip", "risk-control", "backup", "en-desk")


def make_large_rules(rules: int = 7000, per_file: int = 100, seed: int = 20241201) -> dict[str, bytes]:
    """``rules`` rules in files of ``per_file`` under ``gen/``, relative path -> bytes. They add to the
    shipped rules (which have the routing group and the default rule)."""
    rng = random.Random(seed)
    files = {"gen/000-groups.rule": b"group tagging match all\n"}
    number = 0
    for f in range(rules // per_file):
        words = ", ".join(f'"w{f}x{k}"' for k in range(40))
        lines = [f"# generated file {f}", f"list words{f} = [{words}]"]
        for j in range(per_file):
            inline = ", ".join(f'"词{number}{k}word"' for k in range(12))
            group = " in group tagging" if j % 3 else ""
            lines.append(
                f"""rule gen.f{f}.r{j} priority {rng.randint(-500, 800)}{group}
  desc "generated rule {number}: customers with an LTV over {rng.randint(1, 50) * 1000} who write about \
topic {number}, or who are tagged t{number} by the CRM, are tagged for follow-up by the ops team of area {f}"
  owner "ops-team-{f}"
  when (customer.ltv >= {rng.randint(1, 50) * 1000} and customer.vip_level > {rng.randint(0, 5)})
       or message.text contains_any [{inline}]
       or (message.text contains_any $words{f} and not customer.tags contains "t{number}")
       or message.text matches "order[- ]?{number:04d}\\\\d+"
  then tag "t{number}"
end
"""
            )
            number += 1
        first = f * per_file
        lines.append(
            f'test "file {f}"\n  given message.text = "词{first}0word"\n'
            f'  expect fired gen.f{f}.r0, tag "t{first}"\nend\n'
        )
        files[f"gen/{f:03d}.rule"] = "\n".join(lines).encode()
    return files
