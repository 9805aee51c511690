"""A mail + to-do app: inbox, message pages (reply, forward, delete, star), compose, to-do list.

Each episode's mailbox is generated from the task seed. Task kinds: reply, forward, delete, star,
compose, add a to-do, complete a to-do, and a question answered with `answer(text)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .server import App, Request, Response, aid, esc, page, redirect

PEOPLE = [("Nora Lindqvist", "nora@lindqvist.io"), ("Omar Haddad", "omar.haddad@acme.test"),
          ("Grace Liu", "grace.liu@univ.test"), ("Tomas Novak", "tnovak@mail.test"),
          ("Aisha Bello", "aisha@bello.test"), ("Pedro Alves", "pedro.alves@corp.test"),
          ("Yuki Sato", "yuki.sato@studio.test"), ("Leah Cohen", "leah@cohen.test")]
TOPICS = [("Quarterly budget review", "Please look at the budget draft before Friday. The meeting is in room {room}."),
          ("Team offsite plans", "We are planning the offsite for next month. We meet in room {room} to decide."),
          ("Server maintenance window", "The servers go down on Sunday night. Questions go to room {room}."),
          ("Conference travel", "Your travel to the conference is approved. Pick up tickets in room {room}."),
          ("Design review notes", "Notes from the design review are attached. Follow-up in room {room}."),
          ("Lunch on Thursday", "Want to grab lunch on Thursday? We could meet at room {room} first."),
          ("Invoice 4471", "Invoice 4471 is overdue. Accounting sits in room {room}."),
          ("New hire onboarding", "A new engineer starts Monday. Onboarding happens in room {room}."),
          ("Product launch checklist", "The launch checklist is ready for review in room {room}."),
          ("Library books due", "Two library books are due next week. Return desk is next to room {room}.")]
REPLIES = ["Thanks, I will take a look today.", "Sounds good, see you there.", "I cannot make it, sorry.",
           "Confirmed, thank you!", "Let me check and get back to you."]
TODOS = ["Water the plants", "Renew passport", "Book dentist appointment", "Pay electricity bill",
         "Call grandma", "Buy printer ink", "Clean the garage", "Return library books", "Back up laptop",
         "Plan weekend hike"]
ME = "me@agentgym.test"


@dataclass
class Email:
    mid: int
    sender: str
    address: str
    subject: str
    body: str
    starred: bool = False
    folder: str = "inbox"  # inbox | trash


@dataclass
class Sent:
    to: str
    subject: str
    body: str


@dataclass
class Todo:
    text: str
    done: bool = False


@dataclass
class MailState:
    emails: list[Email] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    todos: list[Todo] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    composed: int = 0


def build_mailbox(rng: random.Random) -> MailState:
    state = MailState()
    topics = rng.sample(TOPICS, 8)
    for i, (subject, body) in enumerate(topics):
        sender, address = rng.choice(PEOPLE)
        state.emails.append(Email(i + 1, sender, address, subject, body.format(room=rng.randint(100, 499))))
    state.todos = [Todo(t) for t in rng.sample(TODOS, 4)]
    return state


class MailApp(App):
    prefix = "/mail"

    def __init__(self, state: MailState) -> None:
        super().__init__()
        self.state = state
        self.route("GET", "/?", self.inbox)
        self.route("GET", r"/email/(\d+)", self.email_page)
        self.route("POST", r"/email/(\d+)/(star|delete)", self.email_action)
        self.route("GET", "/compose", self.compose)
        self.route("POST", "/compose", self.send)
        self.route("GET", "/sent", self.sent_page)
        self.route("GET", "/todos", self.todos_page)
        self.route("POST", "/todos/add", self.add_todo)
        self.route("POST", r"/todos/(\d+)/(done|delete)", self.todo_action)

    def nav(self) -> str:
        unread = sum(1 for e in self.state.emails if e.folder == "inbox")
        return (f'<a href="/mail/" {aid("nav-inbox")}>Inbox ({unread})</a>'
                f'<a href="/mail/compose" {aid("nav-compose")}>Compose</a>'
                f'<a href="/mail/sent" {aid("nav-sent")}>Sent</a>'
                f'<a href="/mail/todos" {aid("nav-todos")}>To-do</a>')

    def inbox(self, request: Request) -> Response:
        rows = "".join(
            f'<div class="item">{"&#9733; " if e.starred else ""}<a href="/mail/email/{e.mid}" {aid(f"email-{e.mid}")}>'
            f"{esc(e.sender)}: {esc(e.subject)}</a></div>"
            for e in self.state.emails if e.folder == "inbox"
        )
        return Response(page("Mail - inbox", f"<h1>Inbox</h1>{rows or '<p>No messages.</p>'}", self.nav()))

    def _email(self, mid: str) -> Email | None:
        return next((e for e in self.state.emails if e.mid == int(mid) and e.folder == "inbox"), None)

    def email_page(self, request: Request, mid: str) -> Response:
        email = self._email(mid)
        if email is None:
            return Response(page("Not found", "<h1>No such message</h1>", self.nav()), status=404)
        self.state.opened.append(email.mid)
        star = "Unstar" if email.starred else "Star"
        body = (f"<h1>{esc(email.subject)}</h1><p>From: {esc(email.sender)} &lt;{esc(email.address)}&gt;</p>"
                f"<p>{esc(email.body)}</p>"
                f'<a href="/mail/compose?reply={email.mid}" {aid("reply")}>Reply</a> '
                f'<a href="/mail/compose?forward={email.mid}" {aid("forward")}>Forward</a>'
                f'<form method="post" action="/mail/email/{email.mid}/star"><button type="submit" {aid("star")}>'
                f"{star}</button></form>"
                f'<form method="post" action="/mail/email/{email.mid}/delete"><button type="submit" {aid("delete")}>'
                f"Delete</button></form>")
        return Response(page(f"Mail - {email.subject}", body, self.nav()))

    def email_action(self, request: Request, mid: str, action: str) -> Response:
        email = self._email(mid)
        if email is not None:
            if action == "star":
                email.starred = not email.starred
                return redirect(f"/mail/email/{email.mid}")
            email.folder = "trash"
        return redirect("/mail/")

    def _compose_form(self, to: str, subject: str, body: str, error: str = "") -> str:
        return (f"<h1>New message</h1>{error}<form method='post' action='/mail/compose'>"
                f'<label>To <input name="to" value="{esc(to)}" {aid("to")}></label>'
                f'<label>Subject <input name="subject" value="{esc(subject)}" {aid("subject")}></label>'
                f'<label>Message <textarea name="body" rows="6" {aid("body")}>{esc(body)}</textarea></label>'
                f'<button type="submit" {aid("send")}>Send</button></form>')

    def compose(self, request: Request) -> Response:
        self.state.composed += 1
        to = subject = body = ""
        if request.get("reply"):
            email = self._email(request.get("reply")) if request.get("reply").isdigit() else None
            if email:
                to, subject = email.address, f"Re: {email.subject}"
        elif request.get("forward"):
            email = self._email(request.get("forward")) if request.get("forward").isdigit() else None
            if email:
                subject = f"Fwd: {email.subject}"
                body = f"\n\n---------- Forwarded message ----------\nFrom: {email.sender}\n{email.body}"
        return Response(page("Mail - compose", self._compose_form(to, subject, body), self.nav()))

    def send(self, request: Request) -> Response:
        to, subject, body = request.get("to").strip(), request.get("subject").strip(), request.get("body")
        if "@" not in to or not subject:
            error = '<p class="error" role="alert">A message needs a recipient address and a subject.</p>'
            return Response(page("Mail - compose", self._compose_form(to, subject, body, error), self.nav()))
        self.state.sent.append(Sent(to, subject, body))
        return redirect("/mail/sent")

    def sent_page(self, request: Request) -> Response:
        rows = "".join(f'<div class="item">To {esc(s.to)}: {esc(s.subject)}</div>' for s in self.state.sent)
        return Response(page("Mail - sent", f"<h1>Sent</h1>{rows or '<p>Nothing sent yet.</p>'}", self.nav()))

    def todos_page(self, request: Request) -> Response:
        rows = ""
        for i, todo in enumerate(self.state.todos):
            mark = "done" if todo.done else "open"
            rows += (f'<div class="item">{esc(todo.text)} ({mark}) '
                     f'<form method="post" action="/mail/todos/{i}/done" style="display:inline">'
                     f'<button type="submit" {aid(f"todo-done-{i}")}>Mark done</button></form>'
                     f'<form method="post" action="/mail/todos/{i}/delete" style="display:inline">'
                     f'<button type="submit" {aid(f"todo-delete-{i}")}>Delete</button></form></div>')
        body = (f"<h1>To-do</h1>{rows}<form method='post' action='/mail/todos/add'>"
                f'<label>New item <input name="text" {aid("new-todo")}></label>'
                f'<button type="submit" {aid("add-todo")}>Add</button></form>')
        return Response(page("Mail - to-do", body, self.nav()))

    def add_todo(self, request: Request) -> Response:
        text = request.get("text").strip()
        if text:
            self.state.todos.append(Todo(text))
        return redirect("/mail/todos")

    def todo_action(self, request: Request, index: str, action: str) -> Response:
        i = int(index)
        if 0 <= i < len(self.state.todos):
            if action == "done":
                self.state.todos[i].done = True
            else:
                self.state.todos.pop(i)
        return redirect("/mail/todos")


# ---------------------------------------------------------------------- tasks
KINDS = ["reply", "forward", "delete", "star", "compose", "todo_add", "todo_done", "question"]


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def generate(index: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(f"mail-{seed}-{index}")
    mailbox_seed = rng.randrange(2**31)
    state = build_mailbox(random.Random(mailbox_seed))
    kind = KINDS[index % len(KINDS)]
    email = rng.choice(state.emails)
    others = [p for p in PEOPLE if p[1] != email.address]
    spec: dict[str, Any] = {"kind": kind, "mailbox_seed": mailbox_seed, "mid": email.mid}
    subgoals: list[str]
    open_it = [f'click("email-{email.mid}")']
    if kind == "reply":
        text = rng.choice(REPLIES)
        spec.update(to=email.address, subject=email.subject, text=text)
        goal = f'Reply to the email from {email.sender} about "{email.subject}" with the message: {text}'
        subgoals = ["opened", "composing", "sent"]
        oracle = open_it + ['click("reply")', f'fill("body", "{text}")', 'click("send")']
    elif kind == "forward":
        name, address = rng.choice(others)
        spec.update(to=address, subject=email.subject)
        goal = f'Forward the email "{email.subject}" to {name} ({address}).'
        subgoals = ["opened", "composing", "sent"]
        oracle = open_it + ['click("forward")', f'fill("to", "{address}")', 'click("send")']
    elif kind == "delete":
        goal = f'Delete the email from {email.sender} with the subject "{email.subject}".'
        subgoals = ["opened", "deleted"]
        oracle = open_it + ['click("delete")']
    elif kind == "star":
        goal = f'Star the email from {email.sender} with the subject "{email.subject}".'
        subgoals = ["opened", "starred"]
        oracle = open_it + ['click("star")']
    elif kind == "compose":
        name, address = rng.choice(PEOPLE)
        subject = rng.choice(["Quick question", "Meeting notes", "Follow-up", "Weekend plans", "Thank you"])
        text = rng.choice(REPLIES)
        spec.update(to=address, subject=subject, text=text)
        goal = f'Send a new email to {name} ({address}) with the subject "{subject}" and the message: {text}'
        subgoals = ["composing", "sent"]
        oracle = ['click("nav-compose")', f'fill("to", "{address}")', f'fill("subject", "{subject}")',
                  f'fill("body", "{text}")', 'click("send")']
    elif kind == "todo_add":
        text = rng.choice([t for t in TODOS if t not in [x.text for x in state.todos]])
        spec.update(text=text)
        goal = f'Add the to-do item "{text}".'
        subgoals = ["todos_open", "added"]
        oracle = ['click("nav-todos")', f'fill("new-todo", "{text}")', 'click("add-todo")']
    elif kind == "todo_done":
        i = rng.randrange(len(state.todos))
        spec.update(text=state.todos[i].text)
        goal = f'Mark the to-do item "{state.todos[i].text}" as done.'
        subgoals = ["todos_open", "done"]
        oracle = ['click("nav-todos")', f'click("todo-done-{i}")']
    else:  # question
        room = email.body.split("room ")[1][:3]
        spec.update(answer=room)
        goal = (f'Which room number is mentioned in the email from {email.sender} about "{email.subject}"? '
                f"Reply with answer(\"<number>\").")
        subgoals = ["opened"]
        oracle = open_it + [f'answer("{room}")']
    return {"goal": goal, "spec": spec, "subgoals": subgoals, "oracle": oracle, "start_path": "/mail/"}


def make_app(spec: dict[str, Any]) -> MailApp:
    return MailApp(build_mailbox(random.Random(spec["mailbox_seed"])))


def check(app: MailApp, spec: dict[str, Any], answer: str | None = None) -> tuple[bool, float, set[str], dict[str, Any]]:
    state = app.state
    kind = spec["kind"]
    reached: set[str] = set()
    if spec["mid"] in state.opened:
        reached.add("opened")
    if state.composed:
        reached.add("composing")
    email = next(e for e in state.emails if e.mid == spec["mid"])
    untouched = all(e.folder == "inbox" for e in state.emails if e.mid != spec["mid"])
    success = False
    if kind == "reply":
        success = any(s.to.lower() == spec["to"] and spec["subject"].lower() in s.subject.lower()
                      and norm(spec["text"]) in norm(s.body) for s in state.sent)
    elif kind == "forward":
        success = any(s.to.lower() == spec["to"] and spec["subject"].lower() in s.subject.lower()
                      and norm(email.body) in norm(s.body) for s in state.sent)
    elif kind == "compose":
        success = any(s.to.lower() == spec["to"] and norm(s.subject) == norm(spec["subject"])
                      and norm(spec["text"]) in norm(s.body) for s in state.sent)
    elif kind == "delete":
        success = email.folder == "trash" and untouched
        if success:
            reached.add("deleted")
    elif kind == "star":
        success = email.starred and untouched
        if success:
            reached.add("starred")
    elif kind == "todo_add":
        reached |= {"todos_open"} if any("/todos" in v for v in app.visits) else set()
        success = any(norm(t.text) == norm(spec["text"]) for t in state.todos)
        if success:
            reached.add("added")
    elif kind == "todo_done":
        reached |= {"todos_open"} if any("/todos" in v for v in app.visits) else set()
        success = any(norm(t.text) == norm(spec["text"]) and t.done for t in state.todos)
        if success:
            reached.add("done")
    elif kind == "question":
        success = answer is not None and norm(answer).strip(" .\"'") == spec["answer"]
    if kind in ("reply", "forward", "compose") and success:
        reached.add("sent")
    done = success or (kind in ("reply", "forward", "compose") and bool(state.sent))
    return done, 1.0 if success else 0.0, reached, {"sent": float(len(state.sent))}
