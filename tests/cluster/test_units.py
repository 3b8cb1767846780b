"""The cluster's pure parts: settings, key names, payloads and the local log mirror."""

from __future__ import annotations

import pytest

from triochat import ServerConfig
from triochat._cluster import ClusterLog, codec, keys
from triochat._store import Entry, Position, Record
from triochat.cli.serve import _toml_settings
from triochat.protocol.events import ChatMessage, Joined, Left, PrivateChat, Renamed


def test_settings_are_checked() -> None:
    assert ServerConfig(redis_url="redis://127.0.0.1:6379/0").redis_lease == 10.0
    with pytest.raises(ValueError, match="redis_url"):
        ServerConfig(redis_url="http://example.org")
    with pytest.raises(ValueError, match="redis_lease"):
        ServerConfig(redis_url="redis://x", redis_lease=16)
    with pytest.raises(ValueError, match="redis_lease"):
        ServerConfig(redis_lease=0)
    with pytest.raises(ValueError, match="leave store"):
        ServerConfig(redis_url="redis://x", store="sqlite:chat.db")


def test_the_config_file_spells_it_redis() -> None:
    assert _toml_settings("c.toml", {"redis": "redis://h:1/0", "redis-lease": 5}) == {
        "redis_url": "redis://h:1/0",
        "redis_lease": 5,
    }


def test_a_rooms_keys_share_one_hash_tag() -> None:
    tags = {name.split("{", 1)[1].split("}", 1)[0] for name in (keys.log_key("dev"), keys.meta_key("dev"))}
    assert tags == {"room:dev"}
    assert keys.live_channel("dev").startswith("triochat:{room:dev}")
    assert keys.room_of_channel(keys.live_channel("dev")) == "dev"
    assert keys.room_of_channel(keys.inbox("n1")) is None
    for name in (keys.NAMES, keys.ROOMS, keys.NODES, keys.members_key("dev"), keys.lease_key("n1")):
        assert "{g}" in name


def test_payloads_round_trip() -> None:
    message = ChatMessage(7, 1.5, "alice", "Dev", "hi\nthere \x1b[31m", agent=True, action=False)
    body = codec.encode_entry(message, "n1")
    published = codec.decode_live_message(f"m 12 ep {body}")
    assert published.origin == "n1"
    assert published.record == Record("Dev", "ep", 12, Entry("alice", "hi\nthere \x1b[31m", 1.5, True, False))
    for event, rooms in (
        (Joined("bob", "dev", True), ("dev", "lobby")),
        (Left("bob", "dev", True, "connection lost"), ()),
        (Renamed("bob", "robert"), ("dev",)),
    ):
        assert codec.decode_presence(codec.encode_presence(event, "n2", rooms)) == (event, "n2", rooms)
    item = PrivateChat("alice", "bob", "psst")
    assert codec.decode_direct(codec.encode_direct(item)) == item


@pytest.mark.parametrize("data", ["", "m x ep {}", "m 1 ep not json", "m 1 ep []", "p {}", 'd {"f": 1}', "q"])
def test_bad_payloads_are_refused_not_raised_through(data: str) -> None:
    for decode in (codec.decode_live_message, codec.decode_presence, codec.decode_direct):
        with pytest.raises(codec.BadPayload):
            decode(data)


def _record(seq: int, epoch: str = "ep") -> Record:
    return Record("Dev", epoch, seq, Entry("a", f"m{seq}", 0.0))


def test_the_log_mirror_keeps_the_next_message_only() -> None:
    log = ClusterLog(history_size=3)
    assert not log.deliver(_record(1))  # not loaded: nothing to continue
    log.load("DEV", "ep", 2, [_record(1), _record(2)])
    assert log.position("dev") == Position("ep", 2)
    assert not log.deliver(_record(2))  # a duplicate
    assert not log.deliver(_record(4))  # a gap: the follower repairs it first
    assert not log.deliver(_record(3, "other"))  # another epoch
    assert log.deliver(_record(3)) and log.deliver(_record(4))
    assert [r.seq for r in log.recent("Dev", 10)] == [2, 3, 4]  # history_size 3
    recovery = log.since("dev", Position("ep", 2))
    assert recovery.recovered and [r.seq for r in recovery.records] == [3, 4]
    assert not log.since("dev", Position("ep", 0)).recovered  # too old
    log.discard("Dev")
    assert not log.loaded("dev")
    with pytest.raises(RuntimeError):
        log.append("dev", Entry("a", "b", 0.0))


def test_a_password_in_the_redis_url_is_never_shown() -> None:
    from triochat._cluster.link import shown_url

    assert shown_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert shown_url("rediss://app:s3cret@redis.internal/2") == "rediss://app:***@redis.internal/2"
    assert shown_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
