"""A hotel booking app: search by city, a booking form with server-side validation, review, confirm.

The hotels and the goals are task data (`agentgym.tasks.web.apps.booking`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from agentgym.tasks.web.apps.booking import BY_ID, CITIES, DATE_MAX, DATE_MIN, HOTELS, ROOM_TYPES, Hotel

from .server import App, Request, Response, aid, esc, page, redirect

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


@dataclass
class Booking:
    hid: int
    room: str
    checkin: str
    nights: int
    guests: int
    name: str
    email: str
    breakfast: bool
    confirmed: bool = False
    code: str = ""


@dataclass
class BookingState:
    drafts: list[Booking] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    hotel_views: list[int] = field(default_factory=list)
    validation_errors: int = 0


class BookingApp(App):
    prefix = "/booking"

    def __init__(self) -> None:
        super().__init__()
        self.state = BookingState()
        self.route("GET", "/?", self.home)
        self.route("GET", "/hotels", self.hotels)
        self.route("GET", r"/hotel/(\d+)", self.hotel_form)
        self.route("POST", r"/hotel/(\d+)", self.submit_form)
        self.route("GET", r"/review/(\d+)", self.review)
        self.route("POST", r"/review/(\d+)", self.confirm)
        self.route("GET", r"/done/(\d+)", self.done)

    def nav(self) -> str:
        return f'<a href="/booking/" {aid("nav-home")}>Find hotels</a>'

    def home(self, request: Request) -> Response:
        cities = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in CITIES)
        body = (f"<h1>Find a hotel</h1><form action='/booking/hotels' method='get'>"
                f'<label>City <select name="city" {aid("city")}><option value="">Choose a city</option>{cities}'
                f"</select></label><button type='submit' {aid('search')}>Search</button></form>")
        return Response(page("Booking", body, self.nav()))

    def hotels(self, request: Request) -> Response:
        city = request.get("city")
        if city not in CITIES:
            body = '<h1>Find a hotel</h1><p class="error" role="alert">Please choose a city.</p>'
            body += f'<a href="/booking/" {aid("back")}>Back</a>'
            return Response(page("Booking - hotels", body, self.nav()))
        rows = ""
        for hotel in HOTELS:
            if hotel.city != city:
                continue
            rooms = ", ".join(f"{t} ${p:.0f}/night" for t, p in hotel.rooms.items())
            rows += (f'<div class="item"><strong>{esc(hotel.name)}</strong> <span>{esc(rooms)}</span> '
                     f'<a href="/booking/hotel/{hotel.hid}" {aid(f"book-{hotel.hid}")}>Book {esc(hotel.name)}</a></div>')
        return Response(page("Booking - hotels", f"<h1>Hotels in {esc(city)}</h1>{rows}", self.nav()))

    def _form(self, hotel: Hotel, values: dict[str, str], errors: list[str]) -> str:
        rooms = "".join(f'<option value="{t}"{" selected" if values.get("room") == t else ""}>{t} (${p:.0f}/night, '
                        f"up to {ROOM_TYPES[t]} guests)</option>" for t, p in hotel.rooms.items())
        guests = "".join(f'<option value="{n}"{" selected" if values.get("guests") == str(n) else ""}>{n}</option>'
                         for n in range(1, 7))
        error = ""
        if errors:
            error = '<div class="error" role="alert">Please fix: ' + "; ".join(esc(e) for e in errors) + "</div>"
        checked = " checked" if values.get("breakfast") else ""
        return (f"<h1>Book {esc(hotel.name)}</h1>{error}<form method='post' action='/booking/hotel/{hotel.hid}'>"
                f'<label>Room type <select name="room" {aid("room-type")}><option value="">Choose a room</option>'
                f"{rooms}</select></label>"
                f'<label>Check-in date (YYYY-MM-DD) <input name="checkin" value="{esc(values.get("checkin", ""))}" '
                f'{aid("checkin")}></label>'
                f'<label>Nights <input name="nights" value="{esc(values.get("nights", "1"))}" {aid("nights")}></label>'
                f'<label>Guests <select name="guests" {aid("guests")}>{guests}</select></label>'
                f'<label>Guest name <input name="name" value="{esc(values.get("name", ""))}" {aid("guest-name")}></label>'
                f'<label>Email <input name="email" value="{esc(values.get("email", ""))}" {aid("guest-email")}></label>'
                f'<label><input type="checkbox" name="breakfast" value="yes"{checked} {aid("breakfast")}> '
                f"Add breakfast ($15 per guest per night)</label>"
                f'<button type="submit" {aid("continue")}>Continue</button></form>')

    def hotel_form(self, request: Request, hid: str) -> Response:
        hotel = BY_ID.get(int(hid))
        if hotel is None:
            return Response(page("Not found", "<h1>No such hotel</h1>", self.nav()), status=404)
        self.state.hotel_views.append(hotel.hid)
        return Response(page(f"Booking - {hotel.name}", self._form(hotel, {}, []), self.nav()))

    def submit_form(self, request: Request, hid: str) -> Response:
        hotel = BY_ID.get(int(hid))
        if hotel is None:
            return Response(page("Not found", "<h1>No such hotel</h1>", self.nav()), status=404)
        values = {k: request.get(k).strip() for k in ("room", "checkin", "nights", "guests", "name", "email", "breakfast")}
        errors = []
        if values["room"] not in hotel.rooms:
            errors.append("choose a room type")
        try:
            checkin = dt.date.fromisoformat(values["checkin"])
            if not DATE_MIN <= checkin <= DATE_MAX:
                errors.append(f"check-in must be between {DATE_MIN} and {DATE_MAX}")
        except ValueError:
            errors.append("check-in must be a date like 2027-03-14")
        nights = int(values["nights"]) if values["nights"].isdigit() else 0
        if not 1 <= nights <= 14:
            errors.append("nights must be a whole number from 1 to 14")
        guests = int(values["guests"]) if values["guests"].isdigit() else 0
        if values["room"] in ROOM_TYPES and guests > ROOM_TYPES[values["room"]]:
            errors.append(f"a {values['room']} room sleeps at most {ROOM_TYPES[values['room']]} guests")
        if len(values["name"]) < 2:
            errors.append("enter the guest name")
        if not EMAIL.match(values["email"]):
            errors.append("enter a valid email address")
        if errors:
            self.state.validation_errors += 1
            return Response(page(f"Booking - {hotel.name}", self._form(hotel, values, errors), self.nav()))
        draft = Booking(hotel.hid, values["room"], values["checkin"], nights, guests, values["name"], values["email"],
                        values["breakfast"] == "yes")
        self.state.drafts.append(draft)
        return redirect(f"/booking/review/{len(self.state.drafts) - 1}")

    def review(self, request: Request, index: str) -> Response:
        i = int(index)
        if not 0 <= i < len(self.state.drafts):
            return Response(page("Not found", "<h1>No such booking</h1>", self.nav()), status=404)
        b = self.state.drafts[i]
        hotel = BY_ID[b.hid]
        total = hotel.rooms[b.room] * b.nights + (15 * b.guests * b.nights if b.breakfast else 0)
        body = (f"<h1>Review your booking</h1><ul><li>Hotel: {esc(hotel.name)}</li><li>Room: {b.room}</li>"
                f"<li>Check-in: {b.checkin}</li><li>Nights: {b.nights}</li><li>Guests: {b.guests}</li>"
                f"<li>Name: {esc(b.name)}</li><li>Email: {esc(b.email)}</li>"
                f"<li>Breakfast: {'yes' if b.breakfast else 'no'}</li><li>Total: ${total:.2f}</li></ul>"
                f"<form method='post' action='/booking/review/{i}'><button type='submit' {aid('confirm')}>"
                f"Confirm booking</button></form>"
                f'<a href="/booking/hotel/{hotel.hid}" {aid("edit")}>Edit</a>')
        return Response(page("Booking - review", body, self.nav()))

    def confirm(self, request: Request, index: str) -> Response:
        i = int(index)
        if not 0 <= i < len(self.state.drafts):
            return Response(page("Not found", "<h1>No such booking</h1>", self.nav()), status=404)
        draft = self.state.drafts[i]
        if not draft.confirmed:
            draft.confirmed = True
            draft.code = f"BK{1000 + len(self.state.bookings)}"
            self.state.bookings.append(draft)
        return redirect(f"/booking/done/{i}")

    def done(self, request: Request, index: str) -> Response:
        b = self.state.drafts[int(index)]
        body = f"<h1>Booking confirmed</h1><p>Your confirmation code is {b.code}.</p>"
        return Response(page("Booking - confirmed", body, self.nav()))


# ---------------------------------------------------------------------- grading
def _matches(b: Booking, t: dict[str, Any]) -> bool:
    return (b.hid == t["hid"] and b.room == t["room"] and b.checkin == t["checkin"] and b.nights == t["nights"]
            and b.guests == t["guests"] and b.name.strip().lower() == t["name"].lower()
            and b.email.strip().lower() == t["email"].lower() and b.breakfast == t["breakfast"])


def check(app: BookingApp, spec: dict[str, Any]) -> tuple[bool, float, set[str], dict[str, Any]]:
    t = spec["target"]
    state = app.state
    reached: set[str] = set()
    if t["hid"] in state.hotel_views:
        reached.add("found_hotel")
    if any(d.hid == t["hid"] for d in state.drafts):
        reached.add("form_valid")
    if any(_matches(d, t) for d in state.drafts):
        reached.add("details_right")
    success = any(_matches(b, t) for b in state.bookings)
    if success:
        reached.add("confirmed")
    # the episode ends at the first confirmed booking; a wrong booking scores 0
    return bool(state.bookings), 1.0 if success else 0.0, reached, {
        "validation_errors": float(state.validation_errors)}
