"""Properties of the command parser (commands.py): any input, a command or a clear error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from triochat.protocol import commands as c
from triochat.protocol.names import name_problem

from .protocol_strategies import PROPERTIES, hostile_text, names

COMMAND_TYPES = (
    c.Say, c.Action, c.PrivateMessage, c.JoinRoom, c.Part, c.ListRooms, c.Who, c.Nick, c.Help, c.Quit,
)  # fmt: skip
verbs = st.sampled_from(
    ["/me", "/msg", "/join", "/part", "/nick", "/who", "/rooms", "/help", "/quit", "/x", "//"]
)


@PROPERTIES
@given(st.one_of(hostile_text, st.builds(lambda v, s: f"{v} {s}", verbs, hostile_text)))
def test_any_input_is_a_command_an_error_or_nothing(line: str) -> None:
    result = c.parse_command(line)
    if result is None:
        assert not line.strip()
        return
    assert isinstance(result, (*COMMAND_TYPES, c.CommandError))
    if isinstance(result, c.CommandError):
        assert result.message
    elif isinstance(result, c.Say):
        assert result.text in (line, line[1:])
        assert result.text.strip()
    elif isinstance(result, c.JoinRoom):
        assert name_problem(result.room, what="room name") is None
    elif isinstance(result, c.Part):
        assert result.room is None or name_problem(result.room, what="room name") is None
    elif isinstance(result, c.Nick):
        assert name_problem(result.name) is None
    elif isinstance(result, c.Action | c.PrivateMessage):
        assert result.text.strip() and result.text in line


@PROPERTIES
@given(hostile_text.filter(lambda s: s.strip() and s.lstrip() == s and s != "QUIT"))
def test_plain_text_and_escaped_slashes_are_said_as_typed(said: str) -> None:
    typed = "/" + said if said.startswith("/") else said
    assert c.parse_command(typed) == c.Say(said)


@PROPERTIES
@given(names, names, hostile_text.filter(lambda s: s.strip() == s and s and " " not in s[:1]))
def test_commands_with_arguments_round_trip(name: str, room: str, body: str) -> None:
    assert c.parse_command(f"/nick {name}") == c.Nick(name)
    assert c.parse_command(f"/join #{room}") == c.JoinRoom(room)
    assert c.parse_command(f"/part #{room}") == c.parse_command(f"/PART {room}") == c.Part(room)
    assert c.parse_command("/part") == c.Part()
    assert c.parse_command(f"/me {body}") == c.Action(body)
    assert c.parse_command(f"/msg {name} {body}") == c.PrivateMessage(name, body)
