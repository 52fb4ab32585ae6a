"""A registry: names -> real objects (datasets, networks, objectives, loggers, metrics).

Adding an extension is one new module and one ``register`` line; an unknown name is one clear error
line that suggests the nearest name and lists the choices.
"""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from gankit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered mapping of names to objects of one kind (``kind`` names it in error messages)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The object registered as ``name``; a :class:`ConfigError` naming the choices if none."""
        if name not in self._items:
            raise ConfigError(unknown_name_message(self.kind, name, self._items))
        return self._items[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self):
        return self._items.items()


def unknown_name_message(kind: str, name: object, choices, where: str = "") -> str:
    """"unknown dataset 'mnst'; did you mean 'mnist'? Choose one of: ..." or, with no near name,
    "unknown g_loss 'foo'; choose one of: ..." (one line). ``where`` follows the name
    (e.g. " in 'paper-mnist+emma'")."""
    return f"unknown {kind} '{name}'{where}{choices_hint(name, choices)}"


def choices_hint(name: object, choices) -> str:
    """"; did you mean 'mnist'? Choose one of: a, b" or "; choose one of: a, b": what follows the
    unknown name in an error line, so that every such line is punctuated alike."""
    names = sorted(str(c) for c in choices)
    near = difflib.get_close_matches(str(name), names, n=1)
    listing = ", ".join(names)
    return f"; did you mean '{near[0]}'? Choose one of: {listing}" if near else f"; choose one of: {listing}"
