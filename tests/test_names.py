"""Names and rooms compare case-insensitively, end to end, as on IRC."""

from triochat import ChatServer
from triochat.protocol.names import name_key
from triochat.testing import connect


def test_name_key_is_the_one_rule() -> None:
    assert name_key("ALICE") == name_key("alice") == name_key("Alice")
    assert name_key("a.b-c_1") == "a.b-c_1"
    assert name_key("bob") != name_key("b0b")


async def test_a_name_in_another_case_is_taken(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    intruder = await connect(chat_server)
    await intruder.receive_until("Enter your name:")
    await intruder.send("ALICE")
    assert "taken" in await intruder.receive()
    await intruder.send("Alicia")
    await intruder.receive_until("Welcome Alicia. Send QUIT or /quit to disconnect.")
    assert await alice.receive() == "*** Alicia has joined the chat ***"
    await alice.send("/msg ALICIA hello")
    assert await alice.receive() == "[private to Alicia] hello"
    assert await intruder.receive() == "[private] alice: hello"
    await intruder.send("/nick ALICE")
    assert "taken" in await intruder.receive()
    await alice.send("/nick Alice")  # one's own name in another case
    assert await intruder.receive() == "*** alice is now known as Alice ***"


async def test_join_in_another_case_enters_the_same_room(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    bob = await connect(chat_server, "bob")
    await alice.receive()  # bob joined
    await bob.send("/join LOBBY")
    assert await bob.receive() == "*** you are already in #lobby ***"
    await alice.send("/join Dev")
    await alice.receive_until("*** you are in #Dev with 1: alice ***")
    await bob.send("/join DEV")
    await bob.receive_until("*** you are in #Dev with 2: alice, bob ***")
    assert await alice.receive() == "*** bob has joined #Dev ***"
    await bob.send("/rooms")
    rooms = await bob.receive()
    assert "Dev" in rooms and "DEV" not in rooms


async def test_join_an_invalid_room_says_why(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    await alice.send("/join bad room!")
    assert await alice.receive() == "error: room name may only contain letters, digits, '_', '-' and '.'"
    await alice.send("/join")
    assert await alice.receive() == "error: usage: /join ROOM"


async def test_send_message_to_a_room_in_another_case(chat_server: ChatServer) -> None:
    alice = await connect(chat_server, "alice")
    await chat_server.send_message("hello lobby", "bot", room="LOBBY")
    assert await alice.receive() == "bot: hello lobby"
