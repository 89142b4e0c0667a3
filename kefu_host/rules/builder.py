"""Turning a lark parse tree into :mod:`nodes` values, with locations and source text for every condition."""

from __future__ import annotations

from typing import TypeAlias

from lark import Token, Tree

from kefu_host.rules import nodes as n
from kefu_host.rules.errors import RuleError
from kefu_host.rules.literals import decode_duration, decode_number, decode_string
from kefu_host.rules.syntax import parse_tree

LarkTree: TypeAlias = "Tree[Token]"
Node: TypeAlias = "Tree[Token] | Token"


def _token(node: Node) -> Token:
    assert isinstance(node, Token), "the grammar puts a token here"
    return node


def _tree(node: Node) -> LarkTree:
    assert isinstance(node, Tree), "the grammar puts a rule here"
    return node


def parse_file(text: str, path: str) -> n.SourceFile:
    """Parse one rule file; raises :class:`RuleError` on its first syntax error."""
    tree = parse_tree(text, path)
    builder = _Builder(path, text)
    items = tuple(builder.item(child) for child in tree.children)
    return n.SourceFile(path, text, items)


class _Builder:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines()

    # ---- helpers -------------------------------------------------------------------------------------
    def loc(self, node: Node) -> n.Loc:
        if isinstance(node, Token):
            return n.Loc(self.path, node.line or 1, node.column or 1, node.start_pos or 0, node.end_pos or 0)
        meta = node.meta
        if getattr(meta, "empty", True):
            return n.Loc(self.path, 1, 1)
        return n.Loc(self.path, meta.line, meta.column, meta.start_pos, meta.end_pos)

    def source(self, node: Node) -> str:
        loc = self.loc(node)
        return " ".join(self.text[loc.start : loc.end].split())

    def fail(self, node: Node, message: str) -> RuleError:
        loc = self.loc(node)
        line = self.lines[loc.line - 1] if 0 < loc.line <= len(self.lines) else ""
        return RuleError(self.path, loc.line, loc.column, message, line)

    def literal(self, node: Node) -> n.Lit:
        token = _token(node)
        kind = token.type
        text = str(token.value)
        loc = self.loc(token)
        if kind == "STRING":
            return n.Lit(decode_string(text), "string", text, loc)
        if kind == "NUMBER":
            return n.Lit(decode_number(text), "number", text, loc)
        if kind == "DURATION":
            return n.Lit(decode_duration(text), "duration", text, loc)
        return n.Lit(kind == "TRUE", "bool", text, loc)

    def field(self, node: Node) -> n.FieldRef:
        tree = _tree(node)
        name = str(tree.children[0])
        loc = self.loc(tree)
        if tree.data == "param_field":
            return n.FieldRef(name, loc, param=decode_string(str(tree.children[1])))
        if tree.data == "key_field":
            return n.FieldRef(name, loc, key=decode_string(str(tree.children[1])))
        return n.FieldRef(name, loc)

    def arg(self, node: Node) -> n.Lit | n.FieldRef:
        return self.field(node) if isinstance(node, Tree) else self.literal(node)

    def list_lit(self, node: Node) -> tuple[n.Lit, ...]:
        return tuple(self.literal(child) for child in _tree(node).children if isinstance(child, Token))

    # ---- blocks --------------------------------------------------------------------------------------
    def item(self, node: Node) -> n.Item:
        tree = _tree(node)
        kind = tree.data
        if kind == "rule_def":
            return self.rule(tree)
        if kind == "list_def":
            return self.list_def(tree)
        if kind == "group_def":
            name, mode = tree.children
            return n.GroupDef(str(name), "first" if _token(mode).type == "FIRST" else "all", self.loc(tree))
        return self.test(tree)

    def list_def(self, tree: LarkTree) -> n.ListDef:
        name, body = tree.children
        body_tree = _tree(body)
        if body_tree.data == "file_ref":
            return n.ListDef(str(name), None, self.literal(body_tree.children[0]), self.loc(tree))
        return n.ListDef(str(name), self.list_lit(body_tree), None, self.loc(tree))

    def rule(self, tree: LarkTree) -> n.Rule:
        rule_id = str(_tree(tree.children[0]).children[0])
        priority = 0
        group: str | None = None
        group_loc: n.Loc | None = None
        meta: dict[str, str] = {}
        cond: n.Cond | None = None
        actions: list[n.Action] = []
        for node in tree.children[1:]:
            child = _tree(node)
            kind = child.data
            if kind == "priority":
                token = _token(child.children[0])
                value = decode_number(str(token))
                if not isinstance(value, int):
                    raise self.fail(token, f"priority must be a whole number, got {token}")
                priority = value
            elif kind == "group_ref":
                group, group_loc = str(child.children[0]), self.loc(child.children[0])
            elif kind == "meta":
                key, value_token = child.children
                if str(key) in meta:
                    raise self.fail(key, f"{key} is given twice")
                meta[str(key)] = decode_string(str(value_token))
            elif kind == "action":
                args = tuple(map(self.arg, child.children[1:]))
                actions.append(n.Action(str(child.children[0]), args, self.loc(child)))
            else:
                cond = self.cond(child)
        assert cond is not None, "the grammar requires a condition"
        desc, owner = meta.get("desc"), meta.get("owner")
        return n.Rule(rule_id, priority, group, desc, owner, cond, tuple(actions), self.loc(tree), group_loc)

    def test(self, tree: LarkTree) -> n.TestDef:
        name = decode_string(str(tree.children[0]))
        facts: tuple[n.Fact, ...] = ()
        expectations: list[n.Expectation] = []
        for node in tree.children[1:]:
            child = _tree(node)
            if child.data == "given":
                facts = tuple(self.fact(fact) for fact in child.children)
            else:
                expectations.append(self.expectation(child, negated=False))
        return n.TestDef(name, facts, tuple(expectations), self.loc(tree))

    def fact(self, node: Node) -> n.Fact:
        tree = _tree(node)
        field_tree, value = tree.children
        parsed = self.list_lit(value) if isinstance(value, Tree) else self.literal(value)
        return n.Fact(self.field(field_tree), parsed, self.loc(tree))

    def expectation(self, node: Node, negated: bool) -> n.Expectation:
        tree = _tree(node)
        if tree.data == "expect_not":
            return self.expectation(tree.children[0], not negated)
        if tree.data == "expect_fired":
            return n.ExpectFired(str(_tree(tree.children[0]).children[0]), negated, self.loc(tree))
        name, *args = tree.children
        return n.ExpectAction(str(name), tuple(map(self.arg, args)), negated, self.loc(tree))

    # ---- conditions ----------------------------------------------------------------------------------
    def cond(self, node: Node) -> n.Cond:
        tree = _tree(node)
        kind, text, loc = tree.data, self.source(tree), self.loc(tree)
        children = tree.children
        if kind == "or_cond":
            return n.AnyOf(tuple(self.cond(c) for c in children), text, loc)
        if kind == "and_cond":
            return n.AllOf(tuple(self.cond(c) for c in children), text, loc)
        if kind == "not_cond":
            return n.Negation(self.cond(children[0]), text, loc)
        if kind == "const":
            return n.Const(_token(children[0]).type == "TRUE", text, loc)
        field = self.field(children[0])
        if kind == "bare":
            return n.Bare(field, text, loc)
        if kind == "compare":
            return n.Compare(field, str(children[1]), self.literal(children[2]), text, loc)
        if kind in ("in_list", "not_in_list"):
            return n.InList(field, self.list_lit(children[1]), kind == "not_in_list", text, loc)
        if kind == "contains":
            return n.Contains(field, self.literal(children[1]), text, loc)
        if kind == "contains_any":
            target = children[1]
            if isinstance(target, Tree):
                return n.ContainsAny(field, self.list_lit(target), None, None, text, loc)
            return n.ContainsAny(field, None, str(target)[1:], self.loc(target), text, loc)
        if kind == "matches":
            return n.Matches(field, self.literal(children[1]), text, loc)
        if kind in ("present", "absent"):
            return n.Present(field, kind == "absent", text, loc)
        raise AssertionError(f"grammar rule {kind} has no builder")
