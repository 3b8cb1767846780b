import pytest

from triochat._hub import Hub, RoomLimitReached


class M:
    def __init__(self) -> None:
        self.name = ""
        self.room: str | None = None
        self.rooms: dict[str, str] = {}


def test_names_are_unique_and_released_only_by_their_owner() -> None:
    hub: Hub[M] = Hub()
    a, b = M(), M()
    assert hub.reserve("x", a)
    assert not hub.reserve("x", b)
    b.name = "x"  # b pretends; releasing it must not free a's name
    hub.release(b)
    assert hub.find("x") is a
    hub.release(a)
    assert hub.find("x") is None
    assert hub.reserve("x", b)


def test_rooms_permanent_and_created_on_demand() -> None:
    hub: Hub[M] = Hub(("lobby", "help"), max_rooms=3)
    a, b = M(), M()
    hub.reserve("a", a)
    hub.reserve("b", b)
    assert hub.enter(a, hub.default_room) is None
    assert hub.default_room == "lobby"
    assert hub.enter(a, "dev") == "lobby"
    assert list(hub.members("dev")) == [a]
    with pytest.raises(RoomLimitReached):
        hub.enter(b, "another")
    assert b.room is None
    hub.enter(b, "lobby")
    assert hub.enter(a, "help") == "dev"
    assert [r for r, _ in hub.room_counts()] == ["lobby", "help"]  # dev vanished when empty
    assert hub.room_counts() == [("lobby", 1), ("help", 1)]
    assert hub.release(a) == ["help"]
    assert hub.room_counts() == [("lobby", 1), ("help", 0)]


def test_rename() -> None:
    hub: Hub[M] = Hub()
    a, b = M(), M()
    hub.reserve("a", a)
    hub.reserve("b", b)
    assert not hub.rename(a, "b")
    assert hub.rename(a, "c")
    assert a.name == "c"
    assert hub.find("a") is None
    assert hub.find("c") is a
    assert hub.name_count == 2


def test_names_compare_case_insensitively_and_keep_their_spelling() -> None:
    hub: Hub[M] = Hub()
    a, b = M(), M()
    assert hub.reserve("Alice", a)
    assert not hub.reserve("ALICE", b)
    assert not hub.reserve("alice", b)
    assert hub.find("aLiCe") is a
    assert a.name == "Alice"
    assert hub.reserve("bob", b)
    assert not hub.rename(b, "alice")
    assert hub.rename(a, "ALICE")  # one's own name in another case
    assert (a.name, hub.name_count) == ("ALICE", 2)
    hub.release(a)
    assert hub.find("alice") is None


def test_rooms_compare_case_insensitively_and_keep_the_first_spelling() -> None:
    hub: Hub[M] = Hub(("lobby", "LOBBY", "Dev"))
    assert hub.permanent_rooms == ("lobby", "Dev")
    a, b = M(), M()
    hub.reserve("a", a)
    hub.reserve("b", b)
    hub.enter(a, "LOBBY")
    assert a.room == "lobby"
    hub.enter(b, "Lobby")
    assert list(hub.members("LoBbY")) == [a, b]
    hub.enter(a, "Ops")
    hub.enter(b, "OPS")
    assert b.room == "Ops"
    assert hub.room_counts() == [("lobby", 0), ("Dev", 0), ("Ops", 2)]
    assert hub.room_name("ops") == "Ops"
    hub.enter(a, "dev")
    hub.enter(b, "DEV")
    assert hub.room_name("ops") is None  # gone when empty, in any spelling
    assert hub.size("dev") == 2


def test_a_member_joins_several_rooms_and_parts_them() -> None:
    dropped: list[str] = []
    hub: Hub[M] = Hub(("lobby",), max_rooms=3, on_drop=dropped.append)
    a, b = M(), M()
    hub.reserve("a", a)
    hub.reserve("b", b)
    assert hub.join(a, "lobby") == "lobby"
    assert hub.join(a, "Dev") == "Dev"
    assert a.room == "Dev" and list(a.rooms.values()) == ["lobby", "Dev"]
    assert hub.join(a, "LOBBY") == "lobby"  # joining again only makes it current
    assert a.room == "lobby" and list(a.rooms.values()) == ["lobby", "Dev"]
    assert list(hub.members("dev")) == [a]
    assert hub.part(b, "dev") is None  # b is not in it
    assert hub.part(a, "nowhere") is None
    assert hub.part(a, "lobby") == "lobby"
    assert a.room == "Dev"  # the room it has left becomes current
    assert hub.part(a, "DEV") == "Dev"
    assert a.room is None and a.rooms == {}
    assert dropped == ["Dev"]  # empty and not permanent: gone
    assert hub.room_counts() == [("lobby", 0)]


def test_enter_moves_and_release_leaves_every_room() -> None:
    hub: Hub[M] = Hub(("lobby",))
    a = M()
    hub.reserve("a", a)
    hub.join(a, "lobby")
    hub.join(a, "x")
    hub.join(a, "y")
    assert hub.enter(a, "z") == "y"  # the one-room view: out of every other room
    assert list(a.rooms.values()) == ["z"]
    assert [r for r, _ in hub.room_counts()] == ["lobby", "z"]
    hub.join(a, "lobby")
    assert hub.release(a) == ["z", "lobby"]
    assert hub.find("a") is None and a.room is None


def test_rooms_with_history_stay_and_make_way_when_full() -> None:
    kept = {"old", "newer"}
    dropped: list[str] = []
    hub: Hub[M] = Hub(("lobby",), max_rooms=3, keep=kept.__contains__, on_drop=dropped.append)
    a = M()
    hub.reserve("a", a)
    for room in ("old", "newer"):
        hub.join(a, room)
        hub.part(a, room)
    assert [r for r, _ in hub.room_counts()] == ["lobby", "old", "newer"]  # kept: they have history
    hub.join(a, "third")  # no room left: the oldest empty one makes way
    assert dropped == ["old"]
    assert [r for r, _ in hub.room_counts()] == ["lobby", "newer", "third"]
    hub.join(a, "fourth")
    assert dropped == ["old", "newer"]
    with pytest.raises(RoomLimitReached):  # no room is empty: none can make way
        hub.join(a, "fifth")
    assert list(a.rooms.values()) == ["third", "fourth"]
