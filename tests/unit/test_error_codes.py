"""The error codes clients see are one list (``graphql_api.errors.ERROR_CODES``), and the README
documents each: a code emitted anywhere in the source but missing from the list, or listed but
never emitted, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from graphql_api.errors import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("application", "adapters", "config", "graphql_api")
CODE = re.compile(r"^[A-Z][A-Z_]+$")
#: Functions whose argument at this position is an ``extensions.code``.
CODE_ARGUMENT = {"typed_error": 0, "_error": 0, "_refusal": 2}


def _constants(node: ast.AST | None) -> set[str]:
    """The code-like string constants in an expression (``"A" if c else "B"`` gives both)."""
    if node is None:
        return set()
    return {n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE.match(n.value)}


def _is_code_target(target: ast.AST) -> bool:
    if isinstance(target, ast.Name | ast.Attribute):
        return (target.id if isinstance(target, ast.Name) else target.attr) == "code"
    return (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
            and target.slice.value == "code")


def _codes_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            position = CODE_ARGUMENT.get(name)
            if position is not None and len(node.args) > position:
                found |= _constants(node.args[position])
        elif isinstance(node, ast.Dict):
            found |= {c for key, value in zip(node.keys, node.values, strict=True)
                      if isinstance(key, ast.Constant) and key.value == "code"
                      for c in _constants(value)}
        elif isinstance(node, ast.Assign) and any(_is_code_target(t) for t in node.targets):
            found |= _constants(node.value)
    return found


def emitted_codes() -> set[str]:
    return {code for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            for code in _codes_in(ast.parse(path.read_text(), str(path)))}


def test_the_scan_finds_codes_of_every_kind() -> None:
    codes = emitted_codes()
    assert {"NOT_FOUND", "UNAUTHENTICATED",              # class attributes
            "PAYLOAD_TOO_LARGE", "INTERNAL_SERVER_ERROR",  # dict literals
            "PERSISTED_QUERY_NOT_FOUND", "METHOD_NOT_ALLOWED",  # helper calls
            "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"} <= codes  # conditional assignments


def test_every_code_emitted_is_in_the_list_and_every_listed_code_is_emitted() -> None:
    codes = emitted_codes()
    assert codes - set(ERROR_CODES) == set(), "emitted but not in ERROR_CODES"
    assert set(ERROR_CODES) - codes == set(), "in ERROR_CODES but never emitted"


def test_the_readme_documents_every_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| code | when |"):]
    table = table[:table.index("\n\n")]
    assert {code for code in ERROR_CODES if f"| `{code}` |" not in table} == set()
