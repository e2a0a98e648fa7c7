"""The ACD's shared state in Redis: queues, call entries, agent presence and reservations.

Everything that must never happen twice (two processes reserving the same agent or the same call, an agent
changing state while being reserved) is one Lua script, so it runs atomically on the Redis server. Web processes,
workers and restarts all see the same queues. This module knows nothing about the database; routing.py and
agent_state.py add the CRM, the state-machine rules, the durable log and the domain events.

Key layout (single Redis node; the scripts derive keys from ids, so Redis Cluster is not supported):

    cc:queuecfg:{queue_id}        JSON: required skills {skill_id: min_level}, reservation timeout, wrap-up, sticky
    cc:queues                     set of queue ids that have a config (what dispatch looks at)
    cc:queue:{queue_id}           zset of WAITING entry ids, score = -priority * 1e13 + enqueued_at_ms
                                  (higher priority first, FIFO within a priority; lowest score is next)
    cc:queue:{queue_id}:entries   zset of every entry in the queue (waiting or reserved) -> enqueued_at, for stats
    cc:call:{entry_id}            hash: status (waiting|reserved|connected), queue_id, priority, score, enqueued_at,
                                  from, contact_id, skills (extra per-call requirements, JSON), payload (JSON),
                                  callback ("1"), sticky_agent_id, sticky_until, agent_id, expires_at, declined,
                                  blocked (index versions when no offerable agent could take it), language (the
                                  caller's chosen locale, "zh_Hans"; its `language:` skill is in `skills`)
    cc:callback:{queue_id}:{e164} the one open callback entry for that number in that queue
    cc:reservations               zset entry id -> reservation expires_at
    cc:agent:{agent_id}           hash: state, since, reason, idle_since, skills (JSON {skill_id: level}),
                                  unreachable ("1"), disconnected_at, reservation, current_call, wrap_up_until,
                                  indexed
    cc:agents:available           zset agent id -> idle_since of every OFFERABLE agent (available, reachable,
                                  connected, not reserved); lowest score = longest idle. Every script that touches
                                  an agent re-derives membership (sync_available), so it never drifts.
    cc:agents:available:skill:{skill_id}:{level}
                                  zset agent id -> idle_since of every offerable agent whose level in that skill
                                  is at least {level} (1..10): the longest-idle agent meeting a minimum is the
                                  head of one set. Maintained by sync_available with AVAILABLE; the agent hash
                                  field `indexed` (idle_since|skills) says what the agent is indexed under
    cc:agents:index_versions      hash index set -> how many times an agent joined it; a waiting entry nobody
                                  could take keeps those numbers in its `blocked` field and is not walked again
                                  until one changes
    cc:queues:heads               zset queue id -> score of its best waiting entry: a decision opens queues in
                                  this order and stops once no unopened queue can beat the best call found
    cc:acd:index_ready            set once every offerable agent and queue head is indexed (upgrades in place)
    cc:agents:wrap_up             zset agent id -> wrap_up_until
    cc:agents:disconnected        zset agent id -> disconnected_at
    cc:agent_state_log            list of JSON transitions, appended in the same script as the state change and
                                  moved to the agent_state_changes table by agent_state.flush_log

Times are epoch seconds (float) passed in by the caller, so behaviour is deterministic under test.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.commands.core import Script

from callcenter.services.errors import Conflict, NotFound
from callcenter.services.messages import t

PRIORITY_LIMIT = 400  # |priority| * 1e13 + epoch ms must stay an exact double (< 2**53)
PRIORITY_WEIGHT = 10**13
DEFAULT_SCAN = 50  # waiting entries per queue looked at by one reserve attempt

AVAILABLE = "cc:agents:available"
RESERVATIONS = "cc:reservations"
WRAPUPS = "cc:agents:wrap_up"
DISCONNECTED = "cc:agents:disconnected"
STATE_LOG = "cc:agent_state_log"
TRACE_LOG = "cc:routing_trace"  # routing decisions for services.routing_trace (the reserve script appends)
QUEUES = "cc:queues"
SKILL_INDEX = "cc:agents:available:skill:"
INDEX_VERSIONS = "cc:agents:index_versions"
HEADS = "cc:queues:heads"
INDEX_READY = "cc:acd:index_ready"
MAX_LEVEL = 10  # skill levels are 1..10; the index has one set per skill and level


def agent_key(agent_id: int) -> str:
    return f"cc:agent:{agent_id}"


def call_key(entry_id: str) -> str:
    return f"cc:call:{entry_id}"


def queue_key(queue_id: int) -> str:
    return f"cc:queue:{queue_id}"


def entries_key(queue_id: int) -> str:
    return f"cc:queue:{queue_id}:entries"


def config_key(queue_id: int) -> str:
    return f"cc:queuecfg:{queue_id}"


def callback_lock_key(queue_id: int, phone_e164: str) -> str:
    return f"cc:callback:{queue_id}:{phone_e164}"


def priority_score(priority: int, enqueued_at: float) -> float:
    """Sorted-set score: higher priority first, then earlier enqueue time (millisecond resolution)."""
    clamped = max(-PRIORITY_LIMIT, min(PRIORITY_LIMIT, int(priority)))
    return float(-clamped * PRIORITY_WEIGHT + round(enqueued_at * 1000))


# --- Lua -------------------------------------------------------------------------------------------------------

_PRELUDE = """
local AVAILABLE = 'cc:agents:available'
local RESERVATIONS = 'cc:reservations'
local WRAPUPS = 'cc:agents:wrap_up'
local DISCONNECTED = 'cc:agents:disconnected'
local STATE_LOG = 'cc:agent_state_log'

local function present(v) return v ~= nil and v ~= false and v ~= '' end

-- Routing decisions for services.routing_trace, the newest TRACE_LOG_MAX kept. A record that cannot be stored
-- (Redis refuses it) is dropped: a trace never costs the decision it describes.
local TRACE_LOG, TRACE_LOG_MAX = 'cc:routing_trace', 100000
local function append_trace(record)
  local stored = redis.pcall('RPUSH', TRACE_LOG, record)
  if type(stored) == 'number' and stored > TRACE_LOG_MAX then redis.call('LPOP', TRACE_LOG) end
end
local function agent_key(id) return 'cc:agent:' .. id end
local function call_key(sid) return 'cc:call:' .. sid end
local function queue_key(q) return 'cc:queue:' .. q end
local function entries_key(q) return 'cc:queue:' .. q .. ':entries' end

-- The per-skill index: SKILL_INDEX .. skill .. ':' .. level holds every offerable agent whose level in that
-- skill is at least `level` (1..MAX_LEVEL), scored by idle_since like AVAILABLE, so the longest-idle agent who
-- meets a minimum is the head of one sorted set. INDEX_VERSIONS counts, per index set (AVAILABLE included),
-- how often an agent joined it: a call nobody could take is not looked at again until one of its sets moved.
local SKILL_INDEX = 'cc:agents:available:skill:'
local INDEX_VERSIONS = 'cc:agents:index_versions'
local INDEX_READY = 'cc:acd:index_ready'
local MAX_LEVEL = 10

local function skill_key(skill, level) return SKILL_INDEX .. skill .. ':' .. level end

-- HEADS: queue id -> score of its best waiting entry, so a decision reads queues in the order of their heads
-- instead of reading every queue. Every script that adds or removes a waiting entry calls this.
local HEADS = 'cc:queues:heads'
local function refresh_head(q)
  local h = redis.call('ZRANGE', queue_key(q), 0, 0, 'WITHSCORES')
  if h[1] then redis.call('ZADD', HEADS, h[2], q) else redis.call('ZREM', HEADS, q) end
end

local function decode_skills(raw)
  if not present(raw) then return {} end
  local ok, skills = pcall(cjson.decode, raw)
  if ok and type(skills) == 'table' then return skills end
  return {}
end

-- Every index set an agent with these skills belongs to while offerable.
local function index_keys(raw)
  local keys = {}
  for skill, level in pairs(decode_skills(raw)) do
    for l = 1, math.min(math.floor(tonumber(level) or 0), MAX_LEVEL) do table.insert(keys, skill_key(skill, l)) end
  end
  return keys
end

local function unindex(id, signature)
  local raw = string.match(signature, '^[^|]*|(.*)$')
  for _, k in ipairs(index_keys(raw)) do redis.call('ZREM', k, id) end
end

-- An agent is offerable when available, reachable, connected and holding no reservation. The agent hash keeps
-- the signature (idle_since|skills) it is indexed under, so the index follows every change and never drifts.
local function sync_available(id)
  local key = agent_key(id)
  local f = redis.call('HMGET', key, 'state', 'unreachable', 'reservation', 'disconnected_at', 'idle_since',
                       'skills', 'indexed')
  local indexed = f[7]
  if f[1] == 'available' and f[2] ~= '1' and not present(f[3]) and not present(f[4]) then
    local idle = f[5] or '0'
    local signature = idle .. '|' .. (f[6] or '')
    if redis.call('ZADD', AVAILABLE, idle, id) == 0 and signature == indexed then return end
    if present(indexed) then unindex(id, indexed) end
    redis.call('HINCRBY', INDEX_VERSIONS, AVAILABLE, 1)
    for _, k in ipairs(index_keys(f[6])) do
      redis.call('ZADD', k, idle, id)
      redis.call('HINCRBY', INDEX_VERSIONS, k, 1)
    end
    redis.call('HSET', key, 'indexed', signature)
  else
    redis.call('ZREM', AVAILABLE, id)
    if present(indexed) then
      unindex(id, indexed)
      redis.call('HDEL', key, 'indexed')
    end
  end
