"""Seeded task generators for the tool worlds (tau-bench style).

Every task has a user request (the first user message), a gold action sequence (tool calls that,
replayed on a fresh world built from `db_seed`, give the gold database state), the strings the
agent's replies must contain, and the facts a scripted user reveals when asked. Generation is
deterministic: `generate_tasks(world, n)` always gives the same tasks. The generator only reads
the seeded database (`world_data`); the env computes the gold state by replaying the gold actions
on its world runtime (and rejects a task whose gold actions fail), and the family's tests replay
every generated task's gold actions (they succeed; write tasks change the state).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from agentgym.task import Task, hidden

from .world_data import WORLD_DATA, SeedRows, fmt_money, money

#: how many tasks each world contributes to the default suite (>= 200 in total)
DEFAULT_COUNTS = {"retail": 100, "travel": 60, "files": 60}
DB_SEEDS = 4


class UserFact(BaseModel):
    """Something the scripted user tells when the agent asks about one of the keywords."""

    keywords: list[str]
    text: str


class WorldTask(Task):
    world: str
    db_seed: int = 0
    kind: str = ""
    instruction: str = hidden("")
    gold_actions: list[dict[str, Any]] = hidden(default_factory=list)
    required_outputs: list[str] = hidden(default_factory=list)
    user_facts: list[UserFact] = hidden(default_factory=list)
    ask_first: list[str] = hidden(default_factory=list)


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


Spec = dict[str, Any]
Builder = Callable[[SeedRows, random.Random], Spec | None]


# ---------------------------------------------------------------------- retail
def _retail_identity(w: SeedRows, user: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], list[UserFact], str]:
    """Either email or name+zip identification; returns (gold call, facts, what to ask)."""
    if rng.random() < 0.5:
        return (call("find_user_id_by_email", email=user["email"]),
                [UserFact(keywords=["email"], text=f"My email is {user['email']}.")], "email")
    return (call("find_user_id_by_name_zip", first_name=user["first_name"], last_name=user["last_name"], zip=user["zip"]),
            [UserFact(keywords=["name", "zip"], text=f"I'm {user['first_name']} {user['last_name']}, zip code {user['zip']}.")],
            "name and zip")


def _retail_order(w: SeedRows, rng: random.Random, status: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    orders = w.rows("SELECT * FROM orders WHERE status=? ORDER BY order_id", status)
    if not orders:
        return None
    order = rng.choice(orders)
    user = w.row("SELECT * FROM users WHERE user_id=?", order["user_id"])
    return order, user


def _items(w: SeedRows, order_id: str) -> list[dict[str, Any]]:
    return w.rows("SELECT oi.*, p.name, v.options FROM order_items oi JOIN products p ON p.product_id=oi.product_id "
                  "JOIN variants v ON v.item_id=oi.item_id WHERE order_id=? ORDER BY line", order_id)


def retail_cancel(w: SeedRows, rng: random.Random) -> Spec | None:
    found = _retail_order(w, rng, "pending")
    if not found:
        return None
    order, user = found
    ident, facts, ask = _retail_identity(w, user, rng)
    reason = rng.choice(["no longer needed", "ordered by mistake"])
    total = money(sum(i["price"] for i in _items(w, order["order_id"])))
    why = "I don't need it anymore" if reason == "no longer needed" else "I ordered it by mistake"
    return {
        "prompt": f"Hi, I'd like to cancel my order {order['order_id']}: {why}.",
        "instruction": f"You want order {order['order_id']} cancelled because {why}. You want to know the refund amount.",
        "gold": [ident, call("get_order_details", order_id=order["order_id"]),
                 call("cancel_pending_order", order_id=order["order_id"], reason=reason)],
        "required": [fmt_money(total)], "facts": facts, "ask": [ask],
    }


def retail_address(w: SeedRows, rng: random.Random) -> Spec | None:
    found = _retail_order(w, rng, "pending")
    if not found:
        return None
    order, user = found
    ident, facts, ask = _retail_identity(w, user, rng)
    address = f"{rng.randint(1, 999)} {rng.choice(['Harbor Rd', 'Sunset Blvd', 'Mill St', 'River Ave'])}"
    city = rng.choice(["Austin", "Denver", "Boston", "Tucson"])
    zip_code = str(rng.randint(10000, 99999))
    return {
        "prompt": f"Hello, please ship my order {order['order_id']} to {address}, {city} {zip_code} instead.",
        "instruction": f"You moved; order {order['order_id']} must go to {address}, {city} {zip_code}.",
        "gold": [ident, call("modify_pending_order_address", order_id=order["order_id"], address=address, city=city, zip=zip_code)],
        "required": [], "facts": facts, "ask": [ask],
    }


def retail_return(w: SeedRows, rng: random.Random) -> Spec | None:
    found = _retail_order(w, rng, "delivered")
    if not found:
        return None
    order, user = found
    ident, facts, ask = _retail_identity(w, user, rng)
    items = _items(w, order["order_id"])
    chosen = rng.sample(items, rng.randint(1, len(items)))
    chosen.sort(key=lambda i: i["line"])
    names = " and the ".join(i["name"] for i in chosen)
    total = money(sum(i["price"] for i in chosen))
    return {
        "prompt": f"I want to return the {names} from order {order['order_id']}, refunded to the original payment method.",
        "instruction": f"Return the {names} of order {order['order_id']}; refund to the original payment method; "
                       "you want to know the refund amount.",
        "gold": [ident, call("get_order_details", order_id=order["order_id"]),
                 call("return_delivered_order_items", order_id=order["order_id"], item_ids=[i["item_id"] for i in chosen],
                      payment_method_id=order["payment_method_id"])],
        "required": [fmt_money(total)], "facts": facts, "ask": [ask],
    }


def retail_exchange(w: SeedRows, rng: random.Random) -> Spec | None:
    found = _retail_order(w, rng, "delivered")
    if not found:
        return None
    order, user = found
    ident, facts, ask = _retail_identity(w, user, rng)
    item = rng.choice(_items(w, order["order_id"]))
    options = w.rows("SELECT * FROM variants WHERE product_id=? AND item_id<>? AND available=1 ORDER BY item_id",
                     item["product_id"], item["item_id"])
    if not options:
        return None
    target = rng.choice(options)
    wanted = ", ".join(f"{k} {v}" for k, v in sorted(json.loads(target["options"]).items()))
    difference = money(target["price"] - item["price"])
    method = w.row("SELECT * FROM payment_methods WHERE payment_method_id=?", order["payment_method_id"])
    if method["kind"] == "gift_card" and (method["balance"] or 0) < difference:
        return None
    return {
        "prompt": f"Hi! I'd like to exchange the {item['name']} from order {order['order_id']} for the one with {wanted}. "
                  "Use the order's payment method for any difference.",
        "instruction": f"Exchange the {item['name']} of order {order['order_id']} for the variant with {wanted}; "
                       "you want to know the price difference.",
        "gold": [ident, call("get_order_details", order_id=order["order_id"]),
                 call("get_product_details", product_id=item["product_id"]),
                 call("exchange_delivered_order_items", order_id=order["order_id"], item_ids=[item["item_id"]],
                      new_item_ids=[target["item_id"]], payment_method_id=order["payment_method_id"])],
        "required": [fmt_money(abs(difference))], "facts": facts, "ask": [ask],
    }


def retail_status(w: SeedRows, rng: random.Random) -> Spec | None:
    orders = w.rows("SELECT * FROM orders ORDER BY order_id")
    order = rng.choice(orders)
    user = w.row("SELECT * FROM users WHERE user_id=?", order["user_id"])
    ident, facts, ask = _retail_identity(w, user, rng)
    total = money(sum(i["price"] for i in _items(w, order["order_id"])))
    return {
        "prompt": f"What is the status of my order {order['order_id']}, and what was its total?",
        "instruction": f"You want the status and the total of order {order['order_id']}.",
        "gold": [ident, call("get_order_details", order_id=order["order_id"])],
        "required": [order["status"], fmt_money(total)], "facts": facts, "ask": [ask],
    }


# ---------------------------------------------------------------------- travel
def _travel_user(w: SeedRows, rng: random.Random) -> dict[str, Any]:
    return rng.choice(w.rows("SELECT * FROM users ORDER BY user_id"))


def travel_book(w: SeedRows, rng: random.Random) -> Spec | None:
    user = _travel_user(w, rng)
    routes = w.rows("SELECT DISTINCT origin, destination, date FROM flights ORDER BY origin, destination, date")
    origin, dest, date = (lambda r: (r["origin"], r["destination"], r["date"]))(rng.choice(routes))
    passengers = rng.randint(1, 3)
    flights = [f for f in w.rows("SELECT * FROM flights WHERE origin=? AND destination=? AND date=? ORDER BY price, flight_number",
                                 origin, dest, date) if f["seats"] >= passengers]
    if not flights or (len(flights) > 1 and flights[0]["price"] == flights[1]["price"]):
        return None
    cheapest = flights[0]
    kind = rng.choice(["credit_card", "gift_card"])
    method = w.row("SELECT * FROM payment_methods WHERE user_id=? AND kind=?", user["user_id"], kind)
    total = money(cheapest["price"] * passengers)
    if kind == "gift_card" and method["balance"] < total:
        kind, method = "credit_card", w.row("SELECT * FROM payment_methods WHERE user_id=? AND kind='credit_card'", user["user_id"])
    pay = "my gift card" if kind == "gift_card" else "my credit card"
    return {
        "prompt": f"Hi, I need the cheapest flight from {origin} to {dest} on {date} with free seats for {passengers} "
                  f"passenger(s). Pay with {pay}.",
        "instruction": f"Book the cheapest {origin}->{dest} flight on {date} for {passengers}, paid with {pay}; "
                       "ask for the total.",
        "gold": [call("get_user_details", user_id=user["user_id"]),
                 call("search_flights", origin=origin, destination=dest, date=date),
                 call("book_reservation", user_id=user["user_id"], flight_number=cheapest["flight_number"],
                      passengers=passengers, payment_method_id=method["payment_method_id"])],
        "required": [fmt_money(total)],
        "facts": [UserFact(keywords=["user id", "user_id", "account", "id"], text=f"My user id is {user['user_id']}.")],
        "ask": ["user id"],
    }


def travel_cancel(w: SeedRows, rng: random.Random) -> Spec | None:
    res = rng.choice(w.rows("SELECT * FROM reservations WHERE status='confirmed' ORDER BY reservation_id"))
    paid = w.row("SELECT SUM(amount) AS s FROM payments WHERE reservation_id=?", res["reservation_id"])["s"]
    return {
        "prompt": f"Please cancel my reservation {res['reservation_id']}; my plans changed.",
        "instruction": f"Cancel reservation {res['reservation_id']} and learn the refund amount.",
        "gold": [call("get_reservation", reservation_id=res["reservation_id"]),
                 call("cancel_reservation", reservation_id=res["reservation_id"])],
        "required": [fmt_money(paid)],
        "facts": [UserFact(keywords=["user id", "user_id", "account"], text=f"My user id is {res['user_id']}.")],
        "ask": [],
    }


def travel_change(w: SeedRows, rng: random.Random) -> Spec | None:
    res = rng.choice(w.rows("SELECT * FROM reservations WHERE status='confirmed' ORDER BY reservation_id"))
    flight = w.row("SELECT * FROM flights WHERE flight_number=?", res["flight_number"])
    others = [f for f in w.rows("SELECT * FROM flights WHERE origin=? AND destination=? AND date=? ORDER BY depart_time DESC, flight_number",
                                flight["origin"], flight["destination"], flight["date"])
              if f["flight_number"] != flight["flight_number"] and f["seats"] >= res["passengers"]]
    if not others or (len(others) > 1 and others[0]["depart_time"] == others[1]["depart_time"]):
        return None
    latest = others[0]
    difference = money((latest["price"] - flight["price"]) * res["passengers"])
    method = w.row("SELECT * FROM payment_methods WHERE user_id=? AND kind='credit_card'", res["user_id"])
    return {
        "prompt": f"Can you move my reservation {res['reservation_id']} to the latest other flight on the same route "
                  "and day? Charge or refund the difference on my credit card.",
        "instruction": f"Move reservation {res['reservation_id']} to the latest other flight that day; use your credit card; "
                       "ask for the fare difference.",
        "gold": [call("get_reservation", reservation_id=res["reservation_id"]),
                 call("get_user_details", user_id=res["user_id"]),
                 call("search_flights", origin=flight["origin"], destination=flight["destination"], date=flight["date"]),
                 call("change_reservation_flight", reservation_id=res["reservation_id"],
                      new_flight_number=latest["flight_number"], payment_method_id=method["payment_method_id"])],
        "required": [latest["flight_number"], fmt_money(abs(difference))],
        "facts": [UserFact(keywords=["user id", "user_id", "account"], text=f"My user id is {res['user_id']}.")],
        "ask": [],
    }


def travel_info(w: SeedRows, rng: random.Random) -> Spec | None:
    flight = rng.choice(w.rows("SELECT * FROM flights ORDER BY flight_number"))
    return {
        "prompt": f"When does flight {flight['flight_number']} depart, and how many seats are still free?",
        "instruction": f"You want the departure time and free seats of flight {flight['flight_number']}.",
        "gold": [call("get_flight", flight_number=flight["flight_number"])],
        "required": [flight["depart_time"], f"{flight['seats']}"], "facts": [], "ask": [],
    }


# ---------------------------------------------------------------------- files
def _some_file(w: SeedRows, rng: random.Random) -> dict[str, Any]:
    return rng.choice(w.rows("SELECT * FROM files WHERE is_dir=0 ORDER BY path"))


def files_move(w: SeedRows, rng: random.Random) -> Spec | None:
    f = _some_file(w, rng)
    dirs = [d["path"] for d in w.rows("SELECT path FROM files WHERE is_dir=1 AND path LIKE '/home/user/%' ORDER BY path")]
    target = rng.choice([d for d in dirs if not f["path"].startswith(d + "/")] or dirs)
    name = f["path"].rsplit("/", 1)[1]
    if w.row("SELECT 1 AS x FROM files WHERE path=?", f"{target}/{name}"):
        return None
    return {"prompt": f"Move {f['path']} into the directory {target}.", "instruction": "",
            "gold": [call("move_path", source=f["path"], destination=f"{target}/{name}")], "required": [], "facts": [], "ask": []}


def files_rename(w: SeedRows, rng: random.Random) -> Spec | None:
    f = _some_file(w, rng)
    directory, name = f["path"].rsplit("/", 1)
    stem, ext = name.rsplit(".", 1)
    new = f"{directory}/{stem}_{rng.choice(['old', 'v2', 'backup', 'final'])}.{ext}"
    return {"prompt": f"Rename {f['path']} to {new}.", "instruction": "",
            "gold": [call("move_path", source=f["path"], destination=new)], "required": [], "facts": [], "ask": []}


def files_create(w: SeedRows, rng: random.Random) -> Spec | None:
    directory = rng.choice([d["path"] for d in w.rows("SELECT path FROM files WHERE is_dir=1 AND path<>'/' ORDER BY path")])
    name = f"todo_{rng.randint(1, 99)}.txt"
    if w.row("SELECT 1 AS x FROM files WHERE path=?", f"{directory}/{name}"):
        return None
    content = f"{rng.choice(['buy', 'fix', 'call', 'ship'])} {rng.choice(['milk', 'the build', 'the vendor', 'release'])}\n"
    return {"prompt": f"Create the file {directory}/{name} containing exactly {json.dumps(content)} (JSON string notation).",
            "instruction": "", "gold": [call("write_file", path=f"{directory}/{name}", content=content)],
            "required": [], "facts": [], "ask": []}


def files_delete(w: SeedRows, rng: random.Random) -> Spec | None:
    files = w.rows("SELECT * FROM files WHERE is_dir=0 AND path LIKE '%.log' ORDER BY path")
    if not files:
        return None
    return {"prompt": "Delete every .log file on the system, and tell me how many you deleted.", "instruction": "",
            "gold": [call("find_files", name_contains=".log")] + [call("delete_path", path=f["path"]) for f in files],
            "required": [str(len(files))], "facts": [], "ask": []}


def files_count(w: SeedRows, rng: random.Random) -> Spec | None:
    f = _some_file(w, rng)
    lines = f["content"].count("\n")
    return {"prompt": f"How many lines does {f['path']} have?", "instruction": "",
            "gold": [call("read_file", path=f["path"])], "required": [str(lines)], "facts": [], "ask": []}


def files_copy(w: SeedRows, rng: random.Random) -> Spec | None:
    f = _some_file(w, rng)
    new = "/home/user/archive/" + f["path"].rsplit("/", 1)[1] + ".bak"
    if w.row("SELECT 1 AS x FROM files WHERE path=?", new):
        return None
    return {"prompt": f"Make a copy of {f['path']} at {new}.", "instruction": "",
            "gold": [call("read_file", path=f["path"]), call("write_file", path=new, content=f["content"])],
            "required": [], "facts": [], "ask": []}


BUILDERS: dict[str, list[tuple[str, Builder]]] = {
    "retail": [("cancel", retail_cancel), ("address", retail_address), ("return", retail_return),
               ("exchange", retail_exchange), ("status", retail_status)],
    "travel": [("book", travel_book), ("cancel", travel_cancel), ("change", travel_change), ("info", travel_info)],
    "files": [("move", files_move), ("rename", files_rename), ("create", files_create), ("delete", files_delete),
              ("count", files_count), ("copy", files_copy)],
}
assert set(BUILDERS) == set(WORLD_DATA)


def _build(world: str, index: int, seed: int) -> WorldTask:
    kinds = BUILDERS[world]
    kind, builder = kinds[index % len(kinds)]
    db_seed = index % DB_SEEDS
    template = SeedRows(world, db_seed)
    rng = random.Random(f"{world}:{seed}:{index}")
    try:
        for _attempt in range(50):
            spec = builder(template, rng)
            if spec is not None:
                break
        else:
            raise RuntimeError(f"could not generate task {world}#{index} ({kind})")
    finally:
        template.close()
    task_id = f"{world}-{kind}-{index:03d}" if seed == 0 else f"{world}-{kind}-s{seed}-{index:03d}"
    return WorldTask(
        id=task_id, prompt=spec["prompt"], world=world, db_seed=db_seed, kind=kind, instruction=spec["instruction"] or spec["prompt"],
        gold_actions=spec["gold"], required_outputs=spec["required"], user_facts=spec["facts"], ask_first=spec["ask"],
        metadata={"world": world, "kind": kind},
    )


@lru_cache(maxsize=16)
def _generate(world: str, n: int, seed: int) -> tuple[WorldTask, ...]:
    """A world's tasks, generated once per generator version (cached on disk: `task_cache`)."""
    from .task_cache import cached_tasks

    def build() -> list[WorldTask]:
        return [_build(world, i, seed) for i in range(n)]

    return tuple(cached_tasks(WorldTask, ("world_tasks", world, n, seed), build, expected=n))


def generate_tasks(
    world: str | None = None, n: int | None = None, seed: int = 0, *, shared: bool = False
) -> list[WorldTask]:
    """The task suite: one world's tasks, or every world's (DEFAULT_COUNTS) when `world` is None.

    Each call returns fresh copies the caller may change. `shared=True` returns the process-wide
    cached instances instead, to be read and never changed: that is what the env's task source
    uses, so that 64 envs made in one process do not each deep-copy all 220 tasks (~10 ms of CPU
    per env, which a rollout of concurrent episodes pays on its first resets)."""
    worlds = [world] if world else list(DEFAULT_COUNTS)
    out: list[WorldTask] = []
    for name in worlds:
        if name not in WORLD_DATA:
            raise KeyError(f"unknown world {name!r}; have {', '.join(WORLD_DATA)}")
        cached = _generate(name, n or DEFAULT_COUNTS[name], seed)
        out.extend(cached if shared else (t.model_copy(deep=True) for t in cached))
    return out
