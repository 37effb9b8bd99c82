"""Schedulers: the event-driven engine (simpy) and its timeline.

The analytical engine is the per-op sum in :mod:`codesign.simulation`; ``engine="event"`` runs
:func:`run_event_schedule` under an :class:`EventPolicy`.
"""

from codesign.schedule.event import (  # noqa: F401
    ISSUE_ORDERS,
    POLICY_KEYS,
    TILE_POLICIES,
    EventPolicy,
    EventSimulation,
    FluidShare,
    parse_policy,
    run_event_schedule,
)
from codesign.schedule.timeline import Span, TileSpan, Timeline  # noqa: F401

__all__ = ["EventPolicy", "EventSimulation", "FluidShare", "ISSUE_ORDERS", "POLICY_KEYS",
           "Span", "TILE_POLICIES", "TileSpan", "Timeline", "parse_policy", "run_event_schedule"]