end

-- Put an agent back in exactly the index sets it belongs to; returns 1 when something was out of step.
local function repair_index(id)
  local key = agent_key(id)
  local f = redis.call('HMGET', key, 'state', 'unreachable', 'reservation', 'disconnected_at', 'idle_since',
                       'skills', 'indexed')
  local offerable = f[1] == 'available' and f[2] ~= '1' and not present(f[3]) and not present(f[4])
  local idle = tonumber(f[5] or '0')
  local expected = {}
  if offerable then
    expected[AVAILABLE] = true
    for _, k in ipairs(index_keys(f[6])) do expected[k] = true end
  end
  local possible = {[AVAILABLE] = true}
  local sources = {f[6]}
  if present(f[7]) then table.insert(sources, string.match(f[7], '^[^|]*|(.*)$')) end
  for _, raw in ipairs(sources) do
    for skill, _ in pairs(decode_skills(raw)) do
      for l = 1, MAX_LEVEL do possible[skill_key(skill, l)] = true end
    end
  end
  local wrong = false
  for k, _ in pairs(possible) do
    local score = redis.call('ZSCORE', k, id)
    if expected[k] then
      if not score or tonumber(score) ~= idle then wrong = true end
    elseif score then
      wrong = true
    end
  end
  if offerable and f[7] ~= (f[5] or '0') .. '|' .. (f[6] or '') then wrong = true end
  if not offerable and present(f[7]) then wrong = true end
  if not wrong then return 0 end
  for k, _ in pairs(possible) do redis.call('ZREM', k, id) end
  redis.call('HDEL', key, 'indexed')
  sync_available(id)
  return 1
end

-- Agents made offerable and calls queued before the index existed (an upgrade) are indexed once.
local function ensure_index()
  if redis.call('EXISTS', INDEX_READY) == 1 then return end
  for _, id in ipairs(redis.call('ZRANGE', AVAILABLE, 0, -1)) do
    if not present(redis.call('HGET', agent_key(id), 'indexed')) then repair_index(id) end
  end
  for _, q in ipairs(redis.call('SMEMBERS', 'cc:queues')) do refresh_head(q) end
  redis.call('SET', INDEX_READY, '1')
end

-- Change an agent's state and append the transition to the durable log, in one step.
local function transition(id, to, reason, now, call_sid, idle_since)
  local key = agent_key(id)
  local from = redis.call('HGET', key, 'state')
  if not present(from) then from = 'offline' end
  redis.call('HSET', key, 'state', to, 'since', now, 'reason', reason or '')
  if to == 'available' then redis.call('HSET', key, 'idle_since', idle_since or now) end
  if to ~= 'wrap_up' then
    redis.call('HDEL', key, 'wrap_up_until')
    redis.call('ZREM', WRAPUPS, id)
  end
  if to == 'offline' then
    redis.call('HDEL', key, 'disconnected_at', 'reservation', 'current_call')
    redis.call('ZREM', DISCONNECTED, id)
  end
  local entry = {agent_id = tonumber(id), from_state = from, to_state = to, at = now}
  if present(reason) then entry.reason = reason end
  if present(call_sid) then entry.call_sid = call_sid end
  redis.call('RPUSH', STATE_LOG, cjson.encode(entry))
  sync_available(id)
  return from
end

-- Put a reserved entry back in its queue at its original score; the agent goes to `mode`'s state.
local function release(sid, now, mode)
  local call = call_key(sid)
  local f = redis.call('HMGET', call, 'status', 'agent_id', 'queue_id', 'score')
  if f[1] ~= 'reserved' then return nil end
  local id = f[2]
  redis.call('HSET', call, 'status', 'waiting')
  redis.call('HDEL', call, 'agent_id', 'expires_at', 'reserved_at')
  redis.call('ZREM', RESERVATIONS, sid)
  redis.call('ZADD', queue_key(f[3]), f[4], sid)
  refresh_head(f[3])
  if present(id) then
    local declined = redis.call('HGET', call, 'declined') or ','
    if not present(declined) then declined = ',' end
    if not string.find(declined, ',' .. id .. ',', 1, true) then
      redis.call('HSET', call, 'declined', declined .. id .. ',')
    end
    local akey = agent_key(id)
    if redis.call('HGET', akey, 'reservation') == sid then
      redis.call('HSET', akey, 'reservation', '', 'current_call', '')
      local to, reason = 'available', 'rejected'
      if mode == 'missed' then to, reason = 'away', 'missed'
      elseif mode == 'disconnected' then to, reason = 'offline', 'disconnected' end
      transition(id, to, reason, now, sid)
    end
  end
  return {call_sid = sid, agent_id = tonumber(id), queue_id = tonumber(f[3]), mode = mode}
end
"""

_JOIN_BODY = """
-- Joining a queue, shared by the scripts that put a caller in one. Their head sets: sid, q, score, t, lock,
-- cfg, trace, `fields` (field/value pairs of the entry), `reads_from` (the first of the KEYS read along) and
-- `extra` (what the head adds at the end of the answer).
-- The config and the trace ride along so that joining a queue is one round trip, not three. The answer: 'ok',
-- 'ok:none-free' (no agent available: a reserve attempt would find nobody, and an agent freed from now on sees
-- this entry), 'exists' (a retried webhook) or 'duplicate:<holder>', then what the caller answers with (the
-- entry, its rank, the queue's figures), the values of the KEYS read along, and `extra`.
local function answer(status)
  local out = {status, redis.call('HGETALL', call_key(sid)), redis.call('ZRANK', queue_key(q), sid),
               redis.call('ZCARD', queue_key(q)), redis.call('ZCARD', entries_key(q)),
               redis.call('ZRANGE', entries_key(q), 0, 0, 'WITHSCORES')}
  for i = reads_from, #KEYS do table.insert(out, redis.call('GET', KEYS[i])) end
  for _, value in ipairs(extra) do table.insert(out, value) end
  return out
end
if present(cfg) and redis.call('GET', 'cc:queuecfg:' .. q) ~= cfg then
  redis.call('SET', 'cc:queuecfg:' .. q, cfg)
  redis.call('SADD', 'cc:queues', q)
end
local call = call_key(sid)
if redis.call('EXISTS', call) == 1 then return answer('exists') end
if present(lock) then
  local holder = redis.call('GET', lock)
  if holder then return {'duplicate:' .. holder} end
  redis.call('SET', lock, sid)
end
redis.call('HSET', call, 'status', 'waiting', 'queue_id', q, 'score', score, 'enqueued_at', t,
           'callback_lock', lock)
for i = 1, #fields, 2 do redis.call('HSET', call, fields[i], fields[i + 1]) end
redis.call('ZADD', queue_key(q), score, sid)
refresh_head(q)
redis.call('ZADD', entries_key(q), t, sid)
if present(trace) then append_trace(trace) end
if redis.call('ZCARD', AVAILABLE) == 0 then return answer('ok:none-free') end
return answer('ok')
"""

_ENQUEUE = """
-- KEYS: keys the caller reads along (their values end the answer). ARGV: entry_id, queue_id, score, enqueued_at,
-- callback_lock ('' for none), the queue's config document ('' to leave Redis's as it is), a routing-trace record
-- for a new entry ('' for none), then field/value pairs.
local sid, q, score, t, lock, cfg, trace = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local fields, reads_from, extra = {}, 1, {}
for i = 8, #ARGV do table.insert(fields, ARGV[i]) end
""" + _JOIN_BODY

_JOIN_FROM_WALK = """
-- A menu step that routes the caller, in one round trip: the step joins the call's walk (services.caller_steps),
-- and the caller joins the queue with what the walk and the caller facts say. The priority is the queue's base
-- (with the route's boost) plus the weight of every rule the facts hold; the sticky agent and the contact come
-- from the facts, the IVR path and the caller's language from the walk.
-- KEYS: the walk, the caller facts, then keys the caller reads along. ARGV: entry_id, queue_id, enqueued_at, its
-- milliseconds, the config document, the step's walk field, its walk value ('' for no step), the walk's lifetime,
-- the base priority, the rule weights ([[rule, weight], ...] in the order reasons are listed), the sticky wait,
-- the language skills ({locale: skill id}), the queue's skills, the payload and the trace record (JSON objects
-- without the fields decided here, which are added), the priority limit and weight (acd.priority_score).
-- The answer is {'fallback'} when the walk has no call id (its greeting's job has not run), the facts are
-- missing, or the walk was written before its fields were; nothing is joined then. Else the join's answer, then
-- the call's id, number and language (its walk's, or the last chosen before this step), and the priority,
-- reasons and contact ids.
local walk_key, facts_key = KEYS[1], KEYS[2]
local sid, q, t, t_ms, cfg = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local step_field, step_value, walk_seconds = ARGV[6], ARGV[7], ARGV[8]
local base, weights, sticky_wait = tonumber(ARGV[9]), cjson.decode(ARGV[10]), tonumber(ARGV[11])
local language_skills, queue_skills = cjson.decode(ARGV[12]), cjson.decode(ARGV[13])
local payload, trace_record = ARGV[14], ARGV[15]
local limit, weight = tonumber(ARGV[16]), tonumber(ARGV[17])
local lock, reads_from = '', 3
if present(step_field) then
  redis.call('HSET', walk_key, step_field, step_value)
  redis.call('EXPIRE', walk_key, walk_seconds)
