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
from iohost_handler import Handler, ack, arguments, payload, registration, reject
from wit_world.imports import log, sockets, types

from messages import MESSAGES, VERSION

senders = ["token:shop", "admin"]


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


class WitWorld(Handler):
    def init(self, config: str) -> types.Registration:
        global senders
        settings = json.loads(config)
        if "senders" in settings:
            if not all(isinstance(s, str) for s in settings["senders"]):
                raise Err("config.senders must be a list of roles")
            senders = settings["senders"]
        return registration(["order:update"])

    def on_event(self, socket: types.SocketInfo, event: types.Event) -> types.EventResult:
        if socket.role not in senders:
            return reject(f"role `{socket.role}` may not send order updates")
        args = arguments(event)
        try:
            update = check(args[0] if args else None)
        except ValueError as reason:
            return reject(str(reason))
        room = f"user-{update['customerId']}"
        status = {"orderId": update["orderId"], "status": update["status"], "message": friendly(update)}
        sockets.emit_to_room(socket.namespace, room, "order:status", payload(status), None)
        log.log(log.Level.DEBUG, f"order {update['orderId']} -> {room} ({VERSION})")
        return ack({"success": True, "room": room, "message": status["message"]})
