"""Inference runtimes behind one protocol (see base.py); one small module per backend."""
