"""Seed data of the tool worlds: each world's SQLite schema and the seeded rows it starts with.

This is task data: the task generator (`worlds.py`) reads a seeded database to write requests and
gold actions, and the env's world runtime (envs/tool/worlds/, the tools acting on the
database) starts every episode from the same rows. `seed_database(world, seed)` always gives the
same rows for the same seed: a world's populate function draws only from the `random.Random` it
is given, seeded with "<world>:<seed>".
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Populate = Callable[[sqlite3.Connection, random.Random], None]


def money(value: float) -> float:
    return round(float(value) + 1e-9, 2)


def fmt_money(value: float) -> str:
    return f"{money(value):.2f}"


# ---------------------------------------------------------------------- retail
RETAIL_FIRST = ["Ava", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
                "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wes", "Yuki"]
RETAIL_LAST = ["Garcia", "Kim", "Novak", "Okafor", "Silva", "Tanaka", "Weber", "Patel", "Rossi", "Larsen", "Haddad",
               "Moreau"]
RETAIL_CITIES = [("Austin", "787"), ("Denver", "802"), ("Boston", "021"), ("Seattle", "981"), ("Phoenix", "850"),
                 ("Chicago", "606"), ("Portland", "972"), ("Atlanta", "303")]
RETAIL_STREETS = ["Oak St", "Maple Ave", "Pine Rd", "Cedar Ln", "Elm Dr", "Birch Way", "Lake Blvd", "Hill Ct"]
RETAIL_PRODUCTS = {
    "T-Shirt": {"color": ["red", "blue", "black", "white"], "size": ["S", "M", "L"]},
    "Running Shoes": {"color": ["grey", "navy", "green"], "size": ["8", "9", "10", "11"]},
    "Backpack": {"color": ["black", "olive", "red"], "capacity": ["20L", "30L"]},
    "Desk Lamp": {"color": ["white", "black"], "power": ["LED", "halogen"]},
    "Water Bottle": {"color": ["steel", "pink", "teal"], "size": ["500ml", "1L"]},
    "Headphones": {"color": ["black", "silver"], "type": ["wired", "wireless"]},
    "Yoga Mat": {"color": ["purple", "blue", "grey"], "thickness": ["4mm", "6mm"]},
    "Coffee Maker": {"capacity": ["4 cups", "8 cups", "12 cups"], "finish": ["matte", "chrome"]},
}
CANCEL_REASONS = ("no longer needed", "ordered by mistake")
RETAIL_SCHEMA = """
CREATE TABLE users (user_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                    address TEXT, city TEXT, zip TEXT);
CREATE TABLE payment_methods (payment_method_id TEXT PRIMARY KEY, user_id TEXT, kind TEXT, balance REAL);
CREATE TABLE products (product_id TEXT PRIMARY KEY, name TEXT);
CREATE TABLE variants (item_id TEXT PRIMARY KEY, product_id TEXT, options TEXT, price REAL, available INTEGER);
CREATE TABLE orders (order_id TEXT PRIMARY KEY, user_id TEXT, status TEXT, address TEXT, city TEXT,
                     zip TEXT, payment_method_id TEXT);
CREATE TABLE order_items (order_id TEXT, line INTEGER, item_id TEXT, product_id TEXT, price REAL, status TEXT,
                          PRIMARY KEY (order_id, line));
