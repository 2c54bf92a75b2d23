"""Compiled speedups (Cython); sources live in the top-level ``_speedups/`` directory.

Import them through :mod:`scyllabatch._impl`, which picks the compiled or pure-Python twin.
"""
