"""Pure conversion (layer 0): sniff a file by its bytes and turn it into PNG pages.

No asyncio, database, Redis, taskiq or settings here: every module is testable with a file
and nothing else. Wand, pyvips and pikepdf are imported only where they are needed.
"""
