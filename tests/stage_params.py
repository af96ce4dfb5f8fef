"""Which ``params.yaml`` keys a stage function reads, derived from the code (AST only: nothing is imported).

Each parameter of the stage function annotated with a section's config class (``PretrainConfig`` -> ``pretrain``,
from the fields of ``Params``) reads the keys the function accesses on it, following the object into the project
functions it is handed to; anything else done with it (a method call, handing it to a library) reads all of it.
``cfg.field[name]`` and ``name in cfg.field`` read one matrix item's block (``field.<item>``), ``getattr(cfg, name)``
the block ``<item>``; error messages (``raise``) read nothing. Each other parameter reads what the entry point passes
it (``pre.seed`` -> ``pretrain.seed``). ``paths`` are left out: where a stage reads and writes is named in its deps
and outs. A policy variant's block is read with ``policy.defaults``, which validation merges under it.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEM = "<item>"
"""a matrix item's block: ``pretrain.${item.encoder}``, ``policy.variants.${item.variant}``"""
RESOLVED_OVER = {f"policy.variants.{ITEM}": "policy.defaults"}
"""blocks resolved over another at validation (``pipeline.policy.config``: a variant is ``policy.defaults`` <- its
block), so reading one reads the other too"""


def module_file(name: str) -> str | None:
    """``pipeline.a.b`` -> the repo-relative file that defines it (package ``__init__`` or module)."""
    parts = name.split(".")
    if parts[0] != "pipeline":
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return str(candidate.relative_to(ROOT))
    return None


def within(key: str, params: list[str]) -> bool:
    """``key`` is one of ``params`` or lies inside one (``env.id`` inside ``env``)."""
    return any(key == p or key.startswith(p + ".") for p in params)


