"""Benchmark of the routing rules: 200 rules, a 5,000-word sensitive list, 200-character messages.

Run with ``.venv/bin/python benchmarks/bench_rules.py``. It is not a test: it prints a small report.
Everything is generated from a fixed seed, so runs compare; the work is bounded (a few seconds).

Measured:
- parse + check + compile of the whole set (``build_ruleset`` from bytes in memory, inline tests off);
- ``RuleSet.decide(facts)`` per call, timed one call at a time (perf_counter_ns), median and p99;
- baselines in the same run: one pyahocorasick scan of the same case-folded message over the same
  5,000 words, the least work any engine does for the sensitive-word rule alone. "str" scans the text
  as is; "UTF-8" scans its UTF-8 bytes (as latin-1 characters), which is what the rules do.

The rules (see make_rules) cycle through eight shapes: numeric thresholds, tag tests, language and
channel lists, inline word lists, regexes, queue statistics, map attributes with time, durations.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import ahocorasick

from kefu_host.rules import Catalogue, RuleSet
from kefu_host.rules.loader import build_ruleset

TEAMS = ("support", "vip", "risk-control", "backup", "en-desk")

_ZH_HEAD = (
    "诈骗 欺诈 骗取 套现 盗刷 洗钱 集资 传销 冒充 钓鱼 泄露 曝光 投诉 举报 起诉 报警 仲裁 维权 威胁 报复"
).split()
_ZH_TAIL = (
    "客服 银行卡 账户 密码 验证码 平台 公司 订单 退款 贷款 "
    "信用卡 身份证 个人信息 律师 法院 媒体 警察 证据 赔偿 记录"
).split()
#: Everyday characters, to vary how list words begin and end.
_ZH_COMMON = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而"
    "方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好"
    "应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向"
)
_EN_HEAD = (
    "fraud scam phishing stolen hacked leaked fake illegal unauthorized suspicious criminal abusive".split()
)
_EN_TAIL = "card account charge payment password data refund transfer order identity lawsuit report".split()
_ZH_TEXT = (
    "你好请问我的订单什么时候发货已经等了三天了物流一直没有更新麻烦帮我查一下谢谢另外发票怎么开"
    "这个商品尺码不合适想换一个大一号的可以吗上次买的质量很好这次颜色有点偏差客服小姐姐辛苦了"
)
_EN_WORDS = (
    "hello I would like to know when my order will ship it has been three days and tracking shows nothing "
    "could you please check the delivery address and the invoice thanks a lot for your help with the size"
).split()


def make_word_list(rng: random.Random, size: int) -> list[str]:
    """A mixed list shaped like a real risk list: about 60% Chinese phrases (a domain word joined to
    everyday characters, so the words start with hundreds of different characters, as real ones do),
    and English words and phrases."""
    words: set[str] = set()
    while len(words) < size:
        kind = rng.random()
        if kind < 0.3:
            words.add(rng.choice(_ZH_HEAD) + rng.choice(_ZH_TAIL))
        elif kind < 0.6:
            common = "".join(rng.choice(_ZH_COMMON) for _ in range(rng.randint(1, 2)))
            head = rng.choice(_ZH_HEAD + _ZH_TAIL)
            words.add(common + head if rng.random() < 0.5 else head + common)
        elif kind < 0.85:
            words.add(f"{rng.choice(_EN_HEAD)} {rng.choice(_EN_TAIL)}")
        else:
            suffix = rng.choice(["", "ed", "er", "s"])
            words.add(f"{rng.choice(_EN_HEAD)}{suffix} {rng.choice(_EN_TAIL)}s {rng.randint(1, 99)}")
    return sorted(words)


def make_message(rng: random.Random, words: list[str], length: int = 200) -> str:
    """About half Chinese, half English; one in ten carries a listed word."""
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        if rng.random() < 0.55:
            start = rng.randrange(len(_ZH_TEXT) - 24)
            parts.append(_ZH_TEXT[start : start + rng.randint(12, 24)])
        else:
            parts.append(" ".join(rng.choice(_EN_WORDS) for _ in range(rng.randint(2, 5))) + " ")
    if rng.random() < 0.1:
        parts.insert(rng.randrange(len(parts)), rng.choice(words))
    return "".join(parts)[:length]


def make_rules(rng: random.Random) -> str:
    """200 rules of the shapes real rule sets have; most do not fire on a given message."""
    out = [
        'list sensitive = file("lists/sensitive.txt")',
        "group routing match first",
        "group tagging match all",
    ]
    shapes: list[Callable[[int], str]] = [
        lambda i: f"customer.ltv >= {rng.randint(1, 50) * 1000} and customer.vip_level > {rng.randint(0, 5)}",
        lambda i: f'not customer.tags contains "t{i}" and conversation.transfers >= {rng.randint(2, 9)}',
        lambda i: f'message.lang in ["l{i}", "x{i}"] or message.channel == "c{i}"',
        lambda i: (
            "message.text contains_any ["
            + ", ".join(f'"{w}{i}"' for w in rng.sample(_EN_TAIL + _ZH_TAIL, 5))
            + "]"
        ),
        lambda i: f'message.text matches "order[- ]?{i:03d}\\d+"',
        lambda i: (
            f'queue.length("support") > {rng.randint(40, 90)} '
            f'or queue.oldest_wait("support") > {rng.randint(3, 9)}m'
        ),
        lambda i: (
            f'customer.attributes["plan"] == "p{i}" '
            f'or (time.hour >= {rng.randint(0, 23)} and time.weekday == "sun")'
        ),
        lambda i: f"conversation.wait_time > {rng.randint(10, 60)}m and customer.identified",
    ]
    out.append(
        "rule risk.sensitive priority 900 in group routing when message.text contains_any $sensitive "
        'then transfer "risk-control" set_priority "urgent" tag "sensitive" end'
    )
    for i in range(198):
        cond = shapes[i % len(shapes)](i)
        group = " in group routing" if i % 10 == 0 else " in group tagging" if i % 3 == 0 else ""
        action = f'assign_team "{rng.choice(TEAMS)}"' if group == " in group routing" else f'tag "t{i}"'
        out.append(f"rule r.n{i} priority {rng.randint(-500, 800)}{group} when {cond} then {action} end")
    out.append(
        'rule default.general priority -1000 in group routing when true then assign_team "support" end'
    )
    return "\n".join(out) + "\n"


def make_facts(rng: random.Random, message: str) -> dict[str, Any]:
    return {
        "message.text": message,
        "message.lang": rng.choice(["zh", "en"]),
        "message.channel": "web",
        "customer.ltv": rng.randint(0, 30000),
        "customer.vip_level": rng.randint(0, 5),
        "customer.tags": rng.sample(["vip", "new", "t5", "blocked"], 2),
        "customer.attributes": {"plan": rng.choice(["free", "pro"])},
        "customer.identified": rng.random() < 0.5,
        "conversation.transfers": rng.randint(0, 3),
        "conversation.wait_time": rng.uniform(0, 600),
        "queue.length": {"support": rng.randint(0, 60)},
        "queue.oldest_wait": {"support": rng.uniform(0, 300)},
        "time.hour": rng.randint(0, 23),
        "time.weekday": rng.choice(["mon", "sun"]),
    }


def time_each(func: Callable[[Any], Any], inputs: list[Any], rounds: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for item in inputs:
            start = clock()
            func(item)
            samples.append(clock() - start)
    return samples


def percentile(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def _utf8(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(20241126)
    words = make_word_list(rng, 5000)
    files = {"bench.rule": make_rules(rng).encode(), "lists/sensitive.txt": "\n".join(words).encode()}
    messages = [make_message(rng, words) for _ in range(args.messages)]
    facts = [make_facts(rng, m) for m in messages]

    build_times = []
    ruleset: RuleSet | None = None
    for _ in range(5):
        start = time.perf_counter()
        ruleset = build_ruleset(files, Catalogue.core(), TEAMS, run_inline_tests=False)
        build_times.append(time.perf_counter() - start)
    assert ruleset is not None

    # Baselines: the least work any engine does for the sensitive-word rule alone, one scan of the message.
    plain = ahocorasick.Automaton()
    as_bytes = ahocorasick.Automaton()
    for word in words:
        plain.add_word(word.casefold(), word)
        as_bytes.add_word(_utf8(word.casefold()), word)
    plain.make_automaton()
    as_bytes.make_automaton()

    def scan_plain(text: str) -> int:
        return sum(1 for _ in plain.iter(text.casefold()))

    def scan_bytes(text: str) -> int:
        return sum(1 for _ in as_bytes.iter(_utf8(text.casefold())))

    for item in facts[:200]:  # warm up every path
        ruleset.decide(item)
        scan_plain(item["message.text"])
        scan_bytes(item["message.text"])
    overhead = time_each(lambda _: None, facts, 1)
    decide = time_each(ruleset.decide, facts, args.rounds)
    baselines = {
        "scan, str": time_each(scan_plain, messages, args.rounds),
        "scan, UTF-8": time_each(scan_bytes, messages, args.rounds),
    }
    fired = [len(ruleset.decide(item).fired) for item in facts]
    sensitive = sum(ruleset.decide(item).team == "risk-control" for item in facts)
    chinese = sum(sum("\u4e00" <= ch <= "\u9fff" for ch in m) for m in messages) / sum(map(len, messages))

    med_decide, p99_decide = percentile(decide, 0.5), percentile(decide, 0.99)
    print(
        f"rules: {len(ruleset.rules)}  sensitive words: {len(words)} "
        f"({len({w[0] for w in words})} different first characters)  "
        f"messages: {len(messages)} x {args.rounds} rounds"
    )
    print(
        f"message length: {len(messages[0])} chars, {chinese:.0%} Chinese characters; "
        f"{sensitive} of {len(messages)} hit the sensitive list; "
        f"{statistics.mean(fired):.1f} rules fire per decision"
    )
    print(
        f"parse+check+compile of the set: median {statistics.median(build_times) * 1000:.1f} ms "
        f"(min {min(build_times) * 1000:.1f} ms)"
    )
    print(f"decide()             median {med_decide:6.2f} us   p99 {p99_decide:6.2f} us")
    for name, samples in baselines.items():
        med, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        print(
            f"baseline {name:<11} median {med:6.2f} us   p99 {p99:6.2f} us   "
            f"decide/baseline: median {med_decide / med:.2f}x, p99 {p99_decide / p99:.2f}x"
        )
    print(f"timer overhead per sample (an empty call): median {percentile(overhead, 0.5):.2f} us, included")


if __name__ == "__main__":
    main()
