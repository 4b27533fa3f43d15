"""Order status, an iohost handler in Python (built with componentize-py; see README.md).

A shop backend connected with a Strapi API token (role ``token:<name>``) or a staff user sends
``order:update ({orderId, customerId, status}, ack)``; the customer's sockets (their private room
``user-<customerId>``) get ``order:status {orderId, status, message}`` with a friendly message,
and the sender's ack is ``{success: true, room, message}`` (what the customer was told). Anyone else, or a malformed update, is
refused with a reason.

Private rooms are iohost's: the operator lets this handler emit there, in iohost.toml::

    [handlers.reserved_rooms]
    order-status = ["user-*"]

Sidecar order-status.toml::

    [config]
    senders = ["token:shop", "admin"]
"""

from __future__ import annotations

import json

from componentize_py_types import Err
from wit_world import WitWorld as World
from wit_world.imports import log, sockets, types

from messages import MESSAGES, VERSION

senders = ["token:shop", "admin"]


def payload(*args):
    """Event arguments: JSON text of the argument list, no binary attachments."""
    return types.Payload(json=json.dumps(list(args)), attachments=[])


def friendly(update):
    """The message a customer reads for ``update`` (a dict with orderId and status)."""
    template = MESSAGES.get(update["status"], MESSAGES["*"])
    return template.format(order=update["orderId"], status=update["status"])


def check(update):
    """The update if it is well formed, else raises ValueError with the reason."""
    if not isinstance(update, dict):
        raise ValueError("an order update is an object {orderId, customerId, status}")
    for key in ("orderId", "customerId", "status"):
        if key not in update:
            raise ValueError(f"`{key}` is missing")
    customer = update["customerId"]
    if isinstance(customer, bool) or not isinstance(customer, int) or customer < 1:
        raise ValueError("`customerId` must be a Strapi user id (a positive integer)")
    if not isinstance(update["status"], str) or not update["status"]:
        raise ValueError("`status` must be a non-empty string")
    return update


class WitWorld(World):
    def init(self, config: str) -> types.Registration:
        global senders
        settings = json.loads(config)
        if "senders" in settings:
            if not all(isinstance(s, str) for s in settings["senders"]):
                raise Err("config.senders must be a list of roles")
            senders = settings["senders"]
        return types.Registration(
            events=["order:update"],
            namespaces=[],
            priority=0,
            on_connect=False,
            on_disconnect=False,
            tick_ms=None,
        )

    def on_event(self, socket: types.SocketInfo, event: types.Event) -> types.EventResult:
        if socket.role not in senders:
            return types.EventResult_Reject(f"role `{socket.role}` may not send order updates")
        args = json.loads(event.args.json)
        try:
            update = check(args[0] if args else None)
        except ValueError as reason:
            return types.EventResult_Reject(str(reason))
        room = f"user-{update['customerId']}"
        status = {"orderId": update["orderId"], "status": update["status"], "message": friendly(update)}
        sockets.emit_to_room(socket.namespace, room, "order:status", payload(status), None)
        log.log(log.Level.DEBUG, f"order {update['orderId']} -> {room} ({VERSION})")
        return types.EventResult_Handled(payload({"success": True, "room": room, "message": status["message"]}))

    def on_connect(self, socket: types.SocketInfo) -> types.ConnectResult:
        return types.ConnectResult_Accept()

    def on_disconnect(self, socket: types.SocketInfo, reason: str) -> None:
        pass

    def on_tick(self) -> None:
        pass
