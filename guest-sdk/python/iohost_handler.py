"""Helpers for iohost handlers written in Python (componentize-py).

Subclass :class:`Handler` as your app's ``WitWorld`` and write only what you need (``init``
and ``on_event`` at least): the other exports of the ``iohost:handler`` world answer as a
handler that does nothing would. The builders make payloads and answers in one call::

    from iohost_handler import Handler, ack, reject, registration

    class WitWorld(Handler):
        def init(self, config):
            return registration(["ping"])

        def on_event(self, socket, event):
            return ack({"pong": True})

Build with ``-p <this folder>`` so the module is found
(``iohost handlers new --lang python`` puts a copy beside ``app.py``).
"""

from __future__ import annotations

import json

from wit_world import WitWorld as World
from wit_world.imports import types


def payload(*args):
    """Event or ack arguments: JSON text of the argument list, no binary attachments."""
    return types.Payload(json=json.dumps(list(args)), attachments=[])


def arguments(event):
    """The event's arguments, decoded from JSON."""
    return json.loads(event.args.json)


def registration(events, namespaces=(), priority=0, on_connect=False, on_disconnect=False, tick_ms=None):
    """What ``init`` returns: the events to receive, and the rest with defaults."""
    return types.Registration(
        events=list(events), namespaces=list(namespaces), priority=priority,
        on_connect=on_connect, on_disconnect=on_disconnect, tick_ms=tick_ms,
    )


def ack(*args):
    """Handled: the client's ack callback receives ``args``."""
    return types.EventResult_Handled(payload(*args))


def done():
    """Handled, nothing to ack."""
    return types.EventResult_Handled(None)


def reject(reason):
    """Refused: the client reads ``{success: false, error: reason}``."""
    return types.EventResult_Reject(reason)


def pass_on():
    """Not this handler's: the next handler (then the built-in events) get it."""
    return types.EventResult_Pass()


class Handler(World):
    """Every export of the world, doing nothing; override what you need."""

    def init(self, config: str) -> types.Registration:
        return registration([])

    def on_event(self, socket: types.SocketInfo, event: types.Event) -> types.EventResult:
        return pass_on()

    def on_connect(self, socket: types.SocketInfo) -> types.ConnectResult:
        return types.ConnectResult_Accept()

    def on_disconnect(self, socket: types.SocketInfo, reason: str) -> None:
        pass

    def on_tick(self) -> None:
        pass
