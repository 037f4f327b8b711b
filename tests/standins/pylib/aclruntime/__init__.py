"""Stand-in for the aclruntime wheel (CANN's C++ backend of ais_bench): only its version."""

__version__ = "0.0.2"
