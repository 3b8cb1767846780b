"""The Lua scripts: each one a step that must happen atomically in Redis."""

from __future__ import annotations

PUBLISH = """
-- KEYS: meta, log.  ARGV: epoch if the room has none, stream cap, body, channel.
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local epoch = ARGV[1]
if redis.call('HSETNX', KEYS[1], 'epoch', epoch) == 0 then
  epoch = redis.call('HGET', KEYS[1], 'epoch')
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'e', epoch, 'm', ARGV[3])
redis.call('PUBLISH', ARGV[4], 'm ' .. seq .. ' ' .. epoch .. ' ' .. ARGV[3])
return seq
"""
"""Give a message its room's next seq, log it and publish it.

One EVALSHA; inside, HINCRBY, HSETNX, HGET (HSETNX alone for a room's first
message), XADD and PUBLISH."""

CLAIM = """
-- KEYS: names, the node's names.  ARGV: name key, node.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[1])
  return 1
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return 2
end
return 0
"""
"""Take a name for a node: 1 taken now, 2 the node had it already, 0 another node has it."""

RELEASE = """
-- KEYS: names, the node's names.  ARGV: name key, node.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('SREM', KEYS[2], ARGV[1])
return 0
"""
"""Free a name if this node holds it."""

JOIN = """
-- KEYS: members, rooms, the node's rooms.  ARGV: user key, 'NODE NAME', room key, room display.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[3])
return 0
"""
"""Record that a user is in a room."""

PART = """
-- KEYS: members, rooms.  ARGV: user key, room key, node.
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, string.len(ARGV[3]) + 1) == ARGV[3] .. ' ' then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 0
"""
"""Record that a user (of this node) left a room; forget the room once it is empty."""

ROOM_LIST = """
-- KEYS: rooms.  ARGV: members key prefix, the asking node.
local out = {}
local mark = ARGV[2] .. ' '
local rooms = redis.call('HGETALL', KEYS[1])
for i = 1, #rooms, 2 do
  local count = 0
  for _, value in ipairs(redis.call('HVALS', ARGV[1] .. rooms[i])) do
    if string.sub(value, 1, string.len(mark)) ~= mark then
      count = count + 1
    end
  end
  out[#out + 1] = rooms[i + 1]
  out[#out + 1] = count
end
return out
"""
"""Every room with members and how many on other nodes than the asking one: ``[display, count, ...]``."""

REAP = """
-- KEYS: names, rooms, nodes, the node's lease, its names, its rooms.
-- ARGV: node, members key prefix, 1 to reap even if the lease is still there.
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {}
end
redis.call('DEL', KEYS[4])
local mark = ARGV[1] .. ' '
for _, key in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  if redis.call('HGET', KEYS[1], key) == ARGV[1] then
    redis.call('HDEL', KEYS[1], key)
  end
end
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  local members = ARGV[2] .. room
  local display = redis.call('HGET', KEYS[2], room) or room
  local entries = redis.call('HGETALL', members)
  for i = 1, #entries, 2 do
    local value = entries[i + 1]
    if string.sub(value, 1, string.len(mark)) == mark then
      redis.call('HDEL', members, entries[i])
      out[#out + 1] = room
      out[#out + 1] = display
      out[#out + 1] = string.sub(value, string.len(mark) + 1)
    end
  end
  if redis.call('HLEN', members) == 0 then
    redis.call('HDEL', KEYS[2], room)
  end
end
redis.call('DEL', KEYS[5], KEYS[6])
redis.call('SREM', KEYS[3], ARGV[1])
return out
"""
"""Remove a dead node's names and memberships, once: ``[room key, room, user, ...]`` it removed."""

ALL = (PUBLISH, CLAIM, RELEASE, JOIN, PART, ROOM_LIST, REAP)
"""Every script, loaded at the start of each Redis session."""
