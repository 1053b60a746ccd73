"""asyncio runtime: drivers for the sans-I/O cores, and the PoolElement / PoolUser API."""
