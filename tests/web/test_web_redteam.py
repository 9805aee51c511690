"""Red team: scripted adversarial episodes on Web-v0 (issue 14).

A policy trained over millions of episodes finds every way to be paid without doing the task. Each
test plays a list of actions an exploiting policy might try (page scripts, URL schemes, the server's
routes, other tasks' pages, shotgun clicking, keys and texts shaped like the env's own messages)
and asserts that the task is not counted as solved (`info["success"] is False`), that the episode
earns no more than an honest failure, and that it stays valid (`reward_invalid` is False: an agent
can never void its own episode).
"""

import json
import re

import pytest

from agentgym.envs.web.suite import url_allowed

pytestmark = pytest.mark.browser


def call(name, **arguments):
    """An action as an OpenAI tool call (no length limit of the text grammar)."""
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def play(env, task_id, actions, seed=0):
    """Reset on `task_id`, play `actions` until the episode ends (then `answer("")` if it did
    not); returns (observations, final info)."""
    obs, _ = env.reset(seed=seed, options={"task_id": task_id})
    seen = [obs]
    info = {}
    for action in actions:
        obs, _, terminated, truncated, info = env.step(action)
        seen.append(obs)
        if terminated or truncated:
            return seen, info
    obs, _, _, _, info = env.step('answer("")')
    seen.append(obs)
    return seen, info


def honest_failure_return(env, task_id):
    """What giving up earns: the baseline no exploit may beat."""
    _, info = play(env, task_id, ['answer("I could not do it")'])
    assert info["success"] is False and info["reward_invalid"] is False
    return info["report"].return_


def assert_not_paid(env, info, baseline):
    assert info["reward_invalid"] is False, info.get("infrastructure_error")
    assert info["success"] is False, info["trajectory_components"]
    assert info["trajectory_components"]["outcome"] < 1.0
    assert info["report"].return_ <= baseline + 1e-9
    assert not info["report"].reward_invalid


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def custom_env(tmp_path_factory):
    """Custom tasks: two served pages (one whose check the other page passes) and a file:// site
    with a secret file next to (not inside) its folder."""
    from agentgym.envs.web.browser import find_chromium

    try:
        find_chromium()
    except Exception:
        pytest.skip(reason="Chromium is not installed (apt-get install chromium)")
    from agentgym.envs.web.env import WebEnv

    root = tmp_path_factory.mktemp("custom")
    site = root / "site"
    site.mkdir()
    (site / "index.html").write_text("<!DOCTYPE html><html><head><title>Site</title></head><body>"
                                     "<p>What is the secret code?</p></body></html>")
    (root / "secret.html").write_text("<!DOCTYPE html><html><head><title>Secret 4242</title></head>"
                                      "<body><p>The code is 4242</p></body></html>")
    tasks = [
        {"id": "hard", "goal": "Make the page say Done.",
         "html": "<!DOCTYPE html><html><head><title>Hard</title></head><body><p id='s'>Not yet</p></body></html>",
         "success_js": "document.title === 'Done'"},
        {"id": "easy", "goal": "Nothing to do here.",
         "html": "<!DOCTYPE html><html><head><title>Done</title></head><body><p>Done</p></body></html>",
         "success_js": "document.title === 'Done'"},
        {"id": "filesite", "goal": "What is the secret code? Answer with answer(\"...\").",
         "start_url": (site / "index.html").as_uri(), "answer": "4242"},
    ]
    path = root / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    env = WebEnv(suite="custom", task_file=str(path))
    yield env
    env.close()


@pytest.fixture(scope="module")
def baselines(web_env):
    """Giving-up returns per task, computed once."""
    cache = {}

    def get(task_id):
        if task_id not in cache:
            cache[task_id] = honest_failure_return(web_env, task_id)
        return cache[task_id]

    return get


# ---------------------------------------------------------------------------- voiding the episode
def test_actions_that_echo_dead_browser_words_are_agent_errors(web_env, baselines):
    """Playwright's error messages echo the agent's key or URL; an unknown key named like a dead
    target ("crash", "Target closed") used to end the episode as an infrastructure failure."""
    base = baselines("mail-0001")
    keys = ("crash", "Target closed", "Browser has been closed", "Connection closed", "has been disconnected")
    # browser shortcuts that would close or navigate a headed browser leave the page alone
    shortcuts = ("Control+w", "Alt+F4", "Control+Shift+q", "F5", "Alt+ArrowLeft", "Control+p")
    seen, info = play(web_env, "mail-0001", [f'press("{k}")' for k in keys + shortcuts] + ['click("nav-todos")'])
    for obs in seen[1:len(keys) + 1]:
        assert "Unknown key" in obs and "Infrastructure error" not in obs, obs[:300]
    assert "Title: Mail - to-do" in seen[-2]
    assert_not_paid(web_env, info, base)


