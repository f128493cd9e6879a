"""The pure core: models, schedules, specs, plans, status, decisions. No kopf, httpx, aiohttp or
kubernetes imports (tests/unit/test_layers.py checks the whole folder)."""
