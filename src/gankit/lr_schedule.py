"""The ``lr_schedule`` field's grammar: a piecewise multiplier of both players' learning rates, on
top of the exponential ``lr_decay``. Pieces are joined with ``+`` and their factors multiply:

- ``constant``: 1;
- ``step(at=N, d=X, g=Y)``: from update N on, D's rate times X and G's times Y (default 1);
- ``cosine(start=0.5, final=0.01)``: 1 until fraction ``start`` of the run, then a cosine down to
  ``final`` at the last step (Figure 1's recipe: the game settles before the last snapshot).

Parsing lives here (config validates with it); the factors are computed in :mod:`gankit.optim`.
"""

from __future__ import annotations

import functools
import math
import re
from types import MappingProxyType
from typing import Mapping

from gankit.errors import ConfigError

#: Piece -> its arguments and their defaults (None: required).
LR_PIECES: dict[str, dict[str, float | None]] = {
    "constant": {}, "step": {"at": None, "d": 1.0, "g": 1.0}, "cosine": {"start": 0.5, "final": 0.01}}
LR_EXAMPLE = "e.g. 'step(at=110000, d=0.5)' or 'cosine(start=0.5, final=0.01)'"


@functools.lru_cache(maxsize=32)
def parse_lr_schedule(text: str) -> tuple[tuple[str, Mapping[str, float]], ...]:
    """``"step(at=10, d=0.5)+cosine()"`` -> ``(("step", {"at": 10, "d": 0.5, "g": 1.0}),
    ("cosine", {"start": 0.5, "final": 0.01}))``; a ConfigError names the first problem."""
    pieces = []
    for piece in re.split(r"\+(?![^(]*\))", text):  # '+' joins pieces, except inside (at=1e+5)
        m = re.fullmatch(r"\s*(\w+)\s*(?:\((.*)\))?\s*", piece)
        if m is None or m[1] not in LR_PIECES:
            raise _lr_error(text, f"unknown piece '{piece.strip()}' (pieces: {', '.join(LR_PIECES)})")
        kind, spec = m[1], LR_PIECES[m[1]]
        try:
            given = {k.strip(): float(v) for k, v in (a.split("=") for a in (m[2] or "").split(",")
                                                      if a.strip())}
        except ValueError:
            given = {"": 0.0}  # not key=number: reported below
        args = {**spec, **given}
        if set(given) - set(spec) or None in args.values():
            raise _lr_error(text, f"{kind}() takes key=number arguments {', '.join(spec) or 'none'}"
                                  f" (required: {', '.join(k for k in spec if spec[k] is None) or 'none'})")
        if kind == "step" and not (args["at"] >= 0 and args["at"].is_integer()
                                   and 0 < args["d"] < math.inf and 0 < args["g"] < math.inf):
            raise _lr_error(text, "step() needs a whole number at >= 0 and factors d, g > 0")
        if kind == "cosine" and not (0 <= args["start"] < 1 and 0 <= args["final"] <= 1):
            raise _lr_error(text, "cosine() needs 0 <= start < 1 and 0 <= final <= 1")
        pieces.append((kind, MappingProxyType({k: int(v) if k == "at" else v for k, v in args.items()})))
    return tuple(pieces)


def _lr_error(text: str, problem: str) -> ConfigError:
    return ConfigError(f"lr_schedule '{text}': {problem}; {LR_EXAMPLE}")
