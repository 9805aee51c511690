"""The mail app's world and tasks: a mailbox and to-do list generated from a seed, and goals.

Each task's mailbox is built from its `mailbox_seed` (`build_mailbox`). Task kinds: reply,
forward, delete, star, compose, add a to-do, complete a to-do, and a question answered with
`answer(text)`. The mail web app and the success checks live in envs/web/apps/mail.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

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
KINDS = ["reply", "forward", "delete", "star", "compose", "todo_add", "todo_done", "question"]


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


def generate(index: int, seed: int = 0) -> dict[str, Any]:
    """Task `index` of the mail suite (its kind is `KINDS[index % 8]`): goal, spec, subgoals, oracle."""
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
