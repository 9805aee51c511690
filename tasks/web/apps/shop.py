"""The shop's world and tasks: the product catalog, its search, and WebShop-style goals.

A goal names a product type, attributes, options and a price limit; its oracle searches,
opens a product that fully matches (`full_match`), picks the options and checks out. The shop
web app and the WebShop score of what was bought live in envs/web/apps/shop.py.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

CATEGORIES: dict[str, dict[str, Any]] = {
    "t-shirt": {"attrs": ["cotton", "organic", "slim fit", "v-neck", "long sleeve", "moisture wicking"],
                "options": {"color": ["black", "white", "navy", "red", "green", "grey"],
                            "size": ["XS", "S", "M", "L", "XL"]}, "price": (8, 40)},
    "running shoes": {"attrs": ["waterproof", "lightweight", "breathable", "wide fit", "trail", "cushioned"],
                      "options": {"color": ["black", "blue", "white", "orange"],
                                  "size": ["7", "8", "9", "10", "11", "12"]}, "price": (40, 160)},
    "headphones": {"attrs": ["wireless", "noise cancelling", "over-ear", "in-ear", "foldable", "long battery"],
                   "options": {"color": ["black", "white", "silver", "blue"]}, "price": (15, 300)},
    "coffee maker": {"attrs": ["programmable", "stainless steel", "thermal carafe", "single serve", "12 cup",
                               "auto shutoff"], "options": {"color": ["black", "silver", "red"]}, "price": (20, 200)},
    "backpack": {"attrs": ["waterproof", "laptop sleeve", "anti-theft", "usb charging", "lightweight", "hiking"],
                 "options": {"color": ["black", "grey", "green", "navy"], "capacity": ["20L", "30L", "40L"]},
                 "price": (20, 120)},
    "desk lamp": {"attrs": ["led", "dimmable", "usb port", "clamp", "touch control", "eye care"],
                  "options": {"color": ["black", "white", "gold"]}, "price": (10, 80)},
}
BRANDS = ["Acme", "Northwind", "Zephyr", "Orbit", "Maple", "Vertex", "Lumen", "Harbor", "Kestrel", "Nimbus"]
PER_CATEGORY = 20
PAGE_SIZE = 10
CUSTOMER = {"name": "Alex Morgan", "address": "12 Harbor Road, Springfield"}
SUBGOALS = ["searched", "viewed_match", "added_match", "checkout", "ordered"]


@dataclass
class Product:
    pid: int
    name: str
    category: str
    attributes: list[str]
    options: dict[str, list[str]]
    price: float
    rating: float
    description: str


def build_catalog(seed: int = 1234) -> list[Product]:
    rng = random.Random(seed)
    products: list[Product] = []
    for category, spec in CATEGORIES.items():
        for _ in range(PER_CATEGORY):
            attrs = sorted(rng.sample(spec["attrs"], rng.randint(2, 4)))
            options = {dim: sorted(rng.sample(values, rng.randint(2, min(4, len(values)))), key=values.index)
                       for dim, values in spec["options"].items()}
            low, high = spec["price"]
            price = round(rng.uniform(low, high), 2)
            brand = rng.choice(BRANDS)
            name = f"{brand} {' '.join(a.title() for a in attrs[:2])} {category.title()}"
            description = f"A {', '.join(attrs)} {category} by {brand}."
            products.append(Product(len(products) + 1, name, category, attrs, options, price,
                                    round(rng.uniform(3.0, 5.0), 1), description))
    return products


CATALOG = build_catalog()
BY_ID = {p.pid: p for p in CATALOG}


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def search(query: str, category: str = "", max_price: float | None = None, sort: str = "relevance") -> list[Product]:
    """The shop's search results (the app's search page shows them, the oracle pages through them)."""
    words = set(tokens(query))
    scored = []
    for product in CATALOG:
        if category and product.category != category:
            continue
        if max_price is not None and product.price > max_price:
            continue
        haystack = set(tokens(f"{product.name} {product.category} {' '.join(product.attributes)} {product.description}"))
        hits = len(words & haystack)
        if words and hits == 0:
            continue
        scored.append((hits, product))
    if sort == "price-asc":
        scored.sort(key=lambda x: (x[1].price, x[1].pid))
    elif sort == "price-desc":
        scored.sort(key=lambda x: (-x[1].price, x[1].pid))
    elif sort == "rating":
        scored.sort(key=lambda x: (-x[1].rating, x[1].pid))
    else:
        scored.sort(key=lambda x: (-x[0], x[1].pid))
    return [p for _, p in scored]


def full_match(product: Product, target: dict[str, Any]) -> bool:
    """Whether `product` can satisfy the goal `target` (category, attributes, options, price)."""
    return (product.category == target["category"] and all(a in product.attributes for a in target["attributes"])
            and all(v in product.options.get(d, []) for d, v in target["options"].items())
            and product.price <= target["max_price"])


def generate(index: int, seed: int = 0) -> dict[str, Any]:
    """Task `index` of the shop suite: goal, target spec, subgoals and oracle actions."""
    rng = random.Random(f"shop-{seed}-{index}")
    product = rng.choice(CATALOG)
    attrs = sorted(rng.sample(product.attributes, rng.randint(1, min(3, len(product.attributes)))))
    options = {dim: rng.choice(values) for dim, values in product.options.items()}
    max_price = float(math.ceil(product.price * rng.uniform(1.05, 1.6)))
    target = {"category": product.category, "attributes": attrs, "options": options, "max_price": max_price}
    option_text = ", ".join(f"{dim} {value}" for dim, value in options.items())
    goal = (f"Buy a {', '.join(attrs)} {product.category} ({option_text}) that costs at most ${max_price:.0f}. "
            f"Check out with the name {CUSTOMER['name']} and the address {CUSTOMER['address']}.")
    query = " ".join([*attrs, product.category])
    results = search(query)
    position = next(i for i, p in enumerate(results) if full_match(p, target))
    chosen = results[position]
    oracle = [f'fill("search-box", "{query}")', 'click("search-button")']
    oracle += ['click("next-page")'] * (position // PAGE_SIZE)
    oracle.append(f'click("product-{chosen.pid}")')
    oracle += [f'select("option-{dim}", "{value}")' for dim, value in options.items()]
    oracle += ['click("add-to-cart")', 'click("checkout")', f'fill("checkout-name", "{CUSTOMER["name"]}")',
               f'fill("checkout-address", "{CUSTOMER["address"]}")', 'click("place-order")']
    return {"goal": goal, "spec": {"target": target, "gold_pid": product.pid}, "subgoals": SUBGOALS,
            "oracle": oracle, "start_path": "/shop/"}
