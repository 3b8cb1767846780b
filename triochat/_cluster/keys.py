"""Every Redis key and channel name the cluster uses, in one place.

A room's keys share the hash tag ``{room:KEY}``, so a Redis Cluster keeps
them on one shard (its messages' scripts touch only that shard).  Names,
memberships, the room list and the nodes' leases share the tag ``{g}``: a
login, a join and the removal of a dead node's users are each one script on
one shard.  ``KEY`` is :func:`~triochat.protocol.names.name_key` of the name.
"""

from __future__ import annotations

PREFIX = "triochat"
GLOBAL = f"{PREFIX}:{{g}}"

NAMES = f"{GLOBAL}:names"
"""Hash: user name key -> the id of the node that holds the user."""
ROOMS = f"{GLOBAL}:rooms"
"""Hash: room key -> the room's displayed spelling (rooms with members)."""
NODES = f"{GLOBAL}:nodes"
"""Set: the ids of the nodes that registered (alive or not yet reaped)."""
MEMBERS_PREFIX = f"{GLOBAL}:members:"
"""Followed by a room key: hash user name key -> ``NODE NAME`` (who is in the room, where)."""


def room_tag(room_key: str) -> str:
    """The common part of one room's keys, with its hash tag."""
    return f"{PREFIX}:{{room:{room_key}}}"


def log_key(room_key: str) -> str:
    """Stream: the room's messages; entry id ``SEQ-0``, fields ``e`` (epoch) and ``m`` (body)."""
    return f"{room_tag(room_key)}:log"


def meta_key(room_key: str) -> str:
    """Hash: the room's ``seq`` (last given) and ``epoch``."""
    return f"{room_tag(room_key)}:meta"


def live_channel(room_key: str) -> str:
    """Pub/sub channel: the room's messages and presence, as they happen."""
    return f"{room_tag(room_key)}:live"


def room_of_channel(channel: str) -> str | None:
    """The room key of a :func:`live_channel` name, or ``None``."""
    head = f"{PREFIX}:{{room:"
    tail = "}:live"
    if channel.startswith(head) and channel.endswith(tail):
        return channel[len(head) : -len(tail)]
    return None


def members_key(room_key: str) -> str:
    """Hash: the room's members cluster-wide (see :data:`MEMBERS_PREFIX`)."""
    return MEMBERS_PREFIX + room_key


def node_names(node: str) -> str:
    """Set: the name keys *node* holds (for its removal when it dies)."""
    return f"{GLOBAL}:node:{node}:names"


def node_rooms(node: str) -> str:
    """Set: the room keys where *node* has (or had) members."""
    return f"{GLOBAL}:node:{node}:rooms"


def lease_key(node: str) -> str:
    """String with a time to live: *node* is alive while it exists."""
    return f"{GLOBAL}:lease:{node}"


def inbox(node: str) -> str:
    """Pub/sub channel: private messages for users on *node*."""
    return f"{PREFIX}:node:{node}:inbox"


BANS = f"{GLOBAL}:bans"
"""Hash: banned name key -> the ban (JSON, see :func:`~.codec.encode_ban`)."""
MODERATION = f"{PREFIX}:moderation"
"""Pub/sub channel: bans and unbans, to every node (a ban's name has no room)."""


def topic_key(room_key: str) -> str:
    """String: the room's topic (JSON, see :func:`~.codec.encode_topic`), beside its log."""
    return f"{room_tag(room_key)}:topic"
