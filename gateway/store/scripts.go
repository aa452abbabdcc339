package store

import "github.com/redis/go-redis/v9"

// Keys. A declaration's keys carry its group's hash tag (shardOf), so
// every script that touches them, and the statistics and flight keys it
// counts in, stays in one Redis Cluster slot.
func declKey(id string) string     { return "d:" + shardOf(id) + ":" + id }
func historyKey(id string) string  { return declKey(id) + ":h" }
func messagesKey(id string) string { return declKey(id) + ":x" }

// DeclarationKey is the hash that holds a declaration's status, for tools
// and tests that look at Redis directly.
func DeclarationKey(id string) string { return declKey(id) }

// claimKey reserves (tenant, logisticsNo): the courier's idempotency key.
// No hash tag: claims spread over every slot.
func claimKey(tenant, logisticsNo string) string { return "ln:" + tenant + ":" + logisticsNo }

func manifestKey(id string) string        { return "m:{" + id + "}" }
func manifestMembersKey(id string) string { return "m:{" + id + "}:d" }
func sentMessageKey(guid string) string   { return "x:" + guid }

// batchSize bounds how many declarations or changes one script call
// applies: enough to share its counters, short enough (a few
// milliseconds) not to hold Redis up.
const batchSize = 100

// createScript records accepted declarations of one group, in order. It
// is idempotent and commutes with transitions: the gateway (after Kafka's
// ack) and the tracker (from Kafka, for any the gateway did not record)
// both run it, and a receipt that overtook it keeps its status. A
// declaration's first run (marker field "cd") counts it as declared, adds
// it to its flight's readiness and counts what receipts that overtook it
// had to leave pending.
// Per declaration, KEYS: decl, history, stats hour, stats day (of
// acceptedAt); ARGV: how many arguments follow, then at, history entry,
// declaration id, values ("currency:amount,…" in 1/100000), hour TTL, day
// TTL, flight TTL (seconds), and field/value pairs.
// Returns, per declaration, 1 if it was new.
var createScript = redis.NewScript(statsLua + `
local function create(K, A)
  local v = redis.call('HMGET', K[1], 'rank', 'cd', 'sp')
  local fresh, counted = not v[1], v[2]
  local set = {unpack(A, 8)}
  if fresh then
    for _, x in ipairs({'rank', '10', 'status', 'accepted', 'updatedAt', A[1]}) do set[#set + 1] = x end
    redis.call('RPUSH', K[2], A[2])
  end
  if not counted then
    set[#set + 1] = 'cd'
    set[#set + 1] = '1'
  end
  redis.call('HSET', K[1], unpack(set))
  if not counted then
    local h = facts(K[1])
    for _, p in ipairs({{K[3], A[5]}, {K[4], A[6]}}) do
      bump(h, p[1], 'declared', 1, p[2])
      for cur, amount in string.gmatch(A[4], '(%w+):(%d+)') do bump(h, p[1], 'value:' .. cur, tonumber(amount), p[2]) end
    end
    flight(h, A[3], nil, h.status, A[7])
    if v[3] then
      for _, ev in ipairs(cjson.decode(v[3])) do count(h, ev) end
      redis.call('HDEL', K[1], 'sp')
    end
  end
  return fresh and 1 or 0
end

local out, a = {}, 1
for i = 0, #KEYS / 4 - 1 do
  local n = tonumber(ARGV[a])
  out[#out + 1] = create({KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]}, {unpack(ARGV, a + 1, a + n)})
  a = a + n + 1
end
flush()
return out
`)

// transitionScript applies status changes of one group, each atomically
// and in order. The receipt is kept once (HSETNX by its identity); the
// status moves only to a strictly higher rank, so a duplicated or late
// receipt changes nothing. Each applied rank is marked, so a redelivered
// receipt can be told apart from a stale one: its status event is
// published again (at least once), a stale one's never. A final status
// starts the retention clock. Flight readiness follows the status in the
// same step. Each statistics step (inspected, released…) counts once per
// declaration, marked in its hash, so a redelivered receipt never counts
// twice and a late one (an inspection receipt that arrives after the
// release) still counts; a step that overtook the declaration's record is
// counted when the record arrives (createScript).
// Per change, KEYS: decl, history, messages, stats hour, stats day (of the
// change); ARGV (18): rank, status, code, returnInfo, invtNo, preNo, at,
// receipt field, receipt value, history entry, messageGuid, retention
// seconds if final, statistics metric if any, at in Unix ms, hour TTL,
// day TTL, flight TTL, declaration id.
// An arrival (empty status) only records, once, when the parcel reached
// the supervised site; a later release measures arrival → released from it.
// Returns, per change, {1 applied | 2 applied before | 0 stale, tenant,
// agentCode, logisticsNo, manifestId}.
var transitionScript = redis.NewScript(statsLua + `
local function transition(K, A)
  if A[2] == '' then
    redis.call('HSETNX', K[1], 'arrivedMs', A[14])
    redis.call('HSETNX', K[1], 'arrivedAt', A[7])
    return {0, '', '', '', ''}
  end
  if A[8] ~= '' then redis.call('HSETNX', K[3], A[8], A[9]) end
  -- One read of all the step needs, one write of all it changes: a step
  -- is a handful of commands, which is most of what Redis spends a parcel.
  local metric = A[13]
  local v = redis.call('HMGET', K[1], 'rank', 'a:' .. A[1], 'cd', 'c:' .. metric, unpack(FACTS))
  local h = factsFrom(v, 5)
  local set = {}
  local result = 0
  if tonumber(A[1]) > tonumber(v[1] or '-1') then
    set = {'rank', A[1], 'status', A[2], 'updatedAt', A[7], 'a:' .. A[1], A[3]}
    for _, f in ipairs({{3, 'code'}, {4, 'returnInfo'}, {5, 'invtNo'}, {6, 'preNo'}, {11, 'messageGuid'}}) do
      if A[f[1]] ~= '' then
        set[#set + 1] = f[2]
        set[#set + 1] = A[f[1]]
      end
    end
    redis.call('RPUSH', K[2], A[10])
    if A[12] ~= '' then
      for i = 1, 3 do redis.call('EXPIRE', K[i], A[12]) end
    end
    if v[3] then
      flight(h, A[18], h.status, A[2], A[17])
    end
    result = 1
  elseif v[2] == A[3] then
    result = 2
  end
  if metric ~= '' and not v[4] then
    set[#set + 1] = 'c:' .. metric
    set[#set + 1] = '1'
    local ev = {m = metric, hk = K[4], dk = K[5], ms = tonumber(A[14]), info = A[4], ht = A[15], dt = A[16]}
    if h.tenant then
      count(h, ev)
    else
      local pending = cjson.decode(redis.call('HGET', K[1], 'sp') or '[]')
      table.insert(pending, ev)
      set[#set + 1] = 'sp'
      set[#set + 1] = cjson.encode(pending)
    end
  end
  if #set > 0 then redis.call('HSET', K[1], unpack(set)) end
  return {result, h.tenant or '', h.agentCode or '', h.logisticsNo or '', h.manifestId or ''}
end

local out = {}
for i = 0, #KEYS / 5 - 1 do
  out[#out + 1] = transition({KEYS[5 * i + 1], KEYS[5 * i + 2], KEYS[5 * i + 3], KEYS[5 * i + 4], KEYS[5 * i + 5]}, {unpack(ARGV, 18 * i + 1, 18 * i + 18)})
end
flush()
return out
`)
