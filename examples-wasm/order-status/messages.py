"""What customers read, per order status (`*`: any other status)."""

VERSION = "v1"

MESSAGES = {
    "paid": "Thanks! We received your payment for order {order}.",
    "shipped": "Good news: order {order} is on its way.",
    "delivered": "Order {order} was delivered. Enjoy!",
    "cancelled": "Order {order} was cancelled.",
    "*": "Order {order} is now {status}.",
}
