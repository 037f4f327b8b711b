"""InferSession of release 2022-11 (reference §2.7, §8.5)."""
from standin_ais_api import SumarySession as InferSession  # noqa: F401
