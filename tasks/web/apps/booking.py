"""The booking app's world and tasks: hotels by city, and goals naming one booking exactly.

The booking web app and the check of what was booked live in envs/web/apps/booking.py.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

CITIES = ["Lisbon", "Oslo", "Kyoto", "Austin", "Cusco", "Nairobi"]
HOTEL_WORDS = ["Harbor", "Grand", "Garden", "Summit", "River", "Old Town", "Lakeside", "Central"]
ROOM_TYPES = {"single": 1, "double": 2, "family": 4, "suite": 3}
FIRST = ["Maria", "Kenji", "Amara", "Lucas", "Priya", "Ole", "Sofia", "Diego", "Hana", "Tom"]
LAST = ["Silva", "Tanaka", "Okafor", "Berg", "Patel", "Haugen", "Rossi", "Quispe", "Kim", "Walker"]
DATE_MIN = dt.date(2027, 1, 1)
DATE_MAX = dt.date(2027, 6, 30)
SUBGOALS = ["found_hotel", "form_valid", "details_right", "confirmed"]


@dataclass
class Hotel:
    hid: int
    name: str
    city: str
    rooms: dict[str, float]  # room type -> price per night


def build_hotels(seed: int = 99) -> list[Hotel]:
    rng = random.Random(seed)
    hotels = []
    for city in CITIES:
        for word in rng.sample(HOTEL_WORDS, 3):
            types = sorted(rng.sample(list(ROOM_TYPES), rng.randint(2, 4)), key=list(ROOM_TYPES).index)
            rooms = {t: float(rng.randrange(60, 400, 5)) for t in types}
            hotels.append(Hotel(len(hotels) + 1, f"{word} Hotel {city}", city, rooms))
    return hotels


HOTELS = build_hotels()
BY_ID = {h.hid: h for h in HOTELS}


def generate(index: int, seed: int = 0) -> dict[str, Any]:
    """Task `index` of the booking suite: goal, target booking, subgoals and oracle actions."""
    rng = random.Random(f"booking-{seed}-{index}")
    hotel = rng.choice(HOTELS)
    room = rng.choice(list(hotel.rooms))
    guests = rng.randint(1, ROOM_TYPES[room])
    checkin = DATE_MIN + dt.timedelta(days=rng.randrange((DATE_MAX - DATE_MIN).days))
    nights = rng.randint(1, 7)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{first} {last}"
    email = f"{first.lower()}.{last.lower()}@example.com"
    breakfast = rng.random() < 0.5
    target = {"hid": hotel.hid, "room": room, "checkin": checkin.isoformat(), "nights": nights, "guests": guests,
              "name": name, "email": email, "breakfast": breakfast}
    goal = (f"Book a {room} room at the {hotel.name} in {hotel.city} for {guests} guest{'s' if guests > 1 else ''}, "
            f"checking in on {checkin:%B} {checkin.day}, {checkin.year} for {nights} night{'s' if nights > 1 else ''}, "
            f"under the name {name} (email {email}), {'with' if breakfast else 'without'} breakfast.")
    oracle = [f'select("city", "{hotel.city}")', 'click("search")', f'click("book-{hotel.hid}")',
              f'select("room-type", "{room}")', f'fill("checkin", "{checkin.isoformat()}")',
              f'fill("nights", "{nights}")', f'select("guests", "{guests}")', f'fill("guest-name", "{name}")',
              f'fill("guest-email", "{email}")']
    if breakfast:
        oracle.append('click("breakfast")')
    oracle += ['click("continue")', 'click("confirm")']
    return {"goal": goal, "spec": {"target": target}, "subgoals": SUBGOALS, "oracle": oracle,
            "start_path": "/booking/"}
