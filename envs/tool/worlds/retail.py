"""Retail world: users, payment methods, products with variants, orders; cancellations, address
changes, returns and exchanges (after tau-bench's retail domain, written from scratch)."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from agentgym.errors import ToolError
from agentgym.tasks.tool.world_data import WORLD_DATA
from agentgym.tools import tool

from .base import World, money


class RetailWorld(World):
    name = "retail"
    description = "An online shop's customer-service back office: orders, returns, exchanges."
    data = WORLD_DATA["retail"]
    READ_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details", "get_order_details",
         "get_product_details"}
    )

    # ------------------------------------------------------------------ lookups
    def _order(self, order_id: str) -> dict[str, Any]:
        return self.require("SELECT * FROM orders WHERE order_id = ?", order_id, error=f"order {order_id!r} not found")

    def _user_owns_method(self, user_id: str, payment_method_id: str) -> dict[str, Any]:
        return self.require(
            "SELECT * FROM payment_methods WHERE payment_method_id = ? AND user_id = ?", payment_method_id, user_id,
            error=f"payment method {payment_method_id!r} does not belong to the order's user",
        )

    @tool
    def find_user_id_by_email(self, email: str) -> str:
        """Find a user's id from their email address.

        Args:
            email: the user's email, e.g. "ava.kim7@example.com".
        """
        found = self.require("SELECT user_id FROM users WHERE lower(email) = lower(?)", email.strip(),
                             error=f"no user with email {email!r}")
        return found["user_id"]

    @tool
    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        """Find a user's id from their first name, last name and zip code.

        Args:
            first_name: the user's first name.
            last_name: the user's last name.
            zip: the user's zip code, e.g. "78712".
        """
        found = self.require(
            "SELECT user_id FROM users WHERE lower(first_name)=lower(?) AND lower(last_name)=lower(?) AND zip=?",
            first_name.strip(), last_name.strip(), zip.strip(), error="no user with that name and zip code",
        )
        return found["user_id"]

    @tool
    def get_user_details(self, user_id: str) -> dict[str, Any]:
        """Get a user's profile: name, address, payment methods and order ids.

        Args:
            user_id: the user's id, e.g. "ava_kim_1234".
        """
        user = self.require("SELECT * FROM users WHERE user_id = ?", user_id, error=f"user {user_id!r} not found")
        user["payment_methods"] = self.rows(
            "SELECT payment_method_id, kind, balance FROM payment_methods WHERE user_id=? ORDER BY payment_method_id",
            user_id)
        user["orders"] = [r["order_id"] for r in self.rows("SELECT order_id FROM orders WHERE user_id=? ORDER BY order_id", user_id)]
        return user

    @tool
    def get_order_details(self, order_id: str) -> dict[str, Any]:
        """Get an order: status, address, payment method and items (item ids, product, options, price).

        Args:
            order_id: the order id, starting with '#', e.g. "#W1234567".
        """
        order = self._order(order_id)
        order["items"] = self.rows(
            "SELECT oi.item_id, oi.product_id, p.name AS product, v.options, oi.price, oi.status FROM order_items oi "
            "JOIN products p ON p.product_id = oi.product_id JOIN variants v ON v.item_id = oi.item_id "
            "WHERE oi.order_id = ? ORDER BY oi.line", order_id)
        for item in order["items"]:
            item["options"] = json.loads(item["options"])
        order["total"] = money(sum(i["price"] for i in order["items"]))
        return order

    @tool
    def get_product_details(self, product_id: str) -> dict[str, Any]:
        """Get a product's variants: item id, options, price and availability.

        Args:
            product_id: the product id, e.g. "P101".
        """
        product = self.require("SELECT * FROM products WHERE product_id=?", product_id,
                               error=f"product {product_id!r} not found")
        product["variants"] = [
            {**v, "options": json.loads(v["options"]), "available": bool(v["available"])}
            for v in self.rows("SELECT item_id, options, price, available FROM variants WHERE product_id=? "
                               "ORDER BY item_id", product_id)
        ]
        return product

    # ------------------------------------------------------------------ writes
    @tool
    def cancel_pending_order(self, order_id: str, reason: Literal["no longer needed", "ordered by mistake"]) -> str:
        """Cancel a pending order; the full amount is refunded to the order's payment method.

        Args:
            order_id: the order id, e.g. "#W1234567".
            reason: why the user cancels.
        """
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError(f"order {order_id} is {order['status']}; only pending orders can be cancelled")
        total = money(sum(r["price"] for r in self.rows("SELECT price FROM order_items WHERE order_id=?", order_id)))
        self.exec("UPDATE orders SET status='cancelled' WHERE order_id=?", order_id)
        self.exec("INSERT INTO refunds VALUES (?, ?, ?, ?)", order_id, order["payment_method_id"], total, f"cancel: {reason}")
        self._credit(order["payment_method_id"], total)
        return f"Order {order_id} cancelled. Refund of {total:.2f} to {order['payment_method_id']}."

    @tool
    def modify_pending_order_address(self, order_id: str, address: str, city: str, zip: str) -> str:
        """Change the shipping address of a pending order.

        Args:
            order_id: the order id.
            address: street address, e.g. "12 Oak St".
            city: city name.
            zip: zip code.
        """
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError(f"order {order_id} is {order['status']}; only pending orders can be modified")
        self.exec("UPDATE orders SET address=?, city=?, zip=? WHERE order_id=?", address.strip(), city.strip(), zip.strip(), order_id)
        return f"Shipping address of {order_id} changed to {address}, {city} {zip}."

    def _delivered_items(self, order_id: str, item_ids: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError(f"order {order_id} is {order['status']}; only delivered orders allow returns and exchanges")
        if not item_ids:
            raise ToolError("item_ids must not be empty")
        lines = self.rows("SELECT * FROM order_items WHERE order_id=? AND status='ok' ORDER BY line", order_id)
        chosen: list[dict[str, Any]] = []
        for item_id in item_ids:
            match = next((line for line in lines if line["item_id"] == item_id and line not in chosen), None)
            if match is None:
                raise ToolError(f"item {item_id!r} is not an open item of order {order_id}")
            chosen.append(match)
        return order, chosen

    def _credit(self, payment_method_id: str, amount: float) -> None:
        self.exec("UPDATE payment_methods SET balance = round(balance + ?, 2) WHERE payment_method_id=? AND kind='gift_card'",
                  amount, payment_method_id)

    @tool
    def return_delivered_order_items(self, order_id: str, item_ids: list[str], payment_method_id: str) -> str:
        """Return items of a delivered order; the refund goes to the given payment method (the
        order's original one, or a gift card of the same user).

        Args:
            order_id: the order id.
            item_ids: the item ids to return (from get_order_details).
            payment_method_id: where the refund goes.
        """
        order, lines = self._delivered_items(order_id, item_ids)
        method = self._user_owns_method(order["user_id"], payment_method_id)
        if payment_method_id != order["payment_method_id"] and method["kind"] != "gift_card":
            raise ToolError("refunds go to the original payment method or to a gift card")
        total = money(sum(line["price"] for line in lines))
        for line in lines:
            self.exec("UPDATE order_items SET status='return requested' WHERE order_id=? AND line=?", order_id, line["line"])
        self.exec("UPDATE orders SET status='return requested' WHERE order_id=?", order_id)
        self.exec("INSERT INTO refunds VALUES (?, ?, ?, 'return')", order_id, payment_method_id, total)
        self._credit(payment_method_id, total)
        return f"Return requested for {len(lines)} item(s) of {order_id}. Refund of {total:.2f} to {payment_method_id}."

    @tool
    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> str:
        """Exchange items of a delivered order for other available variants of the same products; the
        price difference is charged (or refunded) on the given payment method.

        Args:
            order_id: the order id.
            item_ids: the item ids to exchange.
            new_item_ids: the new item ids, in the same order (same product, another variant).
            payment_method_id: pays or receives the price difference.
        """
        if len(item_ids) != len(new_item_ids):
            raise ToolError("item_ids and new_item_ids must have the same length")
        order, lines = self._delivered_items(order_id, item_ids)
        method = self._user_owns_method(order["user_id"], payment_method_id)
        difference = 0.0
        for line, new_id in zip(lines, new_item_ids, strict=True):
            new = self.require("SELECT * FROM variants WHERE item_id=?", new_id, error=f"item {new_id!r} not found")
            if new["product_id"] != line["product_id"]:
                raise ToolError(f"item {new_id} is not a variant of the same product as {line['item_id']}")
            if not new["available"]:
                raise ToolError(f"item {new_id} is not available")
            if new_id == line["item_id"]:
                raise ToolError(f"item {new_id} is the same variant")
            difference += new["price"] - line["price"]
        difference = money(difference)
        if method["kind"] == "gift_card" and (method["balance"] or 0) < difference:
            raise ToolError("insufficient gift card balance for the price difference")
        for line, new_id in zip(lines, new_item_ids, strict=True):
            self.exec("UPDATE order_items SET status='exchange requested' WHERE order_id=? AND line=?", order_id, line["line"])
            self.exec("INSERT INTO exchanges VALUES (?, ?, ?, ?)", order_id, line["item_id"], new_id,
                      money(self.row("SELECT price FROM variants WHERE item_id=?", new_id)["price"] - line["price"]))
        self.exec("UPDATE orders SET status='exchange requested' WHERE order_id=?", order_id)
        if method["kind"] == "gift_card":
            self._credit(payment_method_id, -difference)
        return (f"Exchange requested for {len(lines)} item(s) of {order_id}. Price difference {difference:.2f} "
                f"({'charged to' if difference >= 0 else 'refunded to'} {payment_method_id}).")
