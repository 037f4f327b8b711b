"""tools 2025 common/utils.py (path checks live here in the real package; see standin_ais.py)."""
