"""A WebShop-style shop: search, filters, product pages with options, cart, checkout.

The catalog, its search and the goals are task data (`agentgym.tasks.web.apps.shop`). The outcome
is WebShop's score of what was bought: (matched attributes + matched options + price ok) /
(n_attributes + n_options + 1) x type match (the category), on the best order line, divided by
the number of distinct lines (buying everything does not pay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentgym.tasks.web.apps.shop import BY_ID, CATEGORIES, PAGE_SIZE, Product, full_match, search

from .server import App, Request, Response, aid, esc, page, q, redirect


@dataclass
class Line:
    pid: int
    options: dict[str, str]
    quantity: int = 1


@dataclass
class Order:
    number: int
    lines: list[Line]
    name: str
    address: str
    shipping: str


@dataclass
class ShopState:
    cart: list[Line] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    searches: list[list[int]] = field(default_factory=list)
    viewed: list[int] = field(default_factory=list)
    checkout_views: int = 0


class ShopApp(App):
    prefix = "/shop"

    def __init__(self) -> None:
        super().__init__()
        self.state = ShopState()
        self.route("GET", "/?", self.home)
        self.route("GET", "/search", self.search_page)
        self.route("GET", r"/product/(\d+)", self.product_page)
        self.route("POST", r"/cart/add/(\d+)", self.add_to_cart)
        self.route("POST", r"/cart/remove/(\d+)", self.remove_line)
        self.route("GET", "/cart", self.cart_page)
        self.route("GET", "/checkout", self.checkout_page)
        self.route("POST", "/checkout", self.place_order)
        self.route("GET", r"/order/(\d+)", self.order_page)

    # -------------------------------------------------------------- pages
    def nav(self) -> str:
        count = sum(line.quantity for line in self.state.cart)
        return (f'<a href="/shop/" {aid("nav-home")}>Home</a>'
                f'<a href="/shop/cart" {aid("nav-cart")}>Cart ({count})</a>')

    def search_form(self, query: str = "") -> str:
        return (f'<form action="/shop/search" method="get" role="search">'
                f'<input name="q" aria-label="Search products" value="{esc(query)}" {aid("search-box")}>'
                f'<button type="submit" {aid("search-button")}>Search</button></form>')

    def home(self, request: Request) -> Response:
        links = "".join(
            f'<li><a href="/shop/search?category={q(c)}" {aid("cat-" + c.replace(" ", "-"))}>{esc(c.title())}</a></li>'
            for c in CATEGORIES
        )
        body = f"<h1>Welcome to the shop</h1>{self.search_form()}<h2>Categories</h2><ul>{links}</ul>"
        return Response(page("Shop", body, self.nav()))

    def search_page(self, request: Request) -> Response:
        query = request.get("q")
        category = request.get("category")
        sort = request.get("sort") or "relevance"
        max_price_raw = request.get("max_price")
        error = ""
        max_price = None
        if max_price_raw:
            try:
                max_price = float(max_price_raw)
            except ValueError:
                error = f'<p class="error" role="alert">Max price must be a number, got "{esc(max_price_raw)}".</p>'
        try:
            page_no = max(1, int(request.get("page") or 1))
        except ValueError:
            page_no = 1
        results = search(query, category if category in CATEGORIES else "", max_price, sort)
        self.state.searches.append([p.pid for p in results[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE]])
        shown = results[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE]
        items = "".join(
            f'<div class="item"><a href="/shop/product/{p.pid}" {aid(f"product-{p.pid}")}>{esc(p.name)}</a> '
            f'<span class="price">${p.price:.2f}</span> <span>rating {p.rating}</span></div>'
            for p in shown
        )
        options = "".join(f'<option value="{esc(c)}"{" selected" if c == category else ""}>{esc(c.title())}</option>'
                          for c in CATEGORIES)
        sorts = "".join(f'<option value="{v}"{" selected" if v == sort else ""}>{label}</option>' for v, label in
                        [("relevance", "Relevance"), ("price-asc", "Price: low to high"),
                         ("price-desc", "Price: high to low"), ("rating", "Rating")])
        filters = (f'<form action="/shop/search" method="get"><input type="hidden" name="q" value="{esc(query)}">'
                   f'<label>Category <select name="category" {aid("filter-category")}><option value="">All</option>'
                   f'{options}</select></label>'
                   f'<label>Max price <input name="max_price" value="{esc(max_price_raw)}" {aid("filter-max-price")}></label>'
                   f'<label>Sort <select name="sort" {aid("filter-sort")}>{sorts}</select></label>'
                   f'<button type="submit" {aid("apply-filters")}>Apply filters</button></form>')
        pager = ""
        if page_no * PAGE_SIZE < len(results):
            params = f"q={q(query)}&category={q(category)}&max_price={q(max_price_raw)}&sort={q(sort)}&page={page_no + 1}"
            pager += f'<a href="/shop/search?{params}" {aid("next-page")}>Next page</a>'
        if page_no > 1:
            params = f"q={q(query)}&category={q(category)}&max_price={q(max_price_raw)}&sort={q(sort)}&page={page_no - 1}"
            pager += f' <a href="/shop/search?{params}" {aid("prev-page")}>Previous page</a>'
        heading = f"<h1>{len(results)} results" + (f' for "{esc(query)}"' if query else "") + "</h1>"
        body = f"{self.search_form(query)}{filters}{error}{heading}{items or '<p>No products found.</p>'}{pager}"
        return Response(page("Shop - search", body, self.nav()))

    def product_page(self, request: Request, pid: str, error: str = "") -> Response:
        product = BY_ID.get(int(pid))
        if product is None:
            return Response(page("Not found", "<h1>No such product</h1>", self.nav()), status=404)
        self.state.viewed.append(product.pid)
        selects = ""
        for dim, values in product.options.items():
            opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
            selects += (f'<label>{esc(dim.title())} <select name="{esc(dim)}" {aid("option-" + dim)}>'
                        f'<option value="">Choose {esc(dim)}</option>{opts}</select></label>')
        attrs = "".join(f"<li>{esc(a)}</li>" for a in product.attributes)
        body = (f"<h1>{esc(product.name)}</h1><p class='price'>${product.price:.2f}</p><p>Rating {product.rating}</p>"
                f"<p>{esc(product.description)}</p><h2>Features</h2><ul>{attrs}</ul>{error}"
                f'<form action="/shop/cart/add/{product.pid}" method="post">{selects}'
                f'<label>Quantity <input name="quantity" type="number" min="1" value="1" {aid("quantity")}></label>'
                f'<button type="submit" {aid("add-to-cart")}>Add to cart</button></form>')
        return Response(page(f"Shop - {product.name}", body, self.nav()))

    def add_to_cart(self, request: Request, pid: str) -> Response:
        product = BY_ID.get(int(pid))
        if product is None:
            return Response(page("Not found", "<h1>No such product</h1>"), status=404)
        chosen = {}
        missing = []
        for dim, values in product.options.items():
            value = request.get(dim)
            if value not in values:
                missing.append(dim)
            chosen[dim] = value
        try:
            quantity = int(request.get("quantity") or 1)
        except ValueError:
            quantity = 0
        if missing or not 1 <= quantity <= 10:
            problems = [f"choose a {d}" for d in missing] + ([] if 1 <= quantity <= 10 else ["quantity must be 1-10"])
            error = f'<p class="error" role="alert">Please {", ".join(problems)}.</p>'
            return self.product_page(request, pid, error)
        self.state.cart.append(Line(product.pid, chosen, quantity))
        return redirect("/shop/cart")

    def remove_line(self, request: Request, index: str) -> Response:
        i = int(index)
        if 0 <= i < len(self.state.cart):
            self.state.cart.pop(i)
        return redirect("/shop/cart")

    def cart_page(self, request: Request) -> Response:
        rows = ""
        total = 0.0
        for i, line in enumerate(self.state.cart):
            product = BY_ID[line.pid]
            total += product.price * line.quantity
            opts = ", ".join(f"{k}: {v}" for k, v in line.options.items())
            rows += (f'<div class="item">{esc(product.name)} ({esc(opts)}) x{line.quantity} '
                     f'<span class="price">${product.price * line.quantity:.2f}</span>'
                     f'<form action="/shop/cart/remove/{i}" method="post" style="display:inline">'
                     f'<button type="submit" {aid(f"remove-{i}")}>Remove</button></form></div>')
        if rows:
            body = (f"<h1>Your cart</h1>{rows}<p>Total: <span class='price'>${total:.2f}</span></p>"
                    f'<a href="/shop/checkout" {aid("checkout")}>Proceed to checkout</a>')
        else:
            body = "<h1>Your cart is empty</h1>"
        return Response(page("Shop - cart", body, self.nav()))

    def checkout_form(self, values: dict[str, str], error: str = "") -> str:
        shipping = values.get("shipping", "standard")
        ship_opts = "".join(f'<option value="{v}"{" selected" if v == shipping else ""}>{label}</option>'
                            for v, label in [("standard", "Standard (free)"), ("express", "Express ($9.99)")])
        return (f"<h1>Checkout</h1>{error}<form action='/shop/checkout' method='post'>"
                f'<label>Full name <input name="name" value="{esc(values.get("name", ""))}" {aid("checkout-name")}></label>'
                f'<label>Address <input name="address" value="{esc(values.get("address", ""))}" {aid("checkout-address")}></label>'
                f'<label>Shipping <select name="shipping" {aid("checkout-shipping")}>{ship_opts}</select></label>'
                f'<button type="submit" {aid("place-order")}>Place order</button></form>')

    def checkout_page(self, request: Request) -> Response:
        if not self.state.cart:
            return Response(page("Shop - checkout", "<h1>Your cart is empty</h1>", self.nav()))
        self.state.checkout_views += 1
        return Response(page("Shop - checkout", self.checkout_form({}), self.nav()))

    def place_order(self, request: Request) -> Response:
        values = {k: request.get(k).strip() for k in ("name", "address", "shipping")}
        problems = [f"{k} is required" for k in ("name", "address") if not values[k]]
        if not self.state.cart:
            problems.append("the cart is empty")
        if problems:
            error = f'<p class="error" role="alert">Cannot place the order: {"; ".join(problems)}.</p>'
            return Response(page("Shop - checkout", self.checkout_form(values, error), self.nav()))
        order = Order(len(self.state.orders) + 1, list(self.state.cart), values["name"], values["address"],
                      values["shipping"] or "standard")
        self.state.orders.append(order)
        self.state.cart = []
        return redirect(f"/shop/order/{order.number}")

    def order_page(self, request: Request, number: str) -> Response:
        n = int(number)
        if not 1 <= n <= len(self.state.orders):
            return Response(page("Not found", "<h1>No such order</h1>", self.nav()), status=404)
        order = self.state.orders[n - 1]
        lines = "".join(f"<li>{esc(BY_ID[line.pid].name)} x{line.quantity}</li>" for line in order.lines)
        body = f"<h1>Thank you! Order #{n} is placed.</h1><ul>{lines}</ul><p>Shipping to {esc(order.address)}</p>"
        return Response(page("Shop - order placed", body, self.nav()))


# ---------------------------------------------------------------------- grading
def line_score(product: Product, chosen: dict[str, str], target: dict[str, Any]) -> float:
    """WebShop-style score of one bought product against the goal."""
    attrs = target["attributes"]
    options = target["options"]
    matched_attrs = sum(1 for a in attrs if a in product.attributes)
    matched_options = sum(1 for dim, value in options.items() if chosen.get(dim) == value)
    price_ok = 1 if product.price <= target["max_price"] else 0
    type_match = 1.0 if product.category == target["category"] else 0.0
    return (matched_attrs + matched_options + price_ok) / (len(attrs) + len(options) + 1) * type_match


def check(app: ShopApp, spec: dict[str, Any]) -> tuple[bool, float, set[str], dict[str, Any]]:
    """(done, score, subgoals reached, detail) for the app's state."""
    target = spec["target"]
    state = app.state
    reached: set[str] = set()
    if any(full_match(BY_ID[pid], target) for page_ids in state.searches for pid in page_ids):
        reached.add("searched")
    if any(full_match(BY_ID[pid], target) for pid in state.viewed):
        reached.add("viewed_match")
    lines_seen = [line for order in state.orders for line in order.lines] + state.cart
    if any(line_score(BY_ID[line.pid], line.options, target) == 1.0 for line in lines_seen):
        reached.add("added_match")
    if state.checkout_views and ("added_match" in reached):
        reached.add("checkout")
    score = 0.0
    if state.orders:
        order = state.orders[-1]
        best = max(line_score(BY_ID[line.pid], line.options, target) for line in order.lines)
        distinct = {(line.pid, tuple(sorted(line.options.items()))) for line in order.lines}
        score = best / len(distinct)
        if score == 1.0:
            reached.add("ordered")
    return bool(state.orders), score, reached, {"orders": float(len(state.orders))}
