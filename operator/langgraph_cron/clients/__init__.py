"""Clients of remote systems: the Agent Server (httpx on aiohttp), Kubernetes (aiohttp), Events, metrics."""
