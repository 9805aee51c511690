"""A mail + to-do app: inbox, message pages (reply, forward, delete, star), compose, to-do list.

Each episode's mailbox is built from the task's `mailbox_seed`; the mailbox, the task kinds and
the goals are task data (`agentgym.tasks.web.apps.mail`). The checks below grade the app's state,
side effects included: starring, deleting or completing every item does not pass for the one the
goal names (the rest must be as the mailbox's seed built it).
"""

from __future__ import annotations

import random
from typing import Any

from agentgym.tasks.web.apps.mail import Email, MailState, Sent, Todo, build_mailbox

from .server import App, Request, Response, aid, esc, page, redirect


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


# ---------------------------------------------------------------------- grading
def norm(text: str) -> str:
    return " ".join(text.lower().split())


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
    initial = build_mailbox(random.Random(spec["mailbox_seed"]))
    # the other emails as they were (not deleted, not starred): starring or deleting every email
    # does not pass for starring or deleting the one the goal names
    before = {e.mid: (e.folder, e.starred) for e in initial.emails}
    untouched = all((e.folder, e.starred) == before.get(e.mid) for e in state.emails if e.mid != spec["mid"])
    todos_before = [(norm(t.text), t.done) for t in initial.todos]
    todos_now = [(norm(t.text), t.done) for t in state.todos]
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
        success = email.starred and email.folder == "inbox" and untouched
        if success:
            reached.add("starred")
    elif kind == "todo_add":
        reached |= {"todos_open"} if any("/todos" in v for v in app.visits) else set()
        # the item added once, the list otherwise as it was
        success = sorted(todos_now) == sorted(todos_before + [(norm(spec["text"]), False)])
        if success:
            reached.add("added")
    elif kind == "todo_done":
        reached |= {"todos_open"} if any("/todos" in v for v in app.visits) else set()
        # that item done, every other item as it was (marking every item done does not pass)
        target = norm(spec["text"])
        success = todos_now == [(text, done or text == target) for text, done in todos_before]
        if success:
            reached.add("done")
    elif kind == "question":
        success = answer is not None and norm(answer).strip(" .\"'") == spec["answer"]
    if kind in ("reply", "forward", "compose") and success:
        reached.add("sent")
    done = success or (kind in ("reply", "forward", "compose") and bool(state.sent))
    return done, 1.0 if success else 0.0, reached, {"sent": float(len(state.sent))}