@cache
def syntax(path: str) -> tuple[ast.Module, dict[ast.AST, ast.AST]]:
    """The parsed file and each node's parent."""
    tree = ast.parse((ROOT / path).read_text())
    return tree, {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def class_fields(path: str, name: str) -> set[str]:
    """Field names of the config class ``name`` defined in (or imported into) ``path``."""
    tree, _ = syntax(path)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    return class_fields(module_file(imported_names(path)[name]) or "", name)


@cache
def sections() -> dict[str, tuple[str, frozenset[str]]]:
    """Config class name -> (its ``params.yaml`` section, its fields), from ``Params`` in ``pipeline/config.py``."""
    tree, _ = syntax("pipeline/config.py")
    params = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Params")
    out = {}
    for field in params.body:
        if isinstance(field, ast.AnnAssign) and isinstance(field.annotation, ast.Name):
            cls = field.annotation.id
            out[cls] = (field.target.id, frozenset(class_fields("pipeline/config.py", cls)))
    return out


@cache
def imported_names(path: str) -> dict[str, str]:
    """Name -> project module, for every ``from pipeline.x import name`` in the file (inside functions too)."""
    tree, _ = syntax(path)
    return {
        a.asname or a.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline")
        for a in node.names
    }


def find_function(path: str, name: str) -> tuple[str, ast.FunctionDef] | None:
    """The project function ``name`` means in ``path``: defined there, or imported from a project module."""
    tree, _ = syntax(path)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return path, node
    module = imported_names(path).get(name)
    target = module_file(module) if module else None
    return find_function(target, name) if target and target != path else None


def bound_parameter(call: ast.Call, arg: ast.AST, func: ast.FunctionDef) -> str | None:
    """The parameter of ``func`` that ``arg`` of ``call`` binds (None: through ``*args`` / ``**kwargs``)."""
    positional = [a.arg for a in func.args.posonlyargs + func.args.args]
    for i, a in enumerate(call.args):
        if a is arg:
            return (
                positional[i]
                if i < len(positional) and not any(isinstance(b, ast.Starred) for b in call.args[:i])
                else None
            )
    names = set(positional) | {a.arg for a in func.args.kwonlyargs}
    return next((k.arg for k in call.keywords if k.value is arg and k.arg in names), None)


def in_raise(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a ``raise`` statement: an error message, not what the stage computes."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Raise):
            return True
    return False


def key_of(node: ast.expr) -> str:
    """A constant key as written; any other: the matrix item's."""
    return str(node.value) if isinstance(node, ast.Constant) else ITEM


@cache
def reads(path: str, function: str, param: str, fields: frozenset[str]) -> frozenset[str]:
    """Keys of a config object that ``function``'s parameter ``param`` reads: ``"field"``, ``"field.<item>"``
    (``cfg.field[name]``, ``name in cfg.field``), ``"<item>"`` (``getattr(cfg, name)``), or ``""`` (all of it:
    a method call, or the object handed to something this walk does not enter)."""
    found = find_function(path, function)
    assert found, f"{function} not found from {path}"
    path, func = found
    _, parents = syntax(path)
    out: set[str] = set()
    for node in ast.walk(func):
        if not (isinstance(node, ast.Name) and node.id == param and isinstance(node.ctx, ast.Load)):
            continue
        if in_raise(node, parents):
            continue
        up = parents[node]
        if isinstance(up, ast.Attribute):
            above = parents[up]
            if up.attr not in fields:
                out.add("")  # a method or property of the config: may read any of it
            elif isinstance(above, ast.Subscript) and above.value is up:
                out.add(f"{up.attr}.{key_of(above.slice)}")
            elif isinstance(above, ast.Compare) and up in above.comparators:
                out.add(f"{up.attr}.{ITEM}" if all(isinstance(o, (ast.In, ast.NotIn)) for o in above.ops) else up.attr)
            else:
                out.add(up.attr)
        elif isinstance(up, ast.Call) and node is not up.func:
            if isinstance(up.func, ast.Name) and up.func.id == "getattr":
                out.add(key_of(up.args[1]))
                continue
            callee = find_function(path, up.func.id) if isinstance(up.func, ast.Name) else None
            bound = callee and bound_parameter(up, node, callee[1])
            out |= reads(callee[0], callee[1].name, bound, fields) if callee and bound else {""}
        else:
            out.add("")
    return frozenset(out)


def params_source(expr: ast.expr, aliases: dict[str, str]) -> str | None:
    """The params key ``expr`` evaluates to in an entry point (``""``: all the params), or None."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "load_params":
        return ""
    if isinstance(expr, ast.Name):
        return aliases.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = params_source(expr.value, aliases)
        return None if base is None else f"{base}.{expr.attr}".lstrip(".")
    return None


def params_in(expr: ast.expr, aliases: dict[str, str]) -> set[str]:
    """Every params key an argument expression reads (``p.encoders / name`` -> ``paths.encoders``)."""
    key = params_source(expr, aliases)
    if key is not None:
        return {key}
    return set().union(*(params_in(c, aliases) for c in ast.iter_child_nodes(expr) if isinstance(c, ast.expr)))


def entry_aliases(path: str) -> dict[str, str]:
    """Names an entry point binds to the params or a part of them: ``params = load_params(...)`` -> ``""``,
    ``p, pre = params.paths, params.pretrain`` -> ``paths``, ``pretrain``."""
    tree, _ = syntax(path)
    aliases: dict[str, str] = {}
    for _ in range(3):  # aliases of aliases
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
                pairs = (
                    zip(target.elts, value.elts)
                    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                    else [(target, value)]
                )
                for t, v in pairs:
                    if isinstance(t, ast.Name) and (key := params_source(v, aliases)) is not None:
                        aliases[t.id] = key
    return aliases


def annotation_name(arg: ast.arg) -> str:
    """``cfg: PretrainConfig`` -> ``PretrainConfig`` (``""`` when not annotated)."""
    a = arg.annotation
    return a.id if isinstance(a, ast.Name) else a.attr if isinstance(a, ast.Attribute) else getattr(a, "value", "")


def function_reads(entry: str, name: str) -> set[str]:
    """Every params key (``paths`` aside) the function ``name`` reads, as the entry point ``entry`` calls it."""
    tree, _ = syntax(entry)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]
    assert len(calls) == 1, f"{entry} should call {name} once"
    found = find_function(entry, name)
    assert found, f"{name} is not a project function"
    path, func = found
    aliases = entry_aliases(entry)
    args = {a.arg: a for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs}
    out: set[str] = set()
    for arg in [*calls[0].args, *(k.value for k in calls[0].keywords)]:
        param = bound_parameter(calls[0], arg, func)
        assert param, f"{entry}: an argument of {name} binds no named parameter"
        annotation, passed = annotation_name(args[param]), params_in(arg, aliases)
        assert annotation != "Params" and "" not in passed, f"{name} takes all the params; give it its sections"
        if annotation in sections():
            section, fields = sections()[annotation]
            assert passed == {section}, f"{entry} passes {passed} as {name}'s {param}: {annotation} (`{section}`)"
            out |= {f"{section}.{key}".rstrip(".") for key in reads(path, name, param, fields)}
        else:
            out |= passed
    out = {k for k in out if k.split(".")[0] != "paths"}
    out |= {RESOLVED_OVER[k] for k in out if k in RESOLVED_OVER}
    return {k for k in out if not within(k, list(out - {k}))}  # `env` covers `env.id`