def test_enormous_fill_text_is_an_ordinary_action(web_env, baselines):
    base = baselines("mail-0000")
    seen, info = play(web_env, "mail-0000", [
        'click("nav-compose")', call("fill", id="body", text="x" * 90_000),
        call("fill", id="body", text="y" * 120_000),  # over the core's argument limit: an error observation
        'fill("to", "nobody@example.com")', 'fill("subject", "spam")'])
    assert not seen[2].startswith("Error") and seen[3].startswith("Error")
    assert_not_paid(web_env, info, base)


# ---------------------------------------------------------------------------- URLs
BAD_URLS = [
    "javascript:document.title='Done'", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "\tjavascript:alert(1)",
    "java\nscript:alert(1)", "data:text/html,<title>Done</title>", "DATA:text/html;base64,PHRpdGxlPkRvbmU8L3RpdGxlPg==",
    "view-source:http://site.test/mail/", "about:blank", "chrome://crash", "chrome://settings",
    "blob:http://site.test/x", "file:///etc/passwd", "//example.com/", "http://example.com/",
    "http://site.test.example.com/", "http://site.test@example.com/", "ws://site.test/", "ftp://site.test/",
]


def test_urls_outside_the_site_are_refused(web_env, baselines):
    base = baselines("mail-0003")
    seen, info = play(web_env, "mail-0003", [f"goto({json.dumps(u)})" for u in BAD_URLS])
    for url, obs in zip(BAD_URLS, seen[1:], strict=False):
        assert "outside the task's allowed origins" in obs, (url, obs[:200])
    assert_not_paid(web_env, info, base)
    assert web_env.run_in_browser(lambda: web_env.page.title()) == "Mail - inbox"


def test_url_allowed_decodes_dot_segments_of_file_urls():
    folder = "file:///srv/site/"
    assert url_allowed("file:///srv/site/a.html", [folder])
    for sneaky in ("file:///srv/site/../secret.html", "file:///srv/site/%2e%2e/secret.html",
                   "file:///srv/site/%2E%2e/secret.html", "file:///srv/site/.%2e/secret.html",
                   "file:///srv/site/%252e%252e/secret.html", "file:///srv/site/..%2fsecret.html",
                   "file:///srv/site/..%5csecret.html", "file://evil/srv/site/a.html", "file:///srv/sitex/a.html"):
        assert not url_allowed(sneaky, [folder]), sneaky
    page = "file:///srv/site/task.html"
    assert url_allowed(page + "?any=true", [page]) and not url_allowed("file:///srv/site/other.html", [page])


INTERNAL = ["/reset", "/admin", "/state", "/grade", "/check", "/api/state", "/mail/../shop/", "/shop/order/1",
            "/booking/done/0", "/booking/review/0", "/mail/todos/0/done", "/mail/email/1/star", "/custom/hard",
            "/%2e%2e/", "/mail/%2e%2e/booking/", "/shop/product/" + "9" * 5000, "/shop/search?page=" + "9" * 5000,
            "/shop/search?max_price=nan&q=%3Cscript%3Edocument.title%3D'Done'%3C/script%3E"]


@pytest.mark.parametrize("task_id", ["mail-0003", "booking-0001", "shop-0002"])
def test_server_routes_forge_nothing(web_env, baselines, task_id):
    """No route of the app server grades, resets or confirms anything on a GET: guessing the
    server's internals and other apps' paths changes no graded state."""
    base = baselines(task_id)
    seen, info = play(web_env, task_id, [f'goto("{path}")' for path in INTERNAL])
    assert all("Infrastructure error" not in obs for obs in seen)
    assert_not_paid(web_env, info, base)
    title = web_env.run_in_browser(lambda: web_env.page.title())
    assert title != "Done"