end
local walk = {}
local raw = redis.call('HGETALL', walk_key)
for i = 1, #raw, 2 do walk[raw[i]] = raw[i + 1] end
local raw_facts = redis.call('GET', facts_key)
if not (walk.id and string.match(walk.id, '^%d+$')) or walk.e164 == nil or walk.locale == nil or not raw_facts then
  return {'fallback'}
end
local decoded, facts = pcall(cjson.decode, raw_facts)
if not decoded or type(facts) ~= 'table' then return {'fallback'} end
local function known(v) return v ~= nil and v ~= cjson.null end

-- The steps before this one, in the order taken; the path adds this one unless it is there already. A step's
-- own JSON is taken as written (its "step" comes last): decoding and encoding again would round its numbers.
local taken, this_step = {}, nil
for name, value in pairs(walk) do
  if string.sub(name, 1, 5) == 'step:' then
    local ok, answered = pcall(cjson.decode, value)
    local starts = string.find(value, '"step": ', 1, true)
    if not ok or type(answered) ~= 'table' or answered.key == nil or not starts then return {'fallback'} end
    answered.json = string.sub(value, starts + 8, -2)
    if name == step_field then this_step = answered else table.insert(taken, answered) end
  end
end
table.sort(taken, function(a, b) return a.at < b.at end)
local path, locale = {}, nil
for _, answered in ipairs(taken) do
  table.insert(path, answered.json)
  if known(answered.locale) and answered.locale ~= '' then locale = answered.locale end
end
local call_language = locale or walk.language
if this_step then
  local repeated = false
  for _, answered in ipairs(taken) do repeated = repeated or answered.key == this_step.key end
  if not repeated then table.insert(path, this_step.json) end
  if known(this_step.locale) and this_step.locale ~= '' then locale = this_step.locale end
end
if not locale and walk.locale ~= '' then locale = walk.locale end
local ivr_path = '[' .. table.concat(path, ',') .. ']'

local holds = {}
if type(facts.holds) == 'table' then for _, rule in ipairs(facts.holds) do holds[rule] = true end end
local priority, reasons, added = base, {}, {}
for _, pair in ipairs(weights) do
  if holds[pair[1]] then
    priority = priority + pair[2]
    table.insert(reasons, pair[1])
    added[pair[1]] = pair[2]
  end
end
local contact_ids = type(facts.contact_ids) == 'table' and facts.contact_ids or {}
local sticky = known(facts.last_agent_id) and facts.last_agent_id or nil
local required, required_any = {}, false
local language_skill = locale and language_skills[locale]
if language_skill then required[tostring(language_skill)] = 1; required_any = true end
for skill, level in pairs(required) do
  if not queue_skills[skill] or queue_skills[skill] < level then queue_skills[skill] = level end
end
local clamped = math.max(-limit, math.min(limit, priority))
local score = string.format('%.0f', -clamped * weight + t_ms)

-- A JSON object the caller wrote, with these fields added (ours: no number of theirs is rounded).
local function with_fields(document, added)
  local out = {}
  for _, pair in ipairs(added) do table.insert(out, cjson.encode(pair[1]) .. ': ' .. pair[2]) end
  return string.sub(document, 1, -2) .. (string.match(document, '^{%s*}$') and '' or ', ') ..
         table.concat(out, ', ') .. '}'
end
local function json_or_null(v) if v == nil then return 'null' end return cjson.encode(v) end
-- cjson writes an empty table as {}; these lists and maps are written by hand when they are.
local function json_object(map, any) if not any then return '{}' end return cjson.encode(map) end
local fields = {'priority', priority}
if walk.e164 ~= '' then table.insert(fields, 'from'); table.insert(fields, walk.e164) end
if contact_ids[1] then table.insert(fields, 'contact_id'); table.insert(fields, contact_ids[1]) end
if required_any then table.insert(fields, 'skills'); table.insert(fields, cjson.encode(required)) end
table.insert(fields, 'payload')
table.insert(fields, with_fields(payload, {{'ivr_path', ivr_path}, {'caller_language', json_or_null(locale)}}))
if sticky then
  table.insert(fields, 'sticky_agent_id'); table.insert(fields, sticky)
  table.insert(fields, 'sticky_until'); table.insert(fields, string.format('%.17g', tonumber(t) + sticky_wait))
