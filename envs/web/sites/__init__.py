"""The built-in web sites: small, realistic apps written with the Python standard library only.

Why stdlib only: the same code runs as a local process (runtime "local") and inside the
agentgym/web-sites image (runtime "docker"), which has python3 and nothing else. Each site keeps
its state in an in-memory SQLite database restored from a seeded template in milliseconds, and
exposes token-protected admin endpoints (/__reset, /__state) that only the env can call.
"""

BUILTIN_SITES = ("shop", "tracker", "admin", "booking", "widgets")