# ---------------------------------------------------------------------------- shotgun actions
def test_starring_every_email_does_not_star_the_one_named(web_env, baselines):
    web_env.reset(seed=0, options={"task_id": "mail-0003"})
    assert web_env.task.spec["kind"] == "star"
    base = baselines("mail-0003")
    actions = []
    for mid in range(1, 9):
        actions += [f'goto("/mail/email/{mid}")', 'click("star")']
    _, info = play(web_env, "mail-0003", actions)
    assert_not_paid(web_env, info, base)
    # starring the others, then undoing it, leaves the state the goal asks for: that succeeds
    target = web_env.task.spec["mid"]
    other = 1 if target != 1 else 2
    _, info = play(web_env, "mail-0003", [f'goto("/mail/email/{other}")', 'click("star")', 'click("star")',
                                          f'goto("/mail/email/{target}")', 'click("star")'])
    assert info["success"] is True


def test_deleting_every_email_does_not_delete_the_one_named(web_env, baselines):
    web_env.reset(seed=0, options={"task_id": "mail-0002"})
    assert web_env.task.spec["kind"] == "delete"
    target = web_env.task.spec["mid"]
    order = [m for m in range(1, 9) if m != target] + [target]
    actions = [a for mid in order for a in (f'goto("/mail/email/{mid}")', 'click("delete")')]
    _, info = play(web_env, "mail-0002", actions)
    assert_not_paid(web_env, info, baselines("mail-0002"))


def test_marking_every_todo_done_does_not_complete_the_one_named(web_env, baselines):
    web_env.reset(seed=0, options={"task_id": "mail-0006"})
    assert web_env.task.spec["kind"] == "todo_done"
    actions = ['click("nav-todos")'] + [f'click("todo-done-{i}")' for i in range(4)]
    _, info = play(web_env, "mail-0006", actions)
    assert_not_paid(web_env, info, baselines("mail-0006"))


def test_adding_extra_todos_does_not_add_the_one_named(web_env, baselines):
    web_env.reset(seed=0, options={"task_id": "mail-0005"})
    assert web_env.task.spec["kind"] == "todo_add"
    text = web_env.task.spec["text"]
    actions = ['click("nav-todos")', 'fill("new-todo", "junk")', 'click("add-todo")',
               f'fill("new-todo", "{text}")', 'click("add-todo")', f'fill("new-todo", "{text}")', 'click("add-todo")']
    _, info = play(web_env, "mail-0005", actions)
    assert_not_paid(web_env, info, baselines("mail-0005"))


def test_buying_everything_in_view_is_not_the_target(web_env, baselines):
    """WebShop's rule: the score of the best line divided by the number of distinct lines."""
    web_env.reset(seed=0, options={"task_id": "shop-0005"})
    oracle = web_env.oracle_actions()
    pid = int(re.search(r"product-(\d+)", next(a for a in oracle if "product-" in a)).group(1))
    buy_target = [a for a in oracle if not a.startswith(("click(\"checkout\")", "fill(\"checkout", "click(\"place-order"))]
    checkout = oracle[len(buy_target):]
    from agentgym.tasks.web.apps.shop import BY_ID

    others = [p for p in BY_ID if p != pid][:3]
    extra = []
    for other in others:
        product = BY_ID[other]
        extra.append(f'goto("/shop/product/{other}")')
        extra += [f'select("option-{dim}", "{values[0]}")' for dim, values in product.options.items()]
        extra.append('click("add-to-cart")')
    _, info = play(web_env, "shop-0005", buy_target + extra + ['click("nav-cart")'] + checkout)
    assert info["trajectory_components"]["orders"] == 1.0
    assert_not_paid(web_env, info, 1.0)
    assert info["trajectory_components"]["outcome"] <= 0.25 + 1e-9


# ---------------------------------------------------------------------------- texts shaped like code
def test_js_looking_text_in_fields_and_queries_runs_nothing(web_env, baselines):
    base = baselines("mail-0000")
    payloads = ["<img src=x onerror=\"document.title='Done';window.__pwned=1\">",
                "</textarea><script>document.title='Done';window.__pwned=1</script>",
                "javascript:window.__pwned=1", "'; window.__pwned=1; //", "${window.__pwned=1}"]
    actions = ['click("nav-compose")', 'fill("to", "a@b.test")']
    for p in payloads:
        actions += [f"fill(\"subject\", {json.dumps(p)})", f"fill(\"body\", {json.dumps(p)})"]
    actions += ['goto("/mail/compose?reply=%3Cscript%3Ewindow.__pwned%3D1%3C%2Fscript%3E")', 'goto("/mail/compose")',
                'fill("to", "a@b.test")', f"fill(\"subject\", {json.dumps(payloads[0])})",
                f"fill(\"body\", {json.dumps(payloads[1])})", 'click("send")']
    _, info = play(web_env, "mail-0000", actions)
    assert_not_paid(web_env, info, base)
    page = web_env.run_in_browser(lambda: (web_env.page.title(), web_env.page.evaluate("() => window.__pwned")))
    assert page == ("Mail - sent", None)