end
if #reasons > 0 then table.insert(fields, 'reasons'); table.insert(fields, cjson.encode(reasons)) end
if locale then table.insert(fields, 'language'); table.insert(fields, locale) end
local trace = ''
if present(trace_record) then
  local any_skill = next(queue_skills) ~= nil
  trace = with_fields(trace_record, {
    {'priority', string.format('%d', priority)}, {'reasons', json_object(added, #reasons > 0)},
    {'sticky_agent_id', json_or_null(sticky)}, {'sticky_wait_seconds', sticky and sticky_wait or 0},
    {'required', json_object(queue_skills, any_skill)}, {'language', json_or_null(locale)},
    {'ivr_path', ivr_path}})
end
local extra = {walk.id, walk.from or '', call_language or '', priority, reasons, contact_ids}
""" + _JOIN_BODY

_RESERVE_NEXT = """
-- ARGV: now, scan, queue_id... ; reserves the best (call, agent) pair across the queues, or returns false.
-- Calls are taken in (score, id) order across the queues, merged lazily from the head of each queue (at most
-- `scan` per queue). A call's agent comes from the smallest index set that one of its requirements allows,
-- walked in idle order; queues whose requirements nobody offerable meets are not read at all.
local now, scan = ARGV[1], tonumber(ARGV[2])
local nnow = tonumber(now)
ensure_index()
if redis.call('ZCARD', AVAILABLE) == 0 then return false end
local agents_examined, entries_examined = 0, 0

local skill_cache = {}
local function skills_of(id)
  local s = skill_cache[id]
  if s == nil then
    s = decode_skills(redis.call('HGET', agent_key(id), 'skills'))
    skill_cache[id] = s
  end
  return s
end
-- reqs: skill -> the stricter minimum of the queue's and the call's.
local function eligible(id, reqs)
  agents_examined = agents_examined + 1
  local have = skills_of(id)
  for skill, level in pairs(reqs) do
    if (tonumber(have[skill]) or 0) < level then return false end
  end
  return true
end
local function add_reqs(into, raw)
  for skill, level in pairs(raw) do
    local l = tonumber(level)
    if into[skill] == nil or l > into[skill] then into[skill] = l end
  end
  return into
end
-- The index sets of these requirements (AVAILABLE when none narrows the choice), sorted, and the smallest.
local function index_sets(reqs)
  local keys = {}
  for skill, level in pairs(reqs) do
    if level > 0 then table.insert(keys, skill_key(skill, math.min(math.ceil(level), MAX_LEVEL))) end
  end
  if #keys == 0 then keys = {AVAILABLE} end
  table.sort(keys)
  local best, best_n = nil, nil
  for _, k in ipairs(keys) do
    local n = redis.call('ZCARD', k)
    if best_n == nil or n < best_n then best, best_n = k, n end
  end
  return keys, best, best_n
end
local function versions(keys)
  local v = redis.call('HMGET', INDEX_VERSIONS, unpack(keys))
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. '=' .. (v[i] or '0') end
  return table.concat(parts, ',')
end
-- The longest-idle eligible agent in `set`, preferring those who have not declined this call.
local function walk(set, reqs, declined)
  local fallback = nil
  local start, batch = 0, 8
  while true do
    local ids = redis.call('ZRANGE', set, start, start + batch - 1)
    for _, id in ipairs(ids) do
      if eligible(id, reqs) then
        if not string.find(declined, ',' .. id .. ',', 1, true) then return id end
        fallback = fallback or id
      end
    end
    if #ids < batch then return fallback end
    start = start + batch
    batch = math.min(batch * 2, 512)
  end
end

-- What `choose` saw, for the routing trace of the reservation it makes (see `trace_of`).
local why = {}
local function choose(c)
  local call = call_key(c.sid)
  local h = redis.call('HMGET', call, 'status', 'skills', 'sticky_agent_id', 'sticky_until', 'declined', 'blocked')
  if h[1] ~= 'waiting' then return nil end
  local reqs = add_reqs({}, c.reqs)
  if present(h[2]) then add_reqs(reqs, cjson.decode(h[2])) end
  local sticky = h[3]
  why = {reqs = reqs, sticky = sticky, declined = h[5] or ''}
  if present(sticky) and eligible(sticky, reqs) then
    if redis.call('ZSCORE', AVAILABLE, sticky) then
      why.rule = 'sticky'
      return sticky
    end
    if nnow < (tonumber(h[4]) or 0) then
      -- Wait a little for the agent who last served this caller, unless they are gone.
      local st = redis.call('HMGET', agent_key(sticky), 'state', 'unreachable')
      if present(st[1]) and st[1] ~= 'offline' and st[2] ~= '1' then return nil end
    end
  end
  local keys, best, n = index_sets(reqs)
  if n == 0 then return nil end
  -- Nobody could take it last time, and no agent has joined one of its index sets since: still nobody.
  if present(h[6]) and h[6] == versions(keys) then return nil end
  local chosen = walk(best, reqs, h[5] or '')
  if not chosen then redis.call('HSET', call, 'blocked', versions(keys)) end
  why.rule, why.set = 'longest_idle', best
  if chosen and string.find(why.declined, ',' .. chosen .. ',', 1, true) then why.rule = 'declined_before' end
  return chosen
end

-- The decision as the trace shows it: the rule that chose, the requirements, and the first TRACE_CANDIDATES
-- agents of the index set walked (idle order) with their levels in the required skills. Taken before the
-- reservation changes the sets; a few reads, on agents `walk` mostly read already.
local TRACE_CANDIDATES = 5
local function trace_of(c, chosen)
  local set = why.set
  if set == nil then
    local _, best = index_sets(why.reqs)
    set = best
  end
  local ids = redis.call('ZRANGE', set, 0, TRACE_CANDIDATES - 1)
  local listed = false
  for _, id in ipairs(ids) do if id == chosen then listed = true end end
  if not listed then table.insert(ids, chosen) end
  local candidates = {}
  for _, id in ipairs(ids) do
    local have = skills_of(id)
    local levels = {}
    for skill, _ in pairs(why.reqs) do levels[skill] = tonumber(have[skill]) or 0 end
    local ok = true
    for skill, level in pairs(why.reqs) do if levels[skill] < level then ok = false end end
    local idle = tonumber(redis.call('HGET', agent_key(id), 'idle_since'))
    table.insert(candidates, {agent_id = tonumber(id), idle_since = idle, levels = levels, eligible = ok,
                              declined = string.find(why.declined, ',' .. id .. ',', 1, true) ~= nil})
  end
  return cjson.encode({kind = 'offered', call_sid = c.sid, queue_id = tonumber(c.q), agent_id = tonumber(chosen),
                       at = now, rule = why.rule, required = why.reqs, candidates = candidates,
                       sticky_agent_id = tonumber(why.sticky), agents_examined = agents_examined})
end

-- Queues come in the order of their heads (HEADS), read lazily: a queue is opened only when its head could beat
-- or tie the best call found so far, and only if someone offerable meets its own requirements.
local names, wanted = {}, {}
for i = 3, #ARGV do
  if not wanted[ARGV[i]] then
    wanted[ARGV[i]] = true
    table.insert(names, ARGV[i])
  end
end
local pending, pending_at, heads_at, heads_done = {}, 1, 0, false
if #names <= 16 then
  for _, q in ipairs(names) do
    local score = redis.call('ZSCORE', HEADS, q)
    if score then table.insert(pending, {q = q, score = tonumber(score)}) end
  end
  table.sort(pending, function(a, b) return a.score < b.score end)
  heads_done = true
end
local function peek_head()
  while pending[pending_at] == nil and not heads_done do
    local items = redis.call('ZRANGE', HEADS, heads_at, heads_at + 31, 'WITHSCORES')
    heads_at = heads_at + 32
    if #items < 64 then heads_done = true end
    for j = 1, #items, 2 do
      if wanted[items[j]] then table.insert(pending, {q = items[j], score = tonumber(items[j + 1])}) end
    end
  end
  return pending[pending_at]
end
local cursors = {}
local function open_queue(q)
  local raw = redis.call('GET', 'cc:queuecfg:' .. q)
  if not raw then return end
  local cfg = cjson.decode(raw)
  if cfg.active == false then return end
  local reqs = add_reqs({}, cfg.skills or {})
  local _, _, n = index_sets(reqs)
  if n == 0 then return end
  local head = redis.call('ZRANGE', queue_key(q), 0, 0, 'WITHSCORES')
  if head[1] then
    table.insert(cursors, {q = q, cfg = cfg, reqs = reqs, pos = 0, sid = head[1], score = tonumber(head[2])})
  end
end

while true do
  local c = nil
  for _, cur in ipairs(cursors) do
    if cur.sid and (c == nil or cur.score < c.score or (cur.score == c.score and cur.sid < c.sid)) then c = cur end
  end
  local h = peek_head()
  if h and (c == nil or h.score <= c.score) then
    pending_at = pending_at + 1
    open_queue(h.q)
  else
    if c == nil then return false end
    entries_examined = entries_examined + 1
    local chosen = choose(c)
    if chosen then
      -- A trace that cannot be made never costs the reservation.
      local traced, record = pcall(trace_of, c, chosen)
      if traced then append_trace(record) end
      local call = call_key(c.sid)
      local expires = nnow + (tonumber(c.cfg.reservation_timeout_seconds) or 15)
      local akey = agent_key(chosen)
      redis.call('ZREM', queue_key(c.q), c.sid)
      refresh_head(c.q)
      redis.call('HSET', call, 'status', 'reserved', 'agent_id', chosen, 'reserved_at', now,
                 'expires_at', expires)
      redis.call('HDEL', call, 'blocked')
      redis.call('ZADD', RESERVATIONS, expires, c.sid)
      redis.call('HSET', akey, 'reservation', c.sid, 'current_call', c.sid,
                 'prev_idle_since', redis.call('HGET', akey, 'idle_since') or now)
      transition(chosen, 'reserved', 'offered', now, c.sid)
      local entry = redis.call('HGETALL', call)
      local fields = {}
      for k = 1, #entry, 2 do fields[entry[k]] = entry[k + 1] end
      fields.entry_id = c.sid
      return cjson.encode({entry = fields, agents_examined = agents_examined, entries_examined = entries_examined})
    end
    c.pos = c.pos + 1
    c.sid = nil
    if c.pos < scan then
      local nxt = redis.call('ZRANGE', queue_key(c.q), c.pos, c.pos, 'WITHSCORES')
      if nxt[1] then c.sid, c.score = nxt[1], tonumber(nxt[2]) end
    end
  end
end
"""

_ACCEPT_STEP = """
-- ARGV: entry_id, agent_id, now
local function accept()
  local sid, id, now = ARGV[1], ARGV[2], ARGV[3]
  local call = call_key(sid)
  local f = redis.call('HMGET', call, 'status', 'agent_id', 'queue_id')
  if f[1] ~= 'reserved' or f[2] ~= id then return false end
  if redis.call('HGET', agent_key(id), 'reservation') ~= sid then return false end
  redis.call('HSET', call, 'status', 'connected', 'answered_at', now)
  redis.call('HDEL', call, 'expires_at')
  redis.call('ZREM', RESERVATIONS, sid)
  redis.call('ZREM', entries_key(f[3]), sid)
  redis.call('HSET', agent_key(id), 'reservation', '', 'current_call', sid)
  transition(id, 'on_call', 'accepted', now, sid)
  return f[3]
end
"""

_ACCEPT = _ACCEPT_STEP + """
if accept() then return 'ok' end
return 'no_offer'
"""

# The answer webhook needs the entry and its queue's new figures next: read here, not in three more round trips.
_ACCEPT_READING = _ACCEPT_STEP + """
local q = accept()
if not q then return false end
return {redis.call('HGETALL', call_key(ARGV[1])), redis.call('ZCARD', queue_key(q)),
        redis.call('ZCARD', entries_key(q)), redis.call('ZRANGE', entries_key(q), 0, 0, 'WITHSCORES')}
"""

_RELEASE = """
-- ARGV: entry_id, expected agent ('' for any), now, mode (rejected|missed|disconnected)
local sid, expected, now, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local f = redis.call('HMGET', call_key(sid), 'status', 'agent_id', 'expires_at')
if f[1] ~= 'reserved' then return false end
if present(expected) and f[2] ~= expected then return false end
if mode == 'missed' and (tonumber(f[3]) or 0) > tonumber(now) then return false end
return cjson.encode(release(sid, now, mode))
"""

_FINISH = """
-- ARGV: entry_id, now, default wrap-up seconds. The entry leaves the ACD whatever its status.
local sid, now = ARGV[1], ARGV[2]
local call = call_key(sid)
local f = redis.call('HMGET', call, 'status', 'agent_id', 'queue_id', 'callback_lock')
if not f[1] then return false end
local status, id, q = f[1], f[2], f[3]
local result = {call_sid = sid, queue_id = tonumber(q), status = status}
if status == 'waiting' then
  redis.call('ZREM', queue_key(q), sid)
  refresh_head(q)
elseif status == 'reserved' then
  redis.call('ZREM', RESERVATIONS, sid)
  local akey = agent_key(id)
  if redis.call('HGET', akey, 'reservation') == sid then
    -- The caller left while the agent was being offered: the agent keeps their place in the idle line.
    local prev = redis.call('HGET', akey, 'prev_idle_since')
    redis.call('HSET', akey, 'reservation', '', 'current_call', '')
    transition(id, 'available', 'caller_hung_up', now, sid, prev)
    result.agent_id = tonumber(id)
    result.agent_state = 'available'
  end
elseif status == 'connected' and present(id) then
  local akey = agent_key(id)
  local a = redis.call('HMGET', akey, 'state', 'current_call')
  if a[1] == 'on_call' and a[2] == sid then
    local wrap = tonumber(ARGV[3]) or 0
    local raw = redis.call('GET', 'cc:queuecfg:' .. q)
    if raw then wrap = tonumber(cjson.decode(raw).wrap_up_seconds) or wrap end
    redis.call('HSET', akey, 'current_call', '', 'last_call', sid)
    transition(id, 'wrap_up', 'call_ended', now, sid)
    if wrap > 0 then
      local untl = tonumber(now) + wrap
      redis.call('HSET', akey, 'wrap_up_until', untl)
      redis.call('ZADD', WRAPUPS, untl, id)
      result.agent_state = 'wrap_up'
      result.wrap_up_until = untl
    else
      transition(id, 'available', 'wrap_up_done', now, sid)
      result.agent_state = 'available'
    end
    result.agent_id = tonumber(id)
  end
end
redis.call('ZREM', entries_key(q), sid)
if present(f[4]) and redis.call('GET', f[4]) == sid then redis.call('DEL', f[4]) end
redis.call('DEL', call)
return cjson.encode(result)
"""

_TRANSFER = """
-- ARGV: entry_id, from agent, to agent, now. A connected call changes agents: the new one is on the call,
-- the old one goes to wrap-up (the queue's wrap-up time), as if the call had ended for them.
local sid, from_id, to_id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local call = call_key(sid)
local f = redis.call('HMGET', call, 'status', 'agent_id', 'queue_id')
if f[1] ~= 'connected' or f[2] ~= from_id then return 'not_connected' end
local to_state = redis.call('HGET', agent_key(to_id), 'state')
if to_state ~= 'away' and to_state ~= 'available' then return 'busy' end
redis.call('HSET', call, 'agent_id', to_id)
redis.call('HSET', agent_key(to_id), 'current_call', sid, 'reservation', '')
transition(to_id, 'on_call', 'transfer', now, sid)
local akey = agent_key(from_id)
redis.call('HSET', akey, 'current_call', '', 'last_call', sid)
transition(from_id, 'wrap_up', 'transferred', now, sid)
local wrap = 0
local raw = redis.call('GET', 'cc:queuecfg:' .. f[3])
if raw then wrap = tonumber(cjson.decode(raw).wrap_up_seconds) or 0 end
if wrap > 0 then
  redis.call('HSET', akey, 'wrap_up_until', tonumber(now) + wrap)
  redis.call('ZADD', WRAPUPS, tonumber(now) + wrap, from_id)
else
  transition(from_id, 'available', 'wrap_up_done', now, sid)
end
return 'ok'
"""

_CONVERT_TO_CALLBACK = """
-- ARGV: entry_id, new entry id, callback lock key, payload JSON, now
local sid, new_id, lock, payload, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local old = call_key(sid)
local names = {'queue_id', 'score', 'priority', 'enqueued_at', 'contact_id', 'from', 'skills',
               'sticky_agent_id', 'sticky_until', 'reasons', 'language'}
local status = redis.call('HGET', old, 'status')
if not status then return 'not_found' end
if status ~= 'waiting' then return 'not_waiting:' .. status end
local holder = redis.call('GET', lock)
if holder then return 'duplicate:' .. holder end
if redis.call('EXISTS', call_key(new_id)) == 1 then return 'duplicate:' .. new_id end
local values = redis.call('HMGET', old, unpack(names))
local new = call_key(new_id)
redis.call('HSET', new, 'status', 'waiting', 'callback', '1', 'callback_lock', lock, 'payload', payload,
           'original_call_sid', sid, 'converted_at', now)
for i, name in ipairs(names) do
  if present(values[i]) then redis.call('HSET', new, name, values[i]) end
end
redis.call('SET', lock, new_id)
local q = values[1]
redis.call('ZREM', queue_key(q), sid)
redis.call('ZADD', queue_key(q), values[2], new_id)
refresh_head(q)
redis.call('ZREM', entries_key(q), sid)
redis.call('ZADD', entries_key(q), values[4], new_id)
redis.call('DEL', old)
return 'ok'
"""

_SET_STATE = """
-- ARGV: agent_id, to, allowed from (comma list), now, reason, only when wrap-up is over ('1'), no-op if same
local id, to, allowed, now, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = agent_key(id)
local a = redis.call('HMGET', key, 'state', 'reason', 'wrap_up_until')
local from = a[1]
if not present(from) then from = 'offline' end
if from == to and (to ~= 'away' or (a[2] or '') == reason) then return 'same:' .. from end
if not string.find(',' .. allowed .. ',', ',' .. from .. ',', 1, true) then return 'illegal:' .. from end
if ARGV[6] == '1' and present(a[3]) and tonumber(a[3]) > tonumber(now) then return 'not_due:' .. from end
transition(id, to, reason, now, '')
return 'ok:' .. from
"""

_SET_FLAG = """
-- ARGV: agent_id, field, value ('' deletes), index zset ('' for none), index score
local id, name, value, index, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = agent_key(id)
if present(value) then redis.call('HSET', key, name, value) else redis.call('HDEL', key, name) end
if present(index) then
  if present(value) then redis.call('ZADD', index, score, id) else redis.call('ZREM', index, id) end
end
sync_available(id)
return redis.call('HGET', key, 'state') or 'offline'
"""

_EXPIRE_DISCONNECTED = """
-- ARGV: agent_id, now, cutoff (disconnected at or before it means the grace period is over)
local id, now, cutoff = ARGV[1], ARGV[2], ARGV[3]
local key = agent_key(id)
local a = redis.call('HMGET', key, 'state', 'disconnected_at', 'reservation')
if not present(a[2]) then
  redis.call('ZREM', DISCONNECTED, id)
  return false
end
if tonumber(a[2]) > tonumber(cutoff) then return false end
local state = a[1]
if not present(state) then state = 'offline' end
-- A call in progress is never dropped: the agent stays on it (and goes offline after it ends).
if state == 'on_call' then return cjson.encode({agent_id = tonumber(id), state = 'on_call', kept = true}) end
local result = {agent_id = tonumber(id), state = 'offline', previous = state}
if state == 'reserved' and present(a[3]) then
  local released = release(a[3], now, 'disconnected')
  if released then result.released_call_sid = a[3] end
end
if redis.call('HGET', key, 'state') ~= 'offline' then
  transition(id, 'offline', 'disconnected', now, '')
else
  redis.call('HDEL', key, 'disconnected_at')
  redis.call('ZREM', DISCONNECTED, id)
end
return cjson.encode(result)
"""

_REPAIR_INDEX = """
-- ARGV: agent_id... ; returns the ids whose index membership was out of step (now fixed).
local fixed = {}
for i = 1, #ARGV do
  if repair_index(ARGV[i]) == 1 then table.insert(fixed, tonumber(ARGV[i])) end
end
for _, q in ipairs(redis.call('SMEMBERS', 'cc:queues')) do refresh_head(q) end
return cjson.encode(fixed)
"""

_OUTBOUND_BEGIN = """
-- ARGV: agent_id, call sid, now. An agent places a call (click-to-call, a campaign call): on that call until it
-- ends, so no queue call is offered meanwhile. Refused while they hold an offer or another call.
local id, sid, now = ARGV[1], ARGV[2], ARGV[3]
local key = agent_key(id)
local a = redis.call('HMGET', key, 'state', 'reservation', 'current_call')
local from = a[1]
if not present(from) then from = 'offline' end
if from == 'on_call' and a[3] == sid then return 'same:' .. from end
if from ~= 'available' and from ~= 'away' and from ~= 'wrap_up' then return 'busy:' .. from end
if present(a[2]) or present(a[3]) then return 'busy:' .. from end
redis.call('HSET', key, 'current_call', sid, 'outbound_call', sid)
transition(id, 'on_call', 'outbound', now, sid)
-- The leg's end was reported before the agent was put on it (see mark_leg_ended): the caller ends it now.
if redis.call('EXISTS', 'cc:leg_ended:' .. sid) == 1 then return 'ended:' .. from end
return 'ok:' .. from
"""

_OUTBOUND_END = """
-- ARGV: agent_id, call sid, now, wrap-up seconds, queue id ('' for none: its wrap-up time wins when configured).
-- The agent's own call ended: wrap-up, as after a queue call. Anything else (already ended) is a no-op.
local id, sid, now = ARGV[1], ARGV[2], ARGV[3]
local key = agent_key(id)
local a = redis.call('HMGET', key, 'state', 'current_call')
if a[1] ~= 'on_call' or a[2] ~= sid then return false end
local wrap = tonumber(ARGV[4]) or 0
if present(ARGV[5]) then
  local raw = redis.call('GET', 'cc:queuecfg:' .. ARGV[5])
  if raw then wrap = tonumber(cjson.decode(raw).wrap_up_seconds) or wrap end
end
redis.call('HSET', key, 'current_call', '', 'last_call', sid)
redis.call('HDEL', key, 'outbound_call')
transition(id, 'wrap_up', 'call_ended', now, sid)
local result = {agent_id = tonumber(id), agent_state = 'wrap_up'}
if wrap > 0 then
  local untl = tonumber(now) + wrap
  redis.call('HSET', key, 'wrap_up_until', untl)
  redis.call('ZADD', WRAPUPS, untl, id)
  result.wrap_up_until = untl
else
  transition(id, 'available', 'wrap_up_done', now, sid)
  result.agent_state = 'available'
end
return cjson.encode(result)
"""

_SCRIPT_SOURCES = {
    "enqueue": _ENQUEUE,
    "join_from_walk": _JOIN_FROM_WALK,
    "reserve_next": _RESERVE_NEXT,
    "accept": _ACCEPT,
    "accept_reading": _ACCEPT_READING,
    "release": _RELEASE,
    "finish": _FINISH,
    "transfer": _TRANSFER,
    "convert_to_callback": _CONVERT_TO_CALLBACK,
    "set_state": _SET_STATE,
    "set_flag": _SET_FLAG,
    "expire_disconnected": _EXPIRE_DISCONNECTED,
    "repair_index": _REPAIR_INDEX,
    "outbound_begin": _OUTBOUND_BEGIN,
    "outbound_end": _OUTBOUND_END,
}
_registered: weakref.WeakKeyDictionary[redis.Redis, dict[str, Script]] = weakref.WeakKeyDictionary()


def _run(r: redis.Redis, name: str, *args: Any) -> Any:
    """Run one of our scripts (EVALSHA, loading it on first use) and decode a text answer."""
    return _run_with_keys(r, name, (), *args)


def _run_with_keys(r: redis.Redis, name: str, keys: Sequence[str], *args: Any) -> Any:
    """`_run`, with the KEYS the script reads besides its own."""
    scripts = _registered.get(r)
    if scripts is None:
        scripts = {key: r.register_script(_PRELUDE + body) for key, body in _SCRIPT_SOURCES.items()}
        _registered[r] = scripts
    result = scripts[name](keys=list(keys), args=[_arg(a) for a in args])
    return _text(result) if isinstance(result, bytes) else result


def _arg(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _json(value: Any) -> Any:
    return json.loads(value) if value else None


# --- Queue configuration ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueConfig:
    """What the hot path needs to know about a queue, cached in Redis from the `queues` table."""

    queue_id: int
    skills: dict[int, int] = field(default_factory=dict)  # skill id -> minimum level
    reservation_timeout_seconds: int = 15
    wrap_up_seconds: int = 30
    sticky_agent_wait_seconds: int = 20
    active: bool = True


def store_queue_config(r: redis.Redis, config: QueueConfig) -> None:
    """Cache a queue's routing settings (called whenever the queue is loaded from the database)."""
    pipe = r.pipeline()
    pipe.set(config_key(config.queue_id), config_document(config))
    pipe.sadd(QUEUES, config.queue_id)
    pipe.execute()


def config_document(config: QueueConfig) -> str:
    """The queue's routing settings as Redis keeps them (the same text for the same settings)."""
    return json.dumps({
        "skills": {str(k): int(v) for k, v in config.skills.items()},
        "reservation_timeout_seconds": config.reservation_timeout_seconds,
        "wrap_up_seconds": config.wrap_up_seconds,
        "sticky_agent_wait_seconds": config.sticky_agent_wait_seconds,
        "active": config.active,
    })


def load_queue_config(r: redis.Redis, queue_id: int) -> QueueConfig | None:
    document = _json(r.get(config_key(queue_id)))
    if document is None:
        return None
    return QueueConfig(
        queue_id=queue_id,
        skills={int(k): int(v) for k, v in document.get("skills", {}).items()},
        reservation_timeout_seconds=int(document["reservation_timeout_seconds"]),
        wrap_up_seconds=int(document["wrap_up_seconds"]),
        sticky_agent_wait_seconds=int(document["sticky_agent_wait_seconds"]),
        active=bool(document.get("active", True)),
    )


def configured_queue_ids(r: redis.Redis) -> list[int]:
    return sorted(int(_text(q)) for q in r.smembers(QUEUES))


# --- Entries ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    """A caller (or a callback that keeps a caller's place) in a queue."""

    entry_id: str
    queue_id: int
    status: str  # waiting | reserved | connected
    priority: int
    enqueued_at: float
    from_number: str | None
    contact_id: int | None
    callback: bool
    payload: dict[str, Any]
    agent_id: int | None
    expires_at: float | None
    sticky_agent_id: int | None
    language: str | None = None  # the caller's chosen locale ("zh_Hans"), for the wait loop's texts

    @classmethod
    def from_hash(cls, entry_id: str, h: dict[str, str]) -> QueueEntry:
        return cls(
            entry_id=entry_id,
            queue_id=int(h["queue_id"]),
            status=h["status"],
            priority=int(h.get("priority") or 0),
            enqueued_at=float(h["enqueued_at"]),
            from_number=h.get("from") or None,
            contact_id=int(h["contact_id"]) if h.get("contact_id") else None,
            callback=h.get("callback") == "1",
            payload=_json(h.get("payload")) or {},
            agent_id=int(h["agent_id"]) if h.get("agent_id") else None,
            expires_at=float(h["expires_at"]) if h.get("expires_at") else None,
            sticky_agent_id=int(h["sticky_agent_id"]) if h.get("sticky_agent_id") else None,
            language=h.get("language") or None,
        )


def _hash(r: redis.Redis, key: str) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in r.hgetall(key).items()}


@dataclass(frozen=True)
class Joined:
    """What joining a queue did, and what the caller answers with, read in the same round trip.

    `created`: False when the entry was there already (a retried webhook). `anyone_free`: whether any agent was
    available as it joined (False: no reserve attempt can offer it now). As they stood right after the join,
    before any offer: `entry`; `position`, 1-based among the waiting (None when not waiting in this queue);
    `stats`, the queue's figures (its longest wait counted to `enqueued_at`); and `read_along`, the values of the
    keys the caller asked for."""

    created: bool
    anyone_free: bool
    entry: QueueEntry | None = None
    position: int | None = None
    stats: QueueStats | None = None
    read_along: dict[str, Any] = field(default_factory=dict)


def enqueue(r: redis.Redis, **entry: Any) -> bool:
    """Add an entry to a queue (`join`'s arguments); False when it is already there."""
    return join(r, **entry).created


def join(
    r: redis.Redis,
    *,
    entry_id: str,
    queue_id: int,
    priority: int,
    enqueued_at: float,
    from_number: str | None = None,
    contact_id: int | None = None,
    skills: dict[int, int] | None = None,
    payload: dict[str, Any] | None = None,
    sticky_agent_id: int | None = None,
    sticky_until: float | None = None,
    callback_phone: str | None = None,
    reasons: tuple[str, ...] = (),
    language: str | None = None,
    config: QueueConfig | None = None,
    trace: dict[str, Any] | None = None,
    read_along: Sequence[str] = (),
) -> Joined:
    """Add an entry to a queue; not `created` when it is already there (webhooks are retried, this is idempotent).

    With `callback_phone` the entry is a callback: at most one open callback per number and queue (Conflict).
    `config`: the queue's routing settings, stored first where Redis's copy differs (what `reserve_next` reads);
    `trace`: the routing-trace record of the decision, appended to TRACE_LOG when the entry is new; `read_along`:
    Redis keys whose values the caller needs too (in `Joined.read_along`).
    """
    pairs: list[Any] = ["priority", int(priority)]
    optional = {
        "from": from_number,
        "contact_id": contact_id,
        "skills": json.dumps({str(k): int(v) for k, v in skills.items()}) if skills else None,
        "payload": json.dumps(payload or {}),
        "sticky_agent_id": sticky_agent_id,
        "sticky_until": sticky_until,
        "reasons": json.dumps(list(reasons)) if reasons else None,
        "callback": "1" if callback_phone else None,
        "language": language,
    }
    for name, value in optional.items():
        if value is not None:
            pairs += [name, value]
    lock = callback_lock_key(queue_id, callback_phone) if callback_phone else ""
    status, *reading = _run_with_keys(
        r, "enqueue", read_along, entry_id, queue_id, priority_score(priority, enqueued_at), enqueued_at, lock,
        config_document(config) if config is not None else "", json.dumps(trace) if trace is not None else "", *pairs
    )
    status = _text(status)
    if status.startswith("duplicate:"):
        raise Conflict(t('%(callback_phone)s already has an open callback in this queue (%(value)s)',
                         callback_phone=callback_phone, value=status[10:]),
                       field="phone")
    return _joined(status, reading, entry_id, queue_id, enqueued_at, read_along)


def _joined(status: str, reading: Sequence[Any], entry_id: str, queue_id: int, enqueued_at: float,
            read_along: Sequence[str]) -> Joined:
    """The join script's answer after its status: the entry, its rank, the queue's figures, the keys read along."""
    raw, rank, waiting, in_queue, oldest, *values = reading
    fields = {_text(k): _text(v) for k, v in zip(raw[::2], raw[1::2], strict=True)}
    entry = QueueEntry.from_hash(entry_id, fields) if fields else None
    return Joined(
        created=status.startswith("ok"), anyone_free=status == "ok", entry=entry,
        position=None if rank is None or entry is None or entry.queue_id != queue_id else rank + 1,
        stats=_queue_stats_of(queue_id, enqueued_at, waiting, in_queue,
                              list(zip(oldest[::2], oldest[1::2], strict=True))),
        read_along=dict(zip(read_along, values, strict=True)))


@dataclass(frozen=True)
class WalkJoined:
    """What `join_from_walk` found in the call's walk and facts, and what joining did (`joined`)."""

    joined: Joined
    call_id: int
    from_number: str | None  # as the walk has it
    call_language: str | None  # the walk's, or the last the caller chose before this step
    priority: int
    reasons: tuple[str, ...]
    contact_ids: tuple[int, ...]


def join_from_walk(
    r: redis.Redis,
    *,
    walk_key: str,
    facts_key: str,
    entry_id: str,
    queue_id: int,
    enqueued_at: float,
    step_field: str | None,
    step_value: str,
    walk_seconds: int,
    base_priority: int,
    rule_weights: Sequence[tuple[str, int]],
    sticky_wait_seconds: int,
    language_skills: dict[str, int],
    config: QueueConfig,
    payload: dict[str, Any],
    trace: dict[str, Any] | None,
    read_along: Sequence[str] = (),
) -> WalkJoined | None:
    """A menu step that routes the caller, joined in one round trip with what the call's walk and caller facts
    say (see _JOIN_FROM_WALK); None when they cannot say it yet, and nothing was joined: join as `join` does.

    The walk's fields are services.caller_steps'; `step_value` is written as caller_steps writes a step, its
    "step" last. `rule_weights`: the queue's non-zero weights in the order reasons are listed; `payload` and
    `trace` the entry's payload and routing-trace record without the fields decided here (the IVR path, the
    caller's language; the priority, reasons, sticky agent, skills required and language)."""
    answer = _run_with_keys(
        r, "join_from_walk", [walk_key, facts_key, *read_along], entry_id, queue_id, enqueued_at,
        round(enqueued_at * 1000), config_document(config), step_field or "", step_value, walk_seconds,
        int(base_priority), json.dumps([[rule, int(weight)] for rule, weight in rule_weights]),
        int(sticky_wait_seconds), json.dumps(language_skills),
        json.dumps({str(k): int(v) for k, v in config.skills.items()}), json.dumps(payload),
        json.dumps(trace) if trace is not None else "", PRIORITY_LIMIT, PRIORITY_WEIGHT)
    status = _text(answer[0])
    if status == "fallback":
        return None
    count = 6 + len(read_along)  # the join's answer: status, entry, rank, figures, keys read along
    call_id, from_number, language, priority, reasons, contact_ids = answer[count:]
    joined = _joined(status, answer[1:count], entry_id, queue_id, enqueued_at, read_along)
    return WalkJoined(joined, int(call_id), _text(from_number) or None, _text(language) or None, int(priority),
                      tuple(_text(reason) for reason in reasons), tuple(int(i) for i in contact_ids))


def get_entry(r: redis.Redis, entry_id: str) -> QueueEntry | None:
    h = _hash(r, call_key(entry_id))
    return QueueEntry.from_hash(entry_id, h) if h else None


def entry_reading_along(r: redis.Redis, entry_id: str, read_along: Sequence[str]
                        ) -> tuple[QueueEntry | None, dict[str, Any]]:
    """The entry and the `read_along` keys' values (the caller's own keys), in one round trip."""
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(call_key(entry_id))
    for key in read_along:
        pipe.get(key)
    raw, *values = pipe.execute()
    entry = QueueEntry.from_hash(entry_id, {_text(k): _text(v) for k, v in raw.items()}) if raw else None
    return entry, dict(zip(read_along, values, strict=True))


def open_callback(r: redis.Redis, queue_id: int, phone_e164: str) -> str | None:
    """The entry id of the open callback for this number in this queue, if there is one."""
    return _text(r.get(callback_lock_key(queue_id, phone_e164)))


def position(r: redis.Redis, entry_id: str) -> int | None:
    """1-based place among the waiting entries of its queue (for wait announcements); None when not waiting."""
    queue_id = _text(r.hget(call_key(entry_id), "queue_id"))
    if queue_id is None:
        return None
    rank = r.zrank(queue_key(int(queue_id)), entry_id)
    return None if rank is None else rank + 1


def entry_position_and_stats(r: redis.Redis, entry_id: str, queue_id: int, now: float | None,
                             read_along: Sequence[str] = ()
                             ) -> tuple[QueueEntry | None, int | None, QueueStats | None, dict[str, Any]]:
    """The entry, its 1-based waiting position, (with `now`) the queue's figures and the `read_along` keys' values
    (the caller's own, e.g. a cached figure its answer needs too), in one round trip."""
    pipe = r.pipeline(transaction=False)
    for key in read_along:
        pipe.get(key)
    pipe.hgetall(call_key(entry_id))
    pipe.zrank(queue_key(queue_id), entry_id)
    if now is not None:
        _queue_stats_commands(pipe, queue_id)
    answers = pipe.execute()
    read = dict(zip(read_along, answers[:len(read_along)], strict=True))
    raw, rank, *figures = answers[len(read_along):]
    entry = QueueEntry.from_hash(entry_id, {_text(k): _text(v) for k, v in raw.items()}) if raw else None
    position = None if rank is None or entry is None or entry.queue_id != queue_id else rank + 1
    return entry, position, (_queue_stats_of(queue_id, now, *figures) if now is not None else None), read


def waiting_entries(r: redis.Redis, queue_id: int, limit: int = 100) -> list[QueueEntry]:
    """Waiting entries in the order they will be offered."""
    ids = [_text(i) for i in r.zrange(queue_key(queue_id), 0, limit - 1)]
    pipe = r.pipeline()
    for entry_id in ids:
        pipe.hgetall(call_key(entry_id))
    entries = []
    for entry_id, raw in zip(ids, pipe.execute(), strict=True):
        if raw:
            entries.append(QueueEntry.from_hash(entry_id, {_text(k): _text(v) for k, v in raw.items()}))
    return entries


@dataclass(frozen=True)
class QueueStats:
    queue_id: int
    waiting: int  # not yet reserved
    in_queue: int  # waiting + being offered to an agent
    longest_wait: float  # seconds, over every entry still in the queue


def queue_stats(r: redis.Redis, queue_id: int, now: float) -> QueueStats:
    pipe = r.pipeline()
    _queue_stats_commands(pipe, queue_id)
    return _queue_stats_of(queue_id, now, *pipe.execute())


def _queue_stats_commands(pipe: redis.client.Pipeline, queue_id: int) -> None:
    pipe.zcard(queue_key(queue_id))
    pipe.zcard(entries_key(queue_id))
    pipe.zrange(entries_key(queue_id), 0, 0, withscores=True)


def _queue_stats_of(queue_id: int, now: float, waiting: int, in_queue: int, oldest: list) -> QueueStats:
    longest = max(0.0, now - float(oldest[0][1])) if oldest else 0.0
    return QueueStats(queue_id=queue_id, waiting=int(waiting), in_queue=int(in_queue), longest_wait=longest)


def convert_to_callback(
    r: redis.Redis, entry_id: str, *, new_entry_id: str, phone_e164: str, payload: dict[str, Any], now: float
) -> QueueEntry:
    """Replace a waiting entry by a callback entry with the same place (score, enqueue time, priority)."""
    queue_id = _text(r.hget(call_key(entry_id), "queue_id"))
    if queue_id is None:
        raise NotFound(t('Call %(entry_id)s is not in a queue', entry_id=entry_id))
    lock = callback_lock_key(int(queue_id), phone_e164)
    answer = _run(r, "convert_to_callback", entry_id, new_entry_id, lock, json.dumps(payload), now)
    if answer == "not_found":
        raise NotFound(t('Call %(entry_id)s is not in a queue', entry_id=entry_id))
    if answer.startswith("not_waiting:"):
        raise Conflict(t('Call %(entry_id)s is already %(value)s; it can no longer become a callback',
                         entry_id=entry_id, value=answer[12:]))
    if answer.startswith("duplicate:"):
        raise Conflict(t('%(phone_e164)s already has an open callback in this queue (%(value)s)',
                         phone_e164=phone_e164, value=answer[10:]), field="phone")
    entry = get_entry(r, new_entry_id)
    assert entry is not None
    return entry


# --- Reservations ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """An entry reserved for an agent until `expires_at` (the agent is being offered the call)."""

    entry: QueueEntry
    agent_id: int
    expires_at: float
    agents_examined: int = 0  # agents whose skills the decision checked (for the benchmark)
    entries_examined: int = 0  # waiting entries it looked at before this one

    @property
    def call_sid(self) -> str:
        return self.entry.entry_id

    @property
    def queue_id(self) -> int:
        return self.entry.queue_id


def reserve_next(
    r: redis.Redis, queue_ids: list[int], now: float, scan: int = DEFAULT_SCAN
) -> Reservation | None:
    """Atomically pick the best waiting entry of these queues and the agent for it, and reserve both.

    Order: highest priority, then earliest enqueue, across the queues. Agent: the sticky agent when offerable
    (or hold the entry while they may come back within the queue's sticky wait), else the longest-idle
    offerable agent whose skills meet the queue's and the entry's minimum levels; agents who already declined
    this entry are tried last. The per-skill index makes this about O(queues x log agents); an entry nobody
    offerable can take is skipped until an agent joins one of the index sets it needs.
    """
    if not queue_ids:
        return None
    answer = _run(r, "reserve_next", now, scan, *queue_ids)
    if not answer:
        return None
    data = json.loads(answer)
    fields = {k: str(v) for k, v in data["entry"].items()}
    entry = QueueEntry.from_hash(fields.pop("entry_id"), fields)
    assert entry.agent_id is not None and entry.expires_at is not None
    return Reservation(entry=entry, agent_id=entry.agent_id, expires_at=entry.expires_at,
                       agents_examined=int(data["agents_examined"]), entries_examined=int(data["entries_examined"]))


def accept(r: redis.Redis, agent_id: int, entry_id: str, now: float) -> bool:
    """The agent takes the reserved entry: agent on call, entry connected; False if the offer is gone."""
    return _run(r, "accept", entry_id, agent_id, now) == "ok"


def accept_reading(r: redis.Redis, agent_id: int, entry_id: str, now: float
                   ) -> tuple[QueueEntry, QueueStats] | None:
    """`accept`, and the entry and its queue's figures as they are after it, in the same round trip; None if the
    offer is gone."""
    answer = _run(r, "accept_reading", entry_id, agent_id, now)
    if not answer:
        return None
    flat, waiting, in_queue, oldest = answer
    entry = QueueEntry.from_hash(entry_id, {_text(k): _text(v) for k, v in zip(flat[::2], flat[1::2], strict=True)})
    head = [(oldest[0], float(oldest[1]))] if oldest else []
    return entry, _queue_stats_of(entry.queue_id, now, waiting, in_queue, head)


@dataclass(frozen=True)
class Released:
    call_sid: str
    agent_id: int | None
    queue_id: int
    mode: str  # rejected | missed | disconnected


def release(r: redis.Redis, entry_id: str, now: float, mode: str, agent_id: int | None = None) -> Released | None:
    """Return a reserved entry to its original place; the agent becomes available, away (missed) or offline."""
    if mode not in {"rejected", "missed", "disconnected"}:
        raise ValueError(f"unknown release mode {mode!r}")
    answer = _run(r, "release", entry_id, agent_id, now, mode)
    if not answer:
        return None
    data = json.loads(answer)
    return Released(call_sid=data["call_sid"], agent_id=data.get("agent_id"), queue_id=data["queue_id"],
                    mode=data["mode"])


def due_reservations(r: redis.Redis, now: float) -> list[str]:
    """Entry ids whose reservation has expired at `now`."""
    return [_text(i) for i in r.zrangebyscore(RESERVATIONS, "-inf", now)]


@dataclass(frozen=True)
class Finished:
    call_sid: str
    queue_id: int
    status: str  # what the entry was: waiting (abandoned), reserved (caller left while ringing), connected
    agent_id: int | None = None
    agent_state: str | None = None
    wrap_up_until: float | None = None


def finish(r: redis.Redis, entry_id: str, now: float, default_wrap_up_seconds: int = 0) -> Finished | None:
    """Remove an entry from the ACD for good (call ended); its agent goes to wrap-up (or back, if ringing)."""
    answer = _run(r, "finish", entry_id, now, default_wrap_up_seconds)
    if not answer:
        return None
    data = json.loads(answer)
    return Finished(
        call_sid=data["call_sid"],
        queue_id=data["queue_id"],
        status=data["status"],
        agent_id=data.get("agent_id"),
        agent_state=data.get("agent_state"),
        wrap_up_until=data.get("wrap_up_until"),
    )


def transfer(r: redis.Redis, entry_id: str, from_agent_id: int, to_agent_id: int, now: float) -> str:
    """Move a connected call to another agent (warm transfer); returns ok, not_connected or busy."""
    return _run(r, "transfer", entry_id, from_agent_id, to_agent_id, now)


# --- Agents ----------------------------------------------------------------------------------------------------


def set_agent_state(
    r: redis.Redis,
    agent_id: int,
    to_state: str,
    allowed_from: tuple[str, ...],
    now: float,
    reason: str | None = None,
    only_when_wrap_up_over: bool = False,
) -> tuple[str, str]:
    """Compare-and-set an agent's state. Returns (outcome, from_state); outcome is ok|same|illegal|not_due."""
    answer = _run(
        r, "set_state", agent_id, to_state, ",".join(allowed_from), now, reason or "",
        "1" if only_when_wrap_up_over else "0",
    )
    outcome, _, from_state = answer.partition(":")
    return outcome, from_state


def set_agent_flag(
    r: redis.Redis, agent_id: int, name: str, value: Any, index: str | None = None, score: float = 0.0
) -> str:
    """Set (or clear, with None/"") a presence flag and re-derive offerability; returns the agent's state."""
    return _run(r, "set_flag", agent_id, name, value, index or "", score)


def expire_disconnected_agent(r: redis.Redis, agent_id: int, now: float, cutoff: float) -> dict[str, Any] | None:
    answer = _run(r, "expire_disconnected", agent_id, now, cutoff)
    return json.loads(answer) if answer else None


LEG_ENDED_TTL_SECONDS = 3600


def mark_leg_ended(r: redis.Redis, call_sid: str) -> None:
    """Remember that a leg's end was reported, for an agent put on it only afterwards (outbound_begin answers
    "ended"): the status webhook and the request that placed the call race, in different processes."""
    r.set(f"cc:leg_ended:{call_sid}", 1, ex=LEG_ENDED_TTL_SECONDS)


def outbound_begin(r: redis.Redis, agent_id: int, call_sid: str, now: float) -> tuple[str, str]:
    """Put an agent on a call they placed. Returns (ok|same|busy|ended, the state they were in); "ended": on it,
    but its end was already reported (mark_leg_ended), so the caller ends it."""
    outcome, _, from_state = _run(r, "outbound_begin", agent_id, call_sid, now).partition(":")
    return outcome, from_state


def outbound_end(r: redis.Redis, agent_id: int, call_sid: str, now: float, wrap_up_seconds: int,
                 queue_id: int | None = None) -> dict[str, Any] | None:
    """The agent's own call ended: wrap-up (the queue's wrap-up time when it has one, else `wrap_up_seconds`).
    None when they were not on that call any more (a repeated status callback)."""
    answer = _run(r, "outbound_end", agent_id, call_sid, now, wrap_up_seconds, queue_id)
    return json.loads(answer) if answer else None


def due_disconnected(r: redis.Redis, cutoff: float) -> list[int]:
    return [int(_text(i)) for i in r.zrangebyscore(DISCONNECTED, "-inf", cutoff)]


def due_wrap_ups(r: redis.Redis, now: float) -> list[int]:
    return [int(_text(i)) for i in r.zrangebyscore(WRAPUPS, "-inf", now)]


def agent_hash(r: redis.Redis, agent_id: int) -> dict[str, str]:
    return _hash(r, agent_key(agent_id))


def available_agents(r: redis.Redis) -> list[int]:
    """Offerable agents, longest idle first."""
    return [int(_text(i)) for i in r.zrange(AVAILABLE, 0, -1)]


def skill_index_key(skill_id: int, level: int) -> str:
    """The index set of offerable agents with at least `level` (1..MAX_LEVEL) in the skill."""
    return f"{SKILL_INDEX}{skill_id}:{level}"


def available_with_skill(r: redis.Redis, skill_id: int, min_level: int) -> list[int]:
    """Offerable agents with at least `min_level` in the skill, longest idle first (read from the index)."""
    level = max(1, min(MAX_LEVEL, min_level))
    ids = [int(_text(i)) for i in r.zrange(skill_index_key(skill_id, level), 0, -1)]
    if min_level <= MAX_LEVEL:
        return ids
    return [i for i in ids if int(json.loads(agent_hash(r, i).get("skills") or "{}").get(str(skill_id), 0))
            >= min_level]


def skills_json(skills: dict[int, int]) -> str:
    """How an agent's skills are kept in Redis: JSON {skill_id: level}."""
    return json.dumps({str(k): int(v) for k, v in skills.items()})


def repair_agent_index(r: redis.Redis, agent_ids: list[int], batch: int = 50) -> list[int]:
    """Put each agent back in exactly the index sets their presence calls for; returns those that were not.

    Queue heads are re-read too. The scripts keep the index right by themselves; this is the reconciliation
    job's check after a crash, a restore or a hand edit of Redis. Batches keep each script short (Redis runs
    one script at a time).
    """
    fixed: list[int] = []
    for start in range(0, len(agent_ids), batch):
        fixed += json.loads(_run(r, "repair_index", *agent_ids[start:start + batch]))
    return fixed


# --- The transition log (outbox to the database) ---------------------------------------------------------------


def pop_state_log(r: redis.Redis, limit: int = 500) -> list[dict[str, Any]]:
    """Take up to `limit` logged transitions, oldest first."""
    raw = r.lpop(STATE_LOG, limit)
    return [json.loads(item) for item in raw or []]


def restore_state_log(r: redis.Redis, entries: list[dict[str, Any]]) -> None:
    """Put transitions back at the head (a database write failed), keeping their order."""
    if entries:
        r.lpush(STATE_LOG, *[json.dumps(e) for e in reversed(entries)])
