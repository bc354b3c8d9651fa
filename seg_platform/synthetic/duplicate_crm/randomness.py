"""Small helpers on one random stream: weights, draws, one-edit typos, spacing, case."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from seg_platform.synthetic.duplicate_crm.rates import NEIGHBOURS


def zipf_weights(n: int, s: float = 1.0, q: float = 8.0) -> np.ndarray:
    """Zipf-Mandelbrot weights for ranks 1..n: a long tail with a not too sharp head."""
    w = 1.0 / (np.arange(1, n + 1) + q) ** s
    return w / w.sum()


T = TypeVar("T")


class Rand:
    """Thin wrapper over one numpy Generator: draws in a fixed order, so output is
    deterministic for the seed."""

    def __init__(self, seed: int, key: int):
        seq = np.random.SeedSequence(seed, spawn_key=(key,))
        self.g = np.random.Generator(np.random.PCG64(seq))

    def p(self, prob: float) -> bool:
        return bool(self.g.random() < prob)

    def u(self) -> float:
        return float(self.g.random())

    def int(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi]."""
        return int(self.g.integers(lo, hi + 1))

    def pick(self, values: Sequence[T]) -> T:
        return values[int(self.g.integers(0, len(values)))]

    def weighted(self, values: Sequence[T], weights) -> T:
        cum = np.cumsum(weights)
        i = int(np.searchsorted(cum, self.g.random() * cum[-1], side="right"))
        return values[min(i, len(values) - 1)]

    def pairs(self, pairs: Sequence[tuple[T, float]]) -> T:
        return self.weighted([v for v, _ in pairs], [w for _, w in pairs])


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def one_edit(r: Rand, text: str, digits: bool = False) -> str:
    """`text` with one edit a typist makes: substitute a letter by its keyboard neighbour,
    delete one, insert one (a doubled letter or a neighbour), or transpose two neighbours.
    Rarely on the first character, which people check. Always different from `text`."""
    editable = str.isdigit if digits else str.isalpha
    positions = [i for i, ch in enumerate(text) if editable(ch)]
    if len(positions) < 2:
        return text + (str(r.int(0, 9)) if digits else "e")
    for _ in range(8):
        i = positions[0] if r.p(0.06) else r.pick(positions[1:])
        kind = r.weighted(("substitute", "delete", "insert", "transpose"), (0.35, 0.25, 0.2, 0.2))
        ch = text[i]
        if kind == "substitute":
            near = NEIGHBOURS.get(ch.lower(), "")
            if not near:
                continue
            new = r.pick(near)
            new = new.upper() if ch.isupper() else new
            out = text[:i] + new + text[i + 1 :]
        elif kind == "delete":
            out = text[:i] + text[i + 1 :]
        elif kind == "insert":
            near = NEIGHBOURS.get(ch.lower(), "")
            extra = ch.lower() if (r.p(0.6) or not near) else r.pick(near)
            out = text[: i + 1] + extra + text[i + 1 :]
        else:
            j = i + 1 if i + 1 < len(text) else i - 1
            a, b = sorted((i, j))
            out = text[:a] + text[b] + text[a] + text[b + 1 :]
        if out != text:
            return out
    return text + text[-1]


def spaces(r: Rand, text: str) -> str:
    """A stray leading or trailing space, or a doubled inner one."""
    k = r.int(0, 2)
    if k == 0:
        return " " + text
    if k == 1 or " " not in text.strip():
        return text + r.pick((" ", "  "))
    i = text.index(" ")
    return text[:i] + " " + text[i:]


def title(text: str) -> str:
    # str.title() would write "O'brien" and "Mcdonald" anyway; real forms do the same.
    return text.title()
