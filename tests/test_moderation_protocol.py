"""Moderation in the sans-I/O protocol: durations, commands, frames, and the store's tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat._store import BanEntry, Entry, TopicEntry, open_sqlite_store
from triochat.protocol import commands, gtwire, jsonwire, linewire, v2wire
from triochat.protocol.durations import MAX_DURATION, format_duration, parse_duration
from triochat.protocol.events import Moderated, RoomTopic


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0), ("1D", 86400.0), ("366d", MAX_DURATION)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "1.5h", "-1m", "0s", "367d", "1h30m", "10 m", "9999999999s"])
def test_bad_durations_say_why(text: str) -> None:
    problem = parse_duration(text)
    assert isinstance(problem, str) and problem.startswith(f"bad duration {text!r}")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.2, "1s"),
        (59, "59s"),
        (60, "1m"),
        (61, "2m"),
        (3600, "1h"),
        (3660, "1h 1m"),
        (86400, "1d"),
        (90000, "1d 1h"),
    ],
)
def test_durations_read_well_and_never_as_zero(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


@given(st.integers(1, 999), st.sampled_from("smhd"))
def test_every_parsed_duration_is_shown_as_a_time(number: int, unit: str) -> None:
    seconds = parse_duration(f"{number}{unit}")
    if isinstance(seconds, float):
        assert format_duration(seconds)[-1] in "smhd"


MODERATION_COMMANDS: list[commands.ModerationCommand] = [
    commands.Kick("bob"),
    commands.Kick("bob", "too loud"),
    commands.Ban("bob"),
    commands.Ban("bob", 600.0, "spam"),
    commands.Unban("bob"),
    commands.Mute("bob"),
    commands.Mute("bob", 30.0, "dev"),
    commands.Unmute("bob", "dev"),
    commands.Topic(),
    commands.Topic("hello", "lobby"),
    commands.Topic(""),
]


@pytest.mark.parametrize("command", MODERATION_COMMANDS)
def test_client_frames_round_trip_in_both_versions(command: commands.ModerationCommand) -> None:
    assert jsonwire.decode_client_frame(jsonwire.encode_client_frame(command)) == command
    assert v2wire.decode_client_frame_v2(v2wire.encode_client_frame_v2(command)) == command


def test_slash_commands_parse_as_the_frames_do() -> None:
    assert commands.parse_command("/kick bob too loud") == commands.Kick("bob", "too loud")
    assert commands.parse_command("/BAN bob 10m spam") == commands.Ban("bob", 600.0, "spam")
    assert commands.parse_command("/ban bob spam and eggs") == commands.Ban("bob", None, "spam and eggs")
    assert commands.parse_command("/mute bob 30s") == commands.Mute("bob", 30.0)
    assert commands.parse_command("/unmute bob") == commands.Unmute("bob")
    assert commands.parse_command("/topic") == commands.Topic()
    assert commands.parse_command("/topic -") == commands.Topic("")
    assert commands.parse_command("/topic  a b ") == commands.Topic("a b")


EVENTS = [
    Moderated("kick", "alice", "op", "spam"),
    Moderated("ban", "alice", "op", None, 7200.0),
    Moderated("unban", "alice", "op"),
    Moderated("mute", "alice", "op", None, None, "dev"),
    Moderated("unmute", "alice", "server", None, None, "dev"),
    RoomTopic("lobby", "hello"),
    RoomTopic("lobby", "", "op"),
]


@pytest.mark.parametrize("event", EVENTS)
def test_events_round_trip_in_both_versions(event: Moderated | RoomTopic) -> None:
    assert jsonwire.decode_event(jsonwire.encode_event(event)) == event
    assert v2wire.decode_event_v2(v2wire.encode_event_v2(event)) == event


def test_events_read_as_one_notice_line_everywhere() -> None:
    assert linewire.event_lines(Moderated("ban", "alice", "op", "spam", 7200.0)) == [
        "*** alice was banned by op for 2h (spam) ***"
    ]
    assert linewire.event_lines(Moderated("mute", "alice", "op", None, None, "dev")) == [
        "*** alice was muted in #dev by op until unmuted ***"
    ]
    assert linewire.event_lines(RoomTopic("lobby", "hi\nthere")) == ["*** topic of #lobby: hi\\nthere ***"]
    assert gtwire.event_text(Moderated("kick", "alice", "op")) == (
        '{"type":"chat_message","content":"*** alice was kicked by op ***","sender":"server",'
        '"agent":true,"code":"moderation"}'
    )


def test_malformed_moderation_frames_from_a_server_are_frame_errors() -> None:
    bad = jsonwire.decode_event('{"type":"moderation","action":"kick","name":"a","by":"b","duration":"x"}')
    assert isinstance(bad, jsonwire.FrameError) and bad.code == "bad_frame"
    bad = jsonwire.decode_event('{"type":"topic","room":"lobby"}')
    assert isinstance(bad, jsonwire.FrameError)


# -- the SQLite store's tables --------------------------------------------------------------------


async def test_bans_and_topics_are_kept_in_the_sqlite_file(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    ban = BanEntry("Alice", "op", "spam", 1000.0, None)
    async with open_sqlite_store(path) as store:
        assert store.moderation() == ({}, {})
        store.save_ban("alice", ban)
        store.save_ban("bob", BanEntry("bob", "op", None, 1000.0, 2000.0))  # long expired
        store.save_ban("carol", BanEntry("carol", "op", None, 1000.0, None))
        store.save_ban("carol", None)
        store.save_topic("lobby", TopicEntry("lobby", "hi", "op", 1000.0))
        await store.end_batch().wait()
    async with open_sqlite_store(path) as store:
        bans, topics = store.moderation()
        assert bans == {"alice": ban}
        assert topics == {"lobby": TopicEntry("lobby", "hi", "op", 1000.0)}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name_key FROM bans").fetchall() == [("alice",)]  # the expired one is gone
    conn.close()


async def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    async with open_sqlite_store(path) as store:
        store_entry = Entry("alice", "hi", 1000.0)
        store.append("lobby", store_entry)
        await store.end_batch().wait()
    # Make it what version 1 wrote: no moderation tables.
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE bans")
    conn.execute("DROP TABLE topics")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    async with open_sqlite_store(path) as store:
        assert [r.entry for r in store.recent("lobby", 10)] == [store_entry]
        store.save_ban("x", BanEntry("x", "op", None, 1.0, None))
        await store.end_batch().wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT name FROM bans").fetchall() == [("x",)]
    conn.close()


@pytest.mark.parametrize("command", [c for c in MODERATION_COMMANDS if getattr(c, "room", None) is None])
def test_the_line_a_client_sends_reads_back_as_the_command(command: commands.ModerationCommand) -> None:
    assert commands.parse_command(commands.moderation_line(command)) == command


@given(
    st.sampled_from([None, 30.0, 600.0, 7200.0, 86400.0, 90.0, 1.5]),
    st.text(st.characters(categories=["L", "N", "P", "Zs"]), max_size=40),
)
def test_ban_lines_round_trip(duration: float | None, reason: str) -> None:
    reason = reason.strip() or "x"
    if " " * 2 in reason:
        reason = " ".join(reason.split())
    command = commands.Ban("bob", duration, reason)
    try:
        line = commands.moderation_line(command)
    except ValueError:
        assert duration is None and reason[0].isdigit()
        return
    expected = commands.Ban("bob", None if duration is None else float(max(1, -(-duration // 1))), reason)
    assert commands.parse_command(line) == expected


def test_what_a_line_cannot_say_is_refused() -> None:
    with pytest.raises(ValueError, match="current room"):
        commands.moderation_line(commands.Mute("bob", None, "dev"))
    with pytest.raises(ValueError, match="needs a duration"):
        commands.moderation_line(commands.Ban("bob", None, "5 posts of spam"))
    assert commands.moderation_line(commands.Ban("bob", 60.0, "5 posts")) == "/ban bob 1m 5 posts"
    assert commands.moderation_line(commands.Kick("bob", "5 posts")) == "/kick bob 5 posts"
