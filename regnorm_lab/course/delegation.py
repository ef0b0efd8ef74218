"""Does a student's function delegate? Decided on the grader's side from the answer cells' source.

A function that only calls the reference (``regnorm_lab``) or the framework routine the
exercise asks to write (``torch.nn.functional.batch_norm``, ``sklearn.preprocessing``, ...)
earns no points (exercise contract). Reading the source with :mod:`ast` needs nothing from
the student's process: imports and attribute chains are resolved through the cells'
import aliases, helpers defined in other cells are followed, and code the grader cannot
read (``exec``, ``eval``, ``compile``, ``__import__``, ``importlib.import_module`` of a
computed name) counts as delegating, and so does code that reaches the notebook's machinery
(``get_ipython``, ``IPython``: input transformers and hooks can rewrite other cells, the
grader's timed calls included). A cell that rebinds the function's name
(``layer_norm = F.layer_norm``) is read as part of the function. In the sandbox the reference cannot even be imported.
"""

from __future__ import annotations

import ast
from typing import Iterable

__all__ = ["FRAMEWORK_ROUTINES", "forbidden_for", "findings", "delegation_messages", "message"]

#: Framework routines each contract function must not delegate to (dotted import paths).
#: The ``regnorm_lab`` package itself is always forbidden.
FRAMEWORK_ROUTINES: dict[str, tuple[str, ...]] = {
    "dropout_forward": ("torch.nn.functional.dropout", "torch.dropout", "torch.nn.Dropout"),
    "dropout_backward": ("torch.nn.functional.dropout", "torch.dropout", "torch.nn.Dropout"),
    "min_max_scale": ("sklearn.preprocessing",),
    "z_score": ("sklearn.preprocessing", "scipy.stats.zscore"),
    "batchnorm_forward": ("torch.nn.functional.batch_norm", "torch.batch_norm", "torch.nn.BatchNorm1d"),
    "batchnorm_backward": ("torch.nn.functional.batch_norm", "torch.batch_norm", "torch.nn.BatchNorm1d"),
    "layernorm_forward": ("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.nn.LayerNorm"),
    "layernorm_backward": ("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.nn.LayerNorm"),
    "instancenorm_forward": ("torch.nn.functional.instance_norm", "torch.instance_norm", "torch.nn.InstanceNorm2d"),
    "groupnorm_forward": ("torch.nn.functional.group_norm", "torch.group_norm", "torch.nn.GroupNorm"),
    "r2_score": ("sklearn.metrics",),
    "weight_penalty": (),
    "build_model": (),
    "layer_norm": ("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.nn.LayerNorm", "torch.native_layer_norm"),
    "rms_norm": ("torch.nn.functional.rms_norm", "torch.rms_norm", "torch._fused_rms_norm", "torch.nn.RMSNorm"),
}
_UNREADABLE = {"exec", "eval", "compile", "__import__"}
#: The notebook's machinery: an answer that reaches it (input transformers, hooks) can change what
#: other cells run, e.g. the grader's timed calls. It counts as delegating.
_MACHINERY = ("get_ipython", "IPython", "ipykernel")


