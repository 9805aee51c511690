"""Travel world: flights between cities, users with payment methods, reservations (book, cancel,
change flight)."""

from __future__ import annotations

from typing import Any, ClassVar

from agentgym.errors import ToolError
from agentgym.tasks.tool.world_data import WORLD_DATA
from agentgym.tools import tool

from .base import World, money


class TravelWorld(World):
    name = "travel"
    description = "An airline's reservation desk: search flights, book, cancel and change reservations."
    data = WORLD_DATA["travel"]
    READ_ONLY: ClassVar[frozenset[str]] = frozenset({"get_user_details", "search_flights", "get_flight", "get_reservation"})

    def _pay(self, reservation_id: str, user_id: str, payment_method_id: str, amount: float) -> None:
        method = self.require("SELECT * FROM payment_methods WHERE payment_method_id=? AND user_id=?",
                              payment_method_id, user_id,
                              error=f"payment method {payment_method_id!r} does not belong to user {user_id!r}")
        amount = money(amount)
        if method["kind"] == "gift_card":
            if method["balance"] < amount:
                raise ToolError(f"gift card balance {method['balance']:.2f} is less than {amount:.2f}")
            self.exec("UPDATE payment_methods SET balance=round(balance-?, 2) WHERE payment_method_id=?", amount, payment_method_id)
        self.exec("INSERT INTO payments VALUES (?, ?, ?)", reservation_id, payment_method_id, amount)

    @tool
    def get_user_details(self, user_id: str) -> dict[str, Any]:
        """Get a user's profile, payment methods and reservation ids.

        Args:
            user_id: the user's id, e.g. "alex_moreno_123".
        """
        user = self.require("SELECT * FROM users WHERE user_id=?", user_id, error=f"user {user_id!r} not found")
        user["payment_methods"] = self.rows(
            "SELECT payment_method_id, kind, balance FROM payment_methods WHERE user_id=? ORDER BY payment_method_id", user_id)
        user["reservations"] = [r["reservation_id"] for r in self.rows(
            "SELECT reservation_id FROM reservations WHERE user_id=? ORDER BY reservation_id", user_id)]
        return user

    @tool
    def search_flights(self, origin: str, destination: str, date: str) -> list[dict[str, Any]]:
        """List the flights between two airports on a date, earliest first.

        Args:
            origin: IATA code of the departure airport, e.g. "SFO".
            destination: IATA code of the arrival airport, e.g. "JFK".
            date: the date as YYYY-MM-DD.
        """
        return self.rows("SELECT * FROM flights WHERE origin=? AND destination=? AND date=? ORDER BY depart_time, flight_number",
                         origin.strip().upper(), destination.strip().upper(), date.strip())

    @tool
    def get_flight(self, flight_number: str) -> dict[str, Any]:
        """Get one flight: route, date, departure time, price per passenger and free seats.

        Args:
            flight_number: e.g. "AG123".
        """
        return self.require("SELECT * FROM flights WHERE flight_number=?", flight_number.strip().upper(),
                            error=f"flight {flight_number!r} not found")

    @tool
    def get_reservation(self, reservation_id: str) -> dict[str, Any]:
        """Get a reservation: user, flight, passengers, total paid, status.

        Args:
            reservation_id: e.g. "R1003".
        """
        return self.require("SELECT * FROM reservations WHERE reservation_id=?", reservation_id.strip(),
                            error=f"reservation {reservation_id!r} not found")

    @tool
    def book_reservation(self, user_id: str, flight_number: str, passengers: int, payment_method_id: str) -> str:
        """Book seats on a flight; the total (price x passengers) is paid with the payment method.

        Args:
            user_id: who books.
            flight_number: the flight to book.
            passengers: number of seats, 1 to 9.
            payment_method_id: one of the user's payment methods.
        """
        if not 1 <= passengers <= 9:
            raise ToolError("passengers must be between 1 and 9")
        self.require("SELECT 1 FROM users WHERE user_id=?", user_id, error=f"user {user_id!r} not found")
        flight = self.get_flight.fn(self, flight_number)
        if flight["seats"] < passengers:
            raise ToolError(f"flight {flight['flight_number']} has only {flight['seats']} free seats")
        count = self.row("SELECT COUNT(*) AS n FROM reservations")["n"]
        reservation_id = f"R{2000 + count}"
        total = money(flight["price"] * passengers)
        self._pay(reservation_id, user_id, payment_method_id, total)
        self.exec("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, 'confirmed')", reservation_id, user_id,
                  flight["flight_number"], passengers, total, payment_method_id)
        self.exec("UPDATE flights SET seats = seats - ? WHERE flight_number=?", passengers, flight["flight_number"])
        return f"Booked {reservation_id}: {passengers} seat(s) on {flight['flight_number']}, total {total:.2f}."

    @tool
    def cancel_reservation(self, reservation_id: str) -> str:
        """Cancel a confirmed reservation; everything paid is refunded to the payment methods used.

        Args:
            reservation_id: the reservation to cancel.
        """
        res = self.get_reservation.fn(self, reservation_id)
        if res["status"] != "confirmed":
            raise ToolError(f"reservation {reservation_id} is {res['status']}")
        paid = self.rows("SELECT payment_method_id, SUM(amount) AS amount FROM payments WHERE reservation_id=? "
                         "GROUP BY payment_method_id ORDER BY payment_method_id", res["reservation_id"])
        refund = money(sum(p["amount"] for p in paid))
        for p in paid:
            self.exec("UPDATE payment_methods SET balance=round(balance+?, 2) WHERE payment_method_id=? AND kind='gift_card'",
                      p["amount"], p["payment_method_id"])
            self.exec("INSERT INTO payments VALUES (?, ?, ?)", res["reservation_id"], p["payment_method_id"], -money(p["amount"]))
        self.exec("UPDATE reservations SET status='cancelled' WHERE reservation_id=?", res["reservation_id"])
        self.exec("UPDATE flights SET seats = seats + ? WHERE flight_number=?", res["passengers"], res["flight_number"])
        return f"Reservation {res['reservation_id']} cancelled; refund {refund:.2f}."

    @tool
    def change_reservation_flight(self, reservation_id: str, new_flight_number: str, payment_method_id: str) -> str:
        """Move a reservation to another flight on the same route; the fare difference is paid with
        (or refunded to) the payment method.

        Args:
            reservation_id: the reservation to change.
            new_flight_number: the new flight (same origin and destination).
            payment_method_id: pays or receives the difference.
        """
        res = self.get_reservation.fn(self, reservation_id)
        if res["status"] != "confirmed":
            raise ToolError(f"reservation {reservation_id} is {res['status']}")
        old = self.get_flight.fn(self, res["flight_number"])
        new = self.get_flight.fn(self, new_flight_number)
        if (old["origin"], old["destination"]) != (new["origin"], new["destination"]):
            raise ToolError("the new flight must have the same origin and destination")
        if new["flight_number"] == old["flight_number"]:
            raise ToolError("that is the reservation's current flight")
        if new["seats"] < res["passengers"]:
            raise ToolError(f"flight {new['flight_number']} has only {new['seats']} free seats")
        difference = money((new["price"] - old["price"]) * res["passengers"])
        self._pay(res["reservation_id"], res["user_id"], payment_method_id, difference)
        self.exec("UPDATE reservations SET flight_number=?, total=round(total+?, 2) WHERE reservation_id=?",
                  new["flight_number"], difference, res["reservation_id"])
        self.exec("UPDATE flights SET seats = seats + ? WHERE flight_number=?", res["passengers"], old["flight_number"])
        self.exec("UPDATE flights SET seats = seats - ? WHERE flight_number=?", res["passengers"], new["flight_number"])
        return f"Reservation {res['reservation_id']} moved to {new['flight_number']}; fare difference {difference:.2f}."
