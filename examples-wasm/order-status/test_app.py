"""Plain-Python tests of the handler's logic (no WebAssembly): python3 -m unittest test_app."""

import os
import sys
import types as pytypes
import unittest

# The iohost helper module lives in the guest SDK (the build adds it with -p).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "guest-sdk", "python"))

# The generated bindings exist only inside the component build; stand in for them here so the
# module imports. The logic under test does not call them.
for name in ("componentize_py_types", "wit_world", "wit_world.imports"):
    module = pytypes.ModuleType(name)
    sys.modules[name] = module
sys.modules["componentize_py_types"].Err = Exception
sys.modules["wit_world"].WitWorld = object
for name in ("log", "sockets", "types"):
    setattr(sys.modules["wit_world.imports"], name, pytypes.SimpleNamespace())

import app  # noqa: E402


class OrderStatus(unittest.TestCase):
    def test_friendly_messages(self):
        self.assertEqual(app.friendly({"orderId": 7, "status": "shipped"}), "Good news: order 7 is on its way.")
        self.assertEqual(app.friendly({"orderId": 7, "status": "packed"}), "Order 7 is now packed.")

    def test_malformed_updates_are_refused_with_a_reason(self):
        for update, reason in [
            (None, "is an object"),
            ({"orderId": 1, "status": "paid"}, "`customerId` is missing"),
            ({"orderId": 1, "customerId": "7", "status": "paid"}, "positive integer"),
            ({"orderId": 1, "customerId": True, "status": "paid"}, "positive integer"),
            ({"orderId": 1, "customerId": 7, "status": ""}, "non-empty"),
        ]:
            with self.assertRaises(ValueError) as caught:
                app.check(update)
            self.assertIn(reason, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
