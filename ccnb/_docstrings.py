"""Docstring templates: parameter descriptions shared by several public functions, written once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["docstring_template"]

F = TypeVar("F", bound=Callable)


def docstring_template(parts: Mapping[str, str]) -> Callable[[F], F]:
    """A decorator replacing each ``{name}`` in a docstring with ``parts[name]``.

    Parameters
    ----------
    parts : mapping of str to str
        Placeholder name (without braces) -> the text it stands for, indented for a
        NumPy docstring's parameter list.

    Returns
    -------
    callable
        The decorator; it returns the function itself with its ``__doc__`` filled in.
    """

    def fill(function: F) -> F:
        doc = function.__doc__ or ""
        for name, text in parts.items():
            doc = doc.replace("{" + name + "}", text)
        function.__doc__ = doc
        return function

    return fill
