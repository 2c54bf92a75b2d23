"""Pure-Python twins of the compiled speedups, with identical behaviour and output."""
