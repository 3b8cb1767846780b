"""What travels through Redis: message bodies, presence and private messages.

Bodies are compact JSON.  On a room's channel a message is
``m SEQ EPOCH BODY`` (built by the publish script, which alone knows the
seq), a presence event ``p BODY`` and a topic change ``t BODY``; a node's
inbox carries ``d BODY``, the moderation channel ``b BODY`` (a ban or an
unban).  The values kept in Redis for bans and topics are the same bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._store import BanEntry, Entry, Record, TopicEntry
from ..protocol.events import ChatMessage, Joined, Left, PrivateChat, Renamed


class BadPayload(ValueError):
    """A payload this node cannot read (another version, or not ours)."""


def encode_entry(message: ChatMessage, origin: str) -> str:
    """The body of a chat message published by node *origin*."""
    return json.dumps(
        {
            "r": message.room,
            "s": message.sender,
            "c": message.content,
            "t": message.timestamp,
            "a": message.agent,
            "x": message.action,
            "o": origin,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


@dataclass(frozen=True, slots=True)
class Published:
    """A chat message as read back from Redis."""

    record: Record
    origin: str


def _object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadPayload(str(exc)) from None
    if not isinstance(data, dict):
        raise BadPayload("not an object")
    return data


def decode_entry(seq: int, epoch: str, body: str) -> Published:
    """A logged or live message at *seq* of *epoch*."""
    data = _object(body)
    try:
        entry = Entry(str(data["s"]), str(data["c"]), float(data["t"]), bool(data["a"]), bool(data["x"]))
        return Published(Record(str(data["r"]), epoch, seq, entry), str(data.get("o", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"bad message body: {exc}") from None


def decode_live_message(data: str) -> Published:
    """``m SEQ EPOCH BODY`` from a room's channel."""
    parts = data.split(" ", 3)
    if len(parts) != 4 or parts[0] != "m" or not parts[1].isdigit():
        raise BadPayload("not a message")
    return decode_entry(int(parts[1]), parts[2], parts[3])


PresenceEvent = Joined | Left | Renamed


def encode_presence(event: PresenceEvent, origin: str, rooms: tuple[str, ...] = ()) -> str:
    """``p BODY``: someone came, went or changed name, on node *origin*.

    For a rename, a login or a logout, *rooms* are the keys of all the rooms
    it concerns (see ``Presence``)."""
    if isinstance(event, Joined):
        data: dict[str, Any] = {"k": "j", "n": event.name, "r": event.room, "l": event.login}
    elif isinstance(event, Left):
        data = {"k": "l", "n": event.name, "r": event.room, "l": event.logout, "w": event.reason}
    else:
        data = {"k": "n", "n": event.old, "to": event.new}
    data["o"] = origin
    data["rs"] = list(rooms)
    return "p " + json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_presence(data: str) -> tuple[PresenceEvent, str, tuple[str, ...]]:
    """The event of a ``p BODY`` payload, the node it happened on, and a rename's rooms."""
    if not data.startswith("p "):
        raise BadPayload("not presence")
    obj = _object(data[2:])
    try:
        kind = obj["k"]
        origin = str(obj["o"])
        rooms = tuple(str(r) for r in obj.get("rs", ()))
        if kind == "j":
            return Joined(str(obj["n"]), str(obj["r"]), bool(obj["l"])), origin, rooms
        if kind == "l":
            reason = obj.get("w")
            left = Left(str(obj["n"]), str(obj["r"]), bool(obj["l"]), None if reason is None else str(reason))
            return left, origin, rooms
        if kind == "n":
            return Renamed(str(obj["n"]), str(obj["to"])), origin, rooms
    except (KeyError, TypeError) as exc:
        raise BadPayload(f"bad presence: {exc}") from None
    raise BadPayload(f"unknown presence kind {kind!r}")


def encode_direct(item: PrivateChat) -> str:
    """``d BODY``: a private message for a user on another node."""
    return "d " + json.dumps(
        {"f": item.sender, "t": item.target, "c": item.content, "a": item.agent},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode_direct(data: str) -> PrivateChat:
    """The private message of a ``d BODY`` payload."""
    if not data.startswith("d "):
        raise BadPayload("not a private message")
    obj = _object(data[2:])
    try:
        return PrivateChat(str(obj["f"]), str(obj["t"]), str(obj["c"]), agent=bool(obj["a"]))
    except (KeyError, TypeError) as exc:
        raise BadPayload(f"bad private message: {exc}") from None


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def encode_ban(key: str, ban: BanEntry | None, origin: str) -> str:
    """``b BODY``: the ban on the name *key* is now *ban* (``None``: lifted), set on node *origin*."""
    data: dict[str, Any] = {"k": key, "o": origin}
    if ban is not None:
        data.update(n=ban.name, by=ban.by, w=ban.reason, s=ban.since, u=ban.until)
    return "b " + _dumps(data)


def decode_ban(data: str) -> tuple[str, BanEntry | None, str]:
    """The name key, the ban (``None``: lifted) and the origin of a ``b BODY`` payload or value."""
    if not data.startswith("b "):
        raise BadPayload("not a ban")
    obj = _object(data[2:])
    try:
        key, origin = str(obj["k"]), str(obj["o"])
        if "n" not in obj:
            return key, None, origin
        reason, until = obj["w"], obj["u"]
        ban = BanEntry(
            str(obj["n"]),
            str(obj["by"]),
            None if reason is None else str(reason),
            float(obj["s"]),
            None if until is None else float(until),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"bad ban: {exc}") from None
    return key, ban, origin


def encode_topic(topic: TopicEntry | None, origin: str) -> str:
    """``t BODY``: the room's topic is now *topic* (``None``: cleared), set on node *origin*."""
    data: dict[str, Any] = {"o": origin}
    if topic is not None:
        data.update(r=topic.room, c=topic.text, by=topic.by, s=topic.since)
    return "t " + _dumps(data)


def decode_topic(data: str) -> tuple[TopicEntry | None, str]:
    """The topic (``None``: cleared) and the origin of a ``t BODY`` payload or value."""
    if not data.startswith("t "):
        raise BadPayload("not a topic")
    obj = _object(data[2:])
    try:
        origin = str(obj["o"])
        if "c" not in obj:
            return None, origin
        return TopicEntry(str(obj["r"]), str(obj["c"]), str(obj["by"]), float(obj["s"])), origin
    except (KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"bad topic: {exc}") from None
