import pytest

from triochat.protocol import commands as c
from triochat.protocol.names import name_problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", c.Say("hello")),
        ("  ", None),
        ("", None),
        ("QUIT", c.Quit()),
        ("/quit", c.Quit()),
        ("/QUIT", c.Quit()),
        ("/help", c.Help()),
        ("/who", c.Who()),
        ("/rooms", c.ListRooms()),
        ("/me waves hello", c.Action("waves hello")),
        ("/msg bob see you", c.PrivateMessage("bob", "see you")),
        ("/join dev", c.JoinRoom("dev")),
        ("/join #dev", c.JoinRoom("dev")),
        ("/nick al.ice", c.Nick("al.ice")),
        ("//not a command", c.Say("/not a command")),
        ("quit", c.Say("quit")),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert c.parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/frobnicate", "unknown command /frobnicate"),
        ("/msg bob", "usage: /msg NAME text"),
        ("/msg", "usage: /msg NAME text"),
        ("/me", "usage: /me text"),
        ("/join", "usage: /join ROOM"),
        ("/join a b", "room name may only contain"),
        ("/join bad room!", "room name may only contain"),
        ("/join b@d", "room name may only contain"),
        ("/nick", "usage: /nick NEW"),
        ("/nick " + "x" * 33, "longer than 32"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    result = c.parse_command(text)
    assert isinstance(result, c.CommandError)
    assert fragment in result.message


@pytest.mark.parametrize("name", ["a", "alice", "Bob_2", "x-y.z", "x" * 32])
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("name", ["", "x" * 33, "has space", "caf\u00e9", "a/b", "emoji\U0001f600"])
def test_invalid_names(name: str) -> None:
    assert name_problem(name) is not None
