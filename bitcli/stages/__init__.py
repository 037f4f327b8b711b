"""Pure pipeline stages: paths and settings in, a dataclass out; no printing, no exits."""