def forbidden_for(function: str) -> tuple[str, ...]:
    """Dotted names ``function`` must not use: ``regnorm_lab`` and its framework routines."""
    return ("regnorm_lab", *FRAMEWORK_ROUTINES.get(function, ()))


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` replaced by what it was imported as; None if not a name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _aliases(tree: ast.AST) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _uses(tree: ast.AST, aliases: dict[str, str]) -> Iterable[str]:
    """Every dotted name the code refers to, imports included; ``<unreadable:...>`` for exec and friends."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(getattr(node, "ctx", None), ast.Load):
            name = _dotted(node, aliases)
            if name:
                yield name
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node, aliases) or ""
            if name.split(".")[0] in _MACHINERY:
                yield f"<unreadable:{name.split('.')[0]}>"
        if isinstance(node, ast.Call):
            name = _dotted(node.func, aliases) or ""
            if name == "__import__" and node.args and _folded(node.args[0]):
                yield _folded(node.args[0])  # type: ignore[misc]
            elif name in _UNREADABLE:
                yield f"<unreadable:{name}>"
            elif name == "importlib.import_module":
                text = _folded(node.args[0]) if node.args else None
                yield text if text else "<unreadable:importlib.import_module>"
            elif name == "getattr" and len(node.args) >= 2:
                owner = _owner(node.args[0], aliases)
                text = _folded(node.args[1])
                if owner and text:
                    yield f"{owner}.{text}"
                elif owner:
                    yield f"<getattr:{owner}>"


def _folded(node: ast.AST) -> str | None:
    """The value of a string built from literals (``"regnorm" + "_lab"``), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_folded(v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    return None


def _owner(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """What ``getattr``'s first argument names: a dotted name, or the module ``importlib.import_module`` loads."""
    if isinstance(node, ast.Call) and (_dotted(node.func, aliases) or "") == "importlib.import_module" and node.args:
        return _folded(node.args[0])
    return _dotted(node, aliases)


def _matches(name: str, forbidden: tuple[str, ...], function: str) -> str | None:
    """The forbidden entry ``name`` falls under (the reference itself named as ``regnorm_lab.<function>``)."""
    for f in forbidden:
        if name == f or name.startswith(f + "."):
            if f == "regnorm_lab" and name.rsplit(".", 1)[-1] == function:
                return f"regnorm_lab.{function}"
            return f
    return None


def findings(function: str, cells: dict[str, str], others: Iterable[str] = (), context: Iterable[str] = ()) -> list[str]:
    """What ``function``'s answer cell (and the helpers it uses from other cells) delegates to.

    Args:
        function: The contract function (its answer cell's grade_id).
        cells: Answer-cell sources by grade_id.
        others: Sources of other student-editable code cells (helpers may live there).
        context: Sources of the instructor's locked setup cells: their imports name what the
            answers' aliases mean (``F`` for ``torch.nn.functional``); they are never followed
            (the setup may import the probe, and an answer may use its ``DEVICE``).

    Returns:
        Dotted names (or ``exec``-like calls) found, most specific first; empty when none.
    """
    trees: dict[str, ast.AST] = {}
    for key, source in [*cells.items(), *((f"<cell {i}>", s) for i, s in enumerate(others))]:
        try:
            trees[key] = ast.parse(source)
        except SyntaxError:
            continue
    if function not in trees:
        return []
    aliases: dict[str, str] = {}
    for source in context:
        try:
            aliases.update(_aliases(ast.parse(source)))
        except SyntaxError:
            continue
    defined: dict[str, list[str]] = {}  # top-level name -> cells that define or rebind it
    for key, tree in trees.items():
        aliases.update(_aliases(tree))
        for node in getattr(tree, "body", []):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                defined.setdefault(node.name, []).append(key)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for leaf in ast.walk(t):
                        if isinstance(leaf, ast.Name):
                            defined.setdefault(leaf.id, []).append(key)
    forbidden = forbidden_for(function)
    found: list[str] = []
    # the answer cell, and any other cell that rebinds the function's name (``layer_norm = F.layer_norm``)
    todo, seen = [function, *(k for k in defined.get(function, []) if k != function)], set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        for name in _uses(trees[key], aliases):
            if name.startswith("<unreadable:"):
                found.append(name[len("<unreadable:"):-1])
                continue
            if name.startswith("<getattr:"):  # a name computed at run time, looked up where a forbidden routine lives
                owner = name[len("<getattr:"):-1]
                if any(f == owner or f.startswith(owner + ".") or owner.startswith(f + ".") for f in forbidden):
                    found.append(f"getattr({owner}, ...)")
                continue
            hit = _matches(name, forbidden, function)
            if hit:
                found.append(hit)
            head = name.split(".")[0]
            todo.extend(k for k in defined.get(head, []) if k != key)
    return sorted(set(found), key=lambda d: (-d.count("."), d))


def message(function: str, found: list[str]) -> str:
    """The one-line feedback for a delegating ``function``."""
    what = found[0]
    if what in _MACHINERY:
        what = f"{what} (the notebook's machinery: an answer may not change how other cells run)"
    elif what in _UNREADABLE or what == "importlib.import_module" or what.startswith("getattr("):
        what = f"{what} (code the grader cannot read)"
    return (
        f"{function} calls {what}: write it yourself. A function that delegates to the reference "
        f"or to the framework routine the exercise replaces earns no points."
    )


def delegation_messages(functions: Iterable[str], cells: dict[str, str], others: Iterable[str] = (), context: Iterable[str] = ()) -> dict[str, str]:
    """``{function: message}`` for every delegating function among ``functions`` (arguments as :func:`findings`)."""
    others, context = list(others), list(context)
    out = {}
    for fn in functions:
        found = findings(fn, cells, others, context)
        if found:
            out[fn] = message(fn, found)
    return out