CREATE TABLE refunds (order_id TEXT, payment_method_id TEXT, amount REAL, kind TEXT);
CREATE TABLE exchanges (order_id TEXT, item_id TEXT, new_item_id TEXT, price_difference REAL);
"""


def populate_retail(db: sqlite3.Connection, rng: random.Random) -> None:
    variant_ids: dict[str, list[str]] = {}
    for p_index, (product, options) in enumerate(RETAIL_PRODUCTS.items()):
        pid = f"P{100 + p_index}"
        db.execute("INSERT INTO products VALUES (?, ?)", (pid, product))
        base = rng.randint(15, 120)
        keys = list(options)
        combos = [{keys[0]: a, keys[1]: b} for a in options[keys[0]] for b in options[keys[1]]]
        variant_ids[pid] = []
        for combo in combos:
            item_id = str(rng.randint(10**9, 10**10 - 1))
            price = money(base + rng.randint(-5, 25) + rng.choice([0.0, 0.49, 0.99]))
            available = int(rng.random() < 0.8)
            db.execute("INSERT INTO variants VALUES (?, ?, ?, ?, ?)",
                       (item_id, pid, json.dumps(combo, sort_keys=True), price, available))
            variant_ids[pid].append(item_id)
    order_no = 0
    used_names: set[tuple[str, str]] = set()
    for _u in range(24):
        while True:
            first, last = rng.choice(RETAIL_FIRST), rng.choice(RETAIL_LAST)
            if (first, last) not in used_names:
                used_names.add((first, last))
                break
        city, zip_prefix = rng.choice(RETAIL_CITIES)
        zip_code = f"{zip_prefix}{rng.randint(10, 99)}"
        user_id = f"{first.lower()}_{last.lower()}_{rng.randint(1000, 9999)}"
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com"
        address = f"{rng.randint(1, 999)} {rng.choice(RETAIL_STREETS)}"
        db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (user_id, first, last, email, address, city, zip_code))
        methods = [f"credit_card_{rng.randint(1000000, 9999999)}"]
        db.execute("INSERT INTO payment_methods VALUES (?, ?, 'credit_card', NULL)", (methods[0], user_id))
        if rng.random() < 0.6:
            gift = f"gift_card_{rng.randint(1000000, 9999999)}"
            db.execute("INSERT INTO payment_methods VALUES (?, ?, 'gift_card', ?)",
                       (gift, user_id, money(rng.randint(0, 200))))
            methods.append(gift)
        for _ in range(rng.randint(1, 3)):
            order_no += 1
            order_id = f"#W{rng.randint(1000000, 9999999)}"
            status = rng.choice(["pending", "pending", "delivered", "delivered", "delivered", "processed"])
            db.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (order_id, user_id, status, address, city, zip_code, rng.choice(methods)))
            products = rng.sample(sorted(variant_ids), rng.randint(1, 3))
            for line, pid in enumerate(products):
                item_id = rng.choice(variant_ids[pid])
                price = db.execute("SELECT price FROM variants WHERE item_id=?", (item_id,)).fetchone()[0]
                db.execute("INSERT INTO order_items VALUES (?, ?, ?, ?, ?, 'ok')", (order_id, line, item_id, pid, price))


# ---------------------------------------------------------------------- travel
TRAVEL_AIRPORTS = ["SFO", "JFK", "ORD", "SEA", "BOS", "DEN", "ATL", "LAX"]
TRAVEL_NAMES = ["Alex Moreno", "Bea Lindqvist", "Carl Osei", "Dina Petrova", "Emil Sato", "Fay Dubois", "Gia Romano",
                "Hugo Brandt", "Iris Nakamura", "Jon Ayodele", "Kira Holm", "Luis Ortega", "Mia Schultz", "Nils Berg"]
TRAVEL_DATES = ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]
TRAVEL_SCHEMA = """
CREATE TABLE users (user_id TEXT PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE payment_methods (payment_method_id TEXT PRIMARY KEY, user_id TEXT, kind TEXT, balance REAL);
CREATE TABLE flights (flight_number TEXT PRIMARY KEY, origin TEXT, destination TEXT, date TEXT,
                      depart_time TEXT, price REAL, seats INTEGER);
CREATE TABLE reservations (reservation_id TEXT PRIMARY KEY, user_id TEXT, flight_number TEXT,
                           passengers INTEGER, total REAL, payment_method_id TEXT, status TEXT);
CREATE TABLE payments (reservation_id TEXT, payment_method_id TEXT, amount REAL);
"""


def populate_travel(db: sqlite3.Connection, rng: random.Random) -> None:
    numbers: set[str] = set()
    routes = [(a, b) for a in TRAVEL_AIRPORTS for b in TRAVEL_AIRPORTS if a != b]
    for origin, dest in rng.sample(routes, 18):
        for date in TRAVEL_DATES:
            for _ in range(rng.randint(2, 4)):
                while True:
                    number = f"{rng.choice(['AG', 'SK', 'NB'])}{rng.randint(100, 999)}"
                    if number not in numbers:
                        numbers.add(number)
                        break
                hour, minute = rng.randint(5, 22), rng.choice([0, 15, 30, 45])
                db.execute("INSERT INTO flights VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (number, origin, dest, date, f"{hour:02d}:{minute:02d}",
                            money(rng.randint(79, 640) + rng.choice([0, 0.5])), rng.randint(0, 9)))
    flights = [r[0] for r in db.execute("SELECT flight_number FROM flights ORDER BY flight_number")]
    for index, name in enumerate(TRAVEL_NAMES):
        user_id = name.lower().replace(" ", "_") + f"_{rng.randint(100, 999)}"
        db.execute("INSERT INTO users VALUES (?, ?, ?)", (user_id, name, name.lower().replace(" ", ".") + "@example.com"))
        db.execute("INSERT INTO payment_methods VALUES (?, ?, 'credit_card', NULL)",
                   (f"credit_card_{rng.randint(100000, 999999)}", user_id))
        db.execute("INSERT INTO payment_methods VALUES (?, ?, 'gift_card', ?)",
                   (f"gift_card_{rng.randint(100000, 999999)}", user_id, money(rng.randint(200, 1500))))
        for r in range(rng.randint(1, 2)):
            flight = db.execute("SELECT * FROM flights WHERE flight_number=?", (rng.choice(flights),)).fetchone()
            passengers = rng.randint(1, 3)
            pm = db.execute("SELECT payment_method_id FROM payment_methods WHERE user_id=? AND kind='credit_card'",
                            (user_id,)).fetchone()[0]
            rid = f"R{1000 + index * 10 + r}"
            total = money(flight[5] * passengers)
            db.execute("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, 'confirmed')",
                       (rid, user_id, flight[0], passengers, total, pm))
            db.execute("INSERT INTO payments VALUES (?, ?, ?)", (rid, pm, total))


# ---------------------------------------------------------------------- files
FILE_WORDS = ["alpha", "budget", "cache", "delta", "export", "fixture", "gamma", "harbor", "index", "journal",
              "kernel", "ledger", "matrix", "notes", "orbit", "pilot", "quota", "report", "schema", "ticket"]
FILE_DIRS = ["/home/user/docs", "/home/user/projects/app", "/home/user/projects/site", "/home/user/archive",
             "/var/log", "/etc/app"]
FILES_SCHEMA = "CREATE TABLE files (path TEXT PRIMARY KEY, is_dir INTEGER, content TEXT);"


def populate_files(db: sqlite3.Connection, rng: random.Random) -> None:
    dirs = {"/"}
    for d in FILE_DIRS:
        parts = d.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            dirs.add("/" + "/".join(parts[:i]))
    for d in sorted(dirs):
        db.execute("INSERT INTO files VALUES (?, 1, NULL)", (d,))
    used: set[str] = set()
    for d in FILE_DIRS:
        for _ in range(rng.randint(2, 4)):
            while True:
                stem = rng.choice(FILE_WORDS)
                ext = rng.choice([".txt", ".md", ".log", ".cfg"])
                path = f"{d}/{stem}{ext}"
                if path not in used:
                    used.add(path)
                    break
            if ext == ".cfg":
                lines = [f"{rng.choice(FILE_WORDS)}_{i} = {rng.randint(1, 500)}" for i in range(rng.randint(3, 6))]
            else:
                lines = [" ".join(rng.choice(FILE_WORDS) for _ in range(rng.randint(2, 6)))
                         for _ in range(rng.randint(1, 9))]
            db.execute("INSERT INTO files VALUES (?, 0, ?)", (path, "\n".join(lines) + "\n"))


# ---------------------------------------------------------------------- databases
@dataclass(frozen=True)
class WorldData:
    """A world's schema (DDL) and the function inserting its seeded rows."""

    name: str
    schema: str
    populate: Populate

    def rng(self, seed: int) -> random.Random:
        """The random generator the rows of database `seed` are drawn from."""
        return random.Random(f"{self.name}:{int(seed)}")


WORLD_DATA: dict[str, WorldData] = {
    "retail": WorldData("retail", RETAIL_SCHEMA, populate_retail),
    "travel": WorldData("travel", TRAVEL_SCHEMA, populate_travel),
    "files": WorldData("files", FILES_SCHEMA, populate_files),
}
WORLD_NAMES = tuple(WORLD_DATA)

# populated template databases per (world data, seed): rows built once, copied after
_TEMPLATES: dict[tuple[WorldData, int], sqlite3.Connection] = {}


def seed_database(world: str | WorldData, seed: int = 0) -> sqlite3.Connection:
    """A fresh in-memory copy of a world's database `seed` (rows as `sqlite3.Row`, autocommit)."""
    if isinstance(world, str):
        if world not in WORLD_DATA:
            raise KeyError(f"unknown world {world!r}; have {', '.join(WORLD_DATA)}")
        world = WORLD_DATA[world]
    data = world
    key = (data, int(seed))
    template = _TEMPLATES.get(key)
    if template is None:
        template = sqlite3.connect(":memory:", check_same_thread=False)
        template.executescript(data.schema)
        data.populate(template, data.rng(seed))
        template.commit()
        _TEMPLATES[key] = template
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    template.backup(db)
    db.row_factory = sqlite3.Row
    return db


class SeedRows:
    """Read access to a seeded database, for the task generator (`rows`, `row`)."""

    def __init__(self, world: str, seed: int = 0):
        self.world = world
        self.seed = int(seed)
        self.db = seed_database(world, seed)

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, params).fetchall()]

    def row(self, sql: str, *params: Any) -> dict[str, Any] | None:
        found = self.db.execute(sql, params).fetchone()
        return dict(found) if found is not None else None

    def close(self) -> None:
        self.db.close()
