"""Churn: apps created and deleted while a client reads the controller, as on a busy production cluster.

`FaultInjector` calls `churn_once` at the rate of the `churn_per_second` fault, between requests, with its own
seeded `random.Random`, so a seed gives a repeatable sequence of changes for a given sequence of requests.
"""
from __future__ import annotations

import random

from sandbox.deis.state import ControllerState, now_utc


def churn_once(state: ControllerState, rng: random.Random) -> str:
    """One change: delete a random app (half of the time, when there is one), else create one; says which."""
    if state.app_index.ids and rng.random() < 0.5:
        app_id = rng.choice(state.app_index.ids)
        state.remove_app(state.apps[app_id])
        return f"deleted {app_id}"
    app_id = f"churn-{rng.getrandbits(32):08x}"
    if app_id in state.apps:
        return "nothing"
    state.create_app(app_id, rng.choice(sorted(state.users)), now_utc())
    return f"created {app_id}"
