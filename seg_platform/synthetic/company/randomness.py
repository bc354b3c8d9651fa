"""Random streams keyed by purpose, and salted bijections that turn counters into unique ids."""

import numpy as np
import polars as pl
import pyarrow as pa

from seg_platform.sources.contract import LINKING_SOURCES, SOURCES

# The linking sources, in contract order; fixes file, rng-stream and truth ordering. The
# privacy and feedback sources (consent, survey answers, erasure requests) are written after
# the simulation from streams of their own (`write_feedback`), so they change nothing here.
SOURCE_ORDER = tuple(LINKING_SOURCES)
FEEDBACK_SOURCES = tuple(n for n in SOURCES if n not in LINKING_SOURCES)

# Random-stream purposes (first element of the SeedSequence spawn key).
S_POP, S_STATE, S_FILES, S_SALT, S_DAYS = 1, 2, 3, 4, 5
S_CONSENT, S_SURVEY = 40, 41  # feedback sources: after every S_GEN purpose
# New families go at the end: a family's salt depends on its position.
ID_FAMILIES = (
    "user", "cookie", "device", "billing", "crm", "key", "phone", "web", "app", "email",
    "invoice", "session", "sku", "platform", "consent", "survey",
)  # fmt: skip
S_GEN = {name: 10 + i for i, name in enumerate(SOURCE_ORDER)}


def stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent PCG64 stream for one purpose (and month, source...): order-proof."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=keys)))


def id_salt(seed: int, kind: int) -> int:
    return int(np.random.SeedSequence(seed, spawn_key=(S_SALT, kind)).generate_state(1)[0])


def scramble(x: np.ndarray, salt: int) -> np.ndarray:
    """Bijective 64-bit mix (splitmix64 finaliser): distinct inputs give distinct ids."""
    z = x.astype(np.uint64) + np.uint64(salt)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def hex_ids(prefix: str, x: np.ndarray, salt: int) -> pl.Series:
    """`prefix` + 16 hex digits of the scrambled counters `x` (unique per salt)."""
    z = scramble(np.asarray(x), salt).astype(">u8")
    arr = pa.Array.from_buffers(pa.binary(8), len(z), [None, pa.py_buffer(z.tobytes())])
    hexed = pl.Series("h", arr).bin.encode("hex")
    return pl.select(pl.lit(prefix) + hexed).to_series()


def affine(x: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """Bijection of [0, modulus): ids that look random but never collide."""
    mult = 2_654_435_761 if modulus <= 10**9 else 1_234_567_891
    assert np.gcd(mult, modulus) == 1 and mult * modulus < 2**63
    return (np.asarray(x, dtype=np.int64) * mult + salt % modulus) % modulus


def digit_ids(prefix: str, x: np.ndarray, width: int, salt: int) -> pl.Series:
    """`prefix` + `width` digits, a bijection of the counters `x` (< 10**width)."""
    v = pl.Series("d", affine(x, 10**width, salt)).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + v).to_series()
