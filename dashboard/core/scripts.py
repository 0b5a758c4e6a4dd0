"""The one registry of the dashboard's Lua scripts.

Each area declares its scripts once at import (``ADD = scripts.register("staging.add", SOURCE)``)
and calls them with whichever client it holds: ``ADD(client, keys=[...], args=[...])``. A script
runs by its SHA1 and is loaded into the server the first time that server does not know it (after
a restart or a ``SCRIPT FLUSH``), so no per-client or per-process cache is needed and a pipeline or
a second server works the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError


class LuaScript:
    """A named Lua script, called as ``script(client, keys=..., args=...)``."""

    def __init__(self, name: str, source: str):
        self.name = name
        self.source = source
        self.script = source  # the attribute a redis-py pipeline loads missing scripts from
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: redis.Redis, keys: Sequence = (), args: Sequence = ()):
        if isinstance(client, Pipeline):
            client.scripts.add(self)  # the pipeline loads it, if missing, before it executes
            return client.evalsha(self.sha, len(keys), *keys, *args)
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    def __repr__(self) -> str:
        return f"<LuaScript {self.name} {self.sha[:8]}>"


_REGISTRY: dict[str, LuaScript] = {}


def register(name: str, source: str) -> LuaScript:
    """Declare the script ``name``; declaring the same name with other source is a programming error."""
    known = _REGISTRY.get(name)
    if known is not None:
        if known.source != source:
            raise ValueError(f"Lua script {name!r} is already registered with other source")
        return known
    script = _REGISTRY[name] = LuaScript(name, source)
    return script


def registered() -> dict[str, LuaScript]:
    """Every declared script by name (for tests and for loading them all at start-up)."""
    return dict(_REGISTRY)