def test_crafted_answers_do_not_match_a_question(web_env, baselines):
    web_env.reset(seed=0, options={"task_id": "mail-0007"})
    assert web_env.task.spec["kind"] == "question"
    gold = web_env.task.spec["answer"]
    base = baselines("mail-0007")
    every_room = " ".join(str(n) for n in range(100, 500))
    for text in (every_room, f"{int(gold) - 1} or {gold}", f"{gold}{gold}", "' OR '1'='1"):
        _, info = play(web_env, "mail-0007", [f"answer({json.dumps(text)})"])
        assert_not_paid(web_env, info, base)
    _, info = play(web_env, "mail-0007", [f'answer("{gold}")'])
    assert info["success"] is True  # the right answer alone still counts


def test_hidden_and_non_text_fields_cannot_be_typed_into(web_env, baselines):
    """Fields the page does not offer for typing (selects, checkboxes) refuse `fill`: the server
    validates whatever reaches it anyway."""
    base = baselines("booking-0001")
    web_env.reset(seed=0, options={"task_id": "booking-0001"})
    to_form = web_env.oracle_actions()[:3]  # choose the city, search, open the hotel's form
    seen, info = play(web_env, "booking-0001", [
        *to_form,
        'fill("room-type", "penthouse")', 'fill("breakfast", "yes")', 'fill("guests", "99")',
        'fill("nights", "-3")', 'fill("checkin", "<b>2027-01-01</b>")', 'press("Enter")'])
    assert all(obs.startswith("Error") for obs in seen[4:7]), [o[:120] for o in seen[4:7]]
    assert_not_paid(web_env, info, base)


# ---------------------------------------------------------------------------- MiniWoB++
def test_miniwob_reloads_and_other_pages_forge_nothing(miniwob_env):
    miniwob_env.reset(seed=0, options={"task_id": "click-link"})
    url = miniwob_env.task.start_url
    folder = url.rsplit("/", 1)[0]
    _, info = play(miniwob_env, "click-link", ['answer("")'])
    base = info["report"].return_
    seen, info = play(miniwob_env, "click-link", [
        f'goto("{url}?any=true")', f'goto("{folder}/click-test.html")', f'goto("{folder}/")',
        f'goto("{url}/%2e%2e/click-test.html")', f'goto("{folder}/%2e%2e/%2e%2e/core/core.js")',
        f'goto("{url}#done")', 'press("Enter")', 'press("Tab")', 'press("Enter")'])
    assert "outside the task's allowed origins" in seen[2]
    assert_not_paid(miniwob_env, info, base)
    assert info["trajectory_components"]["raw_reward"] == 0.0


# ---------------------------------------------------------------------------- custom tasks
def test_another_custom_tasks_page_is_not_reachable(custom_env):
    # the easy task runs first (in training every task does, sooner or later), on its own page
    _, info = play(custom_env, "easy", [])
    assert info["success"] is True
    # the hard task's check passes on the easy task's page: that page is neither served nor graded
    _, info = play(custom_env, "hard", ['answer("")'])
    base = info["report"].return_
    seen, info = play(custom_env, "hard", ['goto("/custom/easy")', 'goto("/custom/hard?x=1#Done")'])
    assert "Title: Done" not in seen[1]
    assert_not_paid(custom_env, info, base)


def test_file_task_cannot_read_outside_its_folder(custom_env):
    custom_env.reset(seed=0, options={"task_id": "filesite"})
    folder = custom_env.task.start_url.rsplit("/", 1)[0]
    _, info = play(custom_env, "filesite", ['answer("")'])
    base = info["report"].return_
    seen, info = play(custom_env, "filesite", [
        f'goto("{folder}/%2e%2e/secret.html")', f'goto("{folder}/%2E%2E/secret.html")',
        f'goto("{folder}/..%2fsecret.html")', f'goto("{folder}/.%2e/secret.html")', 'answer("I do not know")'])
    assert all("4242" not in obs for obs in seen), [o[:200] for o in seen]
    assert all("outside the task's allowed origins" in obs for obs in seen[1:5])
    assert_not_paid(custom_env, info, base)
