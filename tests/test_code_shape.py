"""The engine stays readable: no function takes more than ten parameters (options objects carry the rest).

Training options live in one :class:`sda_engine.TrainOptions`, generation settings in one
:class:`sda_engine.GenerationRequest`; a long parameter list is the sign of a setting spelled twice.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "packages" / "sda-engine" / "src" / "sda_engine"
MAX_PARAMETERS = 10


def _parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names)


def test_no_engine_function_takes_more_than_ten_parameters() -> None:
    too_long = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _parameter_count(node) > MAX_PARAMETERS:
                too_long.append(f"{path.relative_to(ENGINE)}:{node.lineno} {node.name} ({_parameter_count(node)})")
    assert not too_long, "functions with more than ten parameters: " + ", ".join(too_long)


def test_the_parameter_count_sees_long_signatures() -> None:
    tree = ast.parse("def f(a, b, c, d, e, f, g, h, i, j, *, k=1): pass\nclass C:\n def m(self, a): pass")
    counts = {n.name: _parameter_count(n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert counts == {"f": 11, "m": 1}
