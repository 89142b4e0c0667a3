"""The syntax tree: precedence, literals, field forms, blocks and their locations."""

from __future__ import annotations

from kefu_host.rules import nodes as n
from kefu_host.rules.builder import parse_file


def cond_of(text: str) -> n.Cond:
    [rule] = parse_file(f"rule r.x when {text} then stop end", "a.rule").items
    assert isinstance(rule, n.Rule)
    return rule.cond


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    cond = cond_of("not a.a == 1 and a.b == 2 or a.c == 3")
    assert isinstance(cond, n.AnyOf)
    left, right = cond.items
    assert isinstance(left, n.AllOf) and isinstance(right, n.Compare)
    assert isinstance(left.items[0], n.Negation) and isinstance(left.items[1], n.Compare)


def test_parentheses_override_precedence() -> None:
    cond = cond_of("a.a == 1 and (a.b == 2 or a.c == 3)")
    assert isinstance(cond, n.AllOf)
    assert isinstance(cond.items[1], n.AnyOf)


def test_chains_of_the_same_operator_are_flat() -> None:
    cond = cond_of("a.a == 1 or a.b == 2 or a.c == 3 or a.d == 4")
    assert isinstance(cond, n.AnyOf) and len(cond.items) == 4


def test_condition_nodes_keep_their_source_text() -> None:
    cond = cond_of('customer.ltv >= 10000 and not customer.tags   contains "blocked"')
    assert cond.text == 'customer.ltv >= 10000 and not customer.tags contains "blocked"'
    assert isinstance(cond, n.AllOf)
    assert cond.items[1].text == 'not customer.tags contains "blocked"'


def test_literals_are_typed_and_durations_are_seconds() -> None:
    cond = cond_of(
        "a.a > 2m or a.b > 1.5h or a.c > -3 or a.d == 2.5 or a.e == true or a.f == 30s or a.g > 1d"
    )
    assert isinstance(cond, n.AnyOf)
    values = [(c.value.kind, c.value.value) for c in cond.items if isinstance(c, n.Compare)]
    assert values == [
        ("duration", 120.0),
        ("duration", 5400.0),
        ("number", -3),
        ("number", 2.5),
        ("bool", True),
        ("duration", 30.0),
        ("duration", 86400.0),
    ]


def test_field_forms_take_a_parameter_or_a_key() -> None:
    cond = cond_of(
        'queue.length("support") > 1 and customer.attributes["plan"] == "pro" and customer.ltv > 0'
    )
    assert isinstance(cond, n.AllOf)
    refs = [c.field for c in cond.items if isinstance(c, n.Compare)]
    assert [(r.name, r.param, r.key) for r in refs] == [
        ("queue.length", "support", None),
        ("customer.attributes", None, "plan"),
        ("customer.ltv", None, None),
    ]
    assert [str(r) for r in refs] == [
        'queue.length("support")',
        'customer.attributes["plan"]',
        "customer.ltv",
    ]


def test_predicates_build_their_own_nodes() -> None:
    cond = cond_of(
        'a.a in [1, 2,] or a.b not in ["x"] or a.c contains "y" or a.d contains_any ["p", "q"] '
        'or a.e contains_any $words or a.f matches "^x" or a.g is present or a.h is not present or a.i'
    )
    assert isinstance(cond, n.AnyOf)
    kinds = [type(c).__name__ for c in cond.items]
    assert kinds == [
        "InList",
        "InList",
        "Contains",
        "ContainsAny",
        "ContainsAny",
        "Matches",
        "Present",
        "Present",
        "Bare",
    ]
    in_list, not_in, *_rest = cond.items
    assert (
        isinstance(in_list, n.InList) and not in_list.negated and [v.value for v in in_list.values] == [1, 2]
    )
    assert isinstance(not_in, n.InList) and not_in.negated
    named = cond.items[4]
    assert isinstance(named, n.ContainsAny) and named.list_name == "words" and named.words is None


def test_a_rule_has_its_header_meta_and_actions() -> None:
    source = """# leading comment
rule risk.words priority -5 in group routing
  desc "why"  owner "who"
  when true
  then transfer "risk-control" set_priority "urgent" prefer_agent customer.owner stop
end
"""
    [rule] = parse_file(source, "rules/a.rule").items
    assert isinstance(rule, n.Rule)
    assert (rule.id, rule.priority, rule.group, rule.desc, rule.owner) == (
        "risk.words",
        -5,
        "routing",
        "why",
        "who",
    )
    assert (rule.loc.path, rule.loc.line, rule.loc.column) == ("rules/a.rule", 2, 1)
    assert [a.name for a in rule.actions] == ["transfer", "set_priority", "prefer_agent", "stop"]
    agent_arg = rule.actions[2].args[0]
    assert isinstance(agent_arg, n.FieldRef) and agent_arg.name == "customer.owner"


def test_a_rule_without_priority_has_priority_zero() -> None:
    [rule] = parse_file("rule plain when true then stop end", "a.rule").items
    assert isinstance(rule, n.Rule) and rule.priority == 0 and rule.group is None


def test_lists_and_groups() -> None:
    items = parse_file(
        'list a = ["x", "退款"]\nlist b = file("lists/b.txt")\ngroup g match all\n', "a.rule"
    ).items
    a, b, g = items
    assert isinstance(a, n.ListDef) and [w.value for w in a.words or ()] == ["x", "退款"]
    assert isinstance(b, n.ListDef) and b.file is not None and b.file.value == "lists/b.txt"
    assert isinstance(g, n.GroupDef) and g.mode == "all"


def test_a_test_block_with_facts_and_negated_expectations() -> None:
    source = """test "vip"
  given customer.ltv = 25000, customer.tags = ["a", "b"], queue.length("support") = 3
  expect fired a.b, not fired c.d, not not tag "x", assign_team "vip"
end"""
    [test] = parse_file(source, "a.rule").items
    assert isinstance(test, n.TestDef) and test.name == "vip"
    assert [str(f.field) for f in test.facts] == ["customer.ltv", "customer.tags", 'queue.length("support")']
    tags = test.facts[1].value
    assert isinstance(tags, tuple) and [t.value for t in tags] == ["a", "b"]
    fired, not_fired, double_not, team = test.expectations
    assert isinstance(fired, n.ExpectFired) and not fired.negated
    assert isinstance(not_fired, n.ExpectFired) and not_fired.negated and not_fired.rule_id == "c.d"
    assert isinstance(double_not, n.ExpectAction) and not double_not.negated
    assert isinstance(team, n.ExpectAction) and team.name == "assign_team"


def test_a_test_block_may_have_no_facts() -> None:
    [test] = parse_file('test "empty" expect fired a.b end', "a.rule").items
    assert isinstance(test, n.TestDef) and test.facts == ()
