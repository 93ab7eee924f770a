"""Side-by-side benchmarks of telnyx-async, bare aiohttp and the official telnyx SDK.

Run ``python -m benchmarks`` (see ``python -m benchmarks --help``).
"""
