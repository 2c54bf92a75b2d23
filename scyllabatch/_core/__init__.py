"""The sans-I/O core: validation, planning, retry decisions and the engine generator.

Nothing in this package performs I/O, sleeps, or imports asyncio or the driver's I/O modules; the
facades (:mod:`scyllabatch.store`, :mod:`scyllabatch.aio`) drive it.
"""
