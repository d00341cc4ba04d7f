"""Containers (pytrees) of the entry points' arguments, results and cotangents.

A *node* is a dict (or ``OrderedDict``), a list, a tuple or a named tuple; anything
else is a *leaf*. Nodes nest. ``gradient``, ``vjp`` and ``autodiff`` take arguments
and return derivatives of the same structure, as JAX's pytrees (dict keys keep their
order; a named tuple keeps its type).

>>> from activerules.engine.trees import map_leaves
>>> map_leaves(lambda v, path: (path, v * 2), {"a": [1, 2]}, "p")
{'a': [("p['a'][0]", 2), ("p['a'][1]", 4)]}
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

__all__ = ["is_node", "items_of", "rebuild_node", "child_path", "map_leaves", "describe", "leaves"]


def is_node(v: Any) -> bool:
    """Whether ``v`` is a container the entry points walk into."""
    t = type(v)
    return t is tuple or t is list or t is dict or t is OrderedDict or (
        isinstance(v, tuple) and hasattr(t, "_fields"))


def items_of(v: Any) -> list[tuple[Any, Any]]:
    """The (key, child) pairs of the node ``v`` (keys: positions or dict keys)."""
    if isinstance(v, dict):
        return list(v.items())
    return list(enumerate(v))


def rebuild_node(v: Any, children: list[Any]) -> Any:
    """A node of ``v``'s type and keys holding ``children``."""
    t = type(v)
    if isinstance(v, dict):
        return t(zip(v.keys(), children))
    if t is tuple or t is list:
        return t(children)
    return t(*children)  # a named tuple


def child_path(path: str, key: Any) -> str:
    """``path`` extended by ``key``, as it would be indexed (``x['w'][0]``)."""
    return f"{path}[{key!r}]"


def map_leaves(fn: Callable[[Any, str], Any], tree: Any, path: str) -> Any:
    """``tree`` with every leaf ``v`` replaced by ``fn(v, its path)``."""
    if not is_node(tree):
        return fn(tree, path)
    return rebuild_node(tree, [map_leaves(fn, c, child_path(path, k)) for k, c in items_of(tree)])


def leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree``, depth first."""
    if not is_node(tree):
        return [tree]
    return [leaf for _, c in items_of(tree) for leaf in leaves(c)]


def describe(tree: Any) -> str:
    """A short description of ``tree``'s structure for error messages
    (``tuple(*, dict(a=*))``: ``*`` a leaf)."""
    if not is_node(tree):
        return "*"
    name = type(tree).__name__
    if isinstance(tree, dict):
        return f"{name}(" + ", ".join(f"{k!r}: {describe(c)}" for k, c in tree.items()) + ")"
    inner = ", ".join(describe(c) for c in tree)
    return f"{name}({inner})" if name not in ("tuple", "list") else (
        f"({inner},)" if name == "tuple" and len(tree) == 1 else
        (f"({inner})" if name == "tuple" else f"[{inner}]"))
