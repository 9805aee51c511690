"""The web text grammar: a strict whitelist parser (no browser needed)."""

import pytest

from agentgym.envs.web.actions import ActionSyntaxError, attempts_action, parse_call, parse_text_action
from agentgym.envs.web.suite import url_allowed


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ('click("12")', "click", {"id": "12"}),
        ("click(12)", "click", {"id": "12"}),
        ('fill("5", "hello, world")', "fill", {"id": "5", "text": "hello, world"}),
        ("fill(id='5', text='x')", "fill", {"id": "5", "text": "x"}),
        ('select("3", option="Red")', "select", {"id": "3", "option": "Red"}),
        ('press("Enter")', "press", {"key": "Enter"}),
        ('scroll("down")', "scroll", {"direction": "down"}),
        ("go_back()", "go_back", {}),
        ('answer("42")', "answer", {"text": "42"}),
        ('```\nclick("7")\n```', "click", {"id": "7"}),
        ('Action: click("7")', "click", {"id": "7"}),
    ],
)
def test_grammar_accepts(text, name, arguments):
    call = parse_call(text)
    assert call.name == name
    assert call.arguments == arguments


@pytest.mark.parametrize(
    "text",
    [
        "click(12",  # syntax error
        '__import__("os").system("ls")',  # attribute call
        'os.system("ls")',
        'eval("1")',  # not whitelisted
        "click(x)",  # a name, not a literal
        'click("1" + "2")',  # an expression
        'click("1", "2")',  # too many positional arguments
        'click(id="1", id2="2")',
        'click("1"); click("2")',
        "click(True)",
        "[click('1')]",
        "",
    ],
)
def test_grammar_rejects(text):
    with pytest.raises(ActionSyntaxError):
        parse_call(text)


def test_last_line_is_tried_after_thoughts():
    call = parse_text_action('The submit button has id 4, so I click it.\nclick("4")')
    assert call.name == "click" and call.arguments == {"id": "4"}
    with pytest.raises(ActionSyntaxError):
        parse_text_action("I am not sure what to do.")


def test_url_allowed():
    allowed = ["http://127.0.0.1:8123"]
    assert url_allowed("http://127.0.0.1:8123/shop/cart", allowed)
    assert not url_allowed("http://127.0.0.1:9999/shop/cart", allowed)
    assert not url_allowed("https://example.com/", allowed)
    assert not url_allowed("javascript:alert(1)", allowed)
    assert not url_allowed("file:///etc/passwd", allowed)
    files = ["file:///opt/miniwob/html/miniwob/click-button.html"]
    assert url_allowed("file:///opt/miniwob/html/miniwob/click-button.html", files)
    assert not url_allowed("file:///opt/miniwob/html/miniwob/click-link.html", files)


@pytest.mark.parametrize(
    ("text", "attempted"),
    [('click("12"', True), ('I will click it.\nfill("3")x', True), ("click the button", False),
     ("I am not sure what to do.", False), ('__import__("os")', False)],
)
def test_a_broken_action_is_told_from_prose(text, attempted):
    """A reply that starts like an action but breaks the grammar is a malformed action
    (ActionParseError); prose without an action gets the env's no-call message."""
    assert attempts_action(text) is attempted
