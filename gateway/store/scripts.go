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

// createScript records an accepted declaration. It is idempotent and
// commutes with transitions: the gateway (after Kafka's ack) and the tracker
// (from Kafka) both run it, and a receipt that overtook it keeps its status.
// The first run (marker field "cd") counts the parcel as declared, adds it
// to its flight's readiness and counts what receipts that overtook it had
// to leave pending.
// KEYS: decl, history, stats hour, stats day (of acceptedAt).
// ARGV: at, history entry, declaration id, values ("currency:amount,…" in
// 1/100000), hour TTL, day TTL, flight TTL (seconds), then field/value pairs.
var createScript = redis.NewScript(statsLua + `
local fresh = redis.call('HSETNX', KEYS[1], 'rank', '10')
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
if fresh == 1 then
  redis.call('HSET', KEYS[1], 'status', 'accepted', 'updatedAt', ARGV[1])
  redis.call('RPUSH', KEYS[2], ARGV[2])
end
if redis.call('HSETNX', KEYS[1], 'cd', '1') == 1 then
  local h = facts(KEYS[1])
  for _, p in ipairs({{KEYS[3], ARGV[5]}, {KEYS[4], ARGV[6]}}) do
    bump(h, p[1], 'declared', 1, p[2])
    for cur, amount in string.gmatch(ARGV[4], '(%w+):(%d+)') do bump(h, p[1], 'value:' .. cur, tonumber(amount), p[2]) end
  end
  flight(h, ARGV[3], nil, h.status, ARGV[7])
  local pending = redis.call('HGET', KEYS[1], 'sp')
  if pending then
    for _, ev in ipairs(cjson.decode(pending)) do count(h, ev) end
    redis.call('HDEL', KEYS[1], 'sp')
  end
end
return fresh
`)

// transitionScript applies one status change atomically. The receipt is
// kept once (HSETNX by its identity); the status moves only to a strictly
// higher rank, so a duplicated or late receipt changes nothing. Each
// applied rank is marked, so a redelivered receipt can be told apart from a
// stale one: its status event is published again (at least once), a stale
// one's never. A final status starts the retention clock. Flight readiness
// follows the status in the same step. Each statistics step (inspected,
// released…) counts once per declaration, marked in its hash, so a
// redelivered receipt never counts twice and a late one (an inspection
// receipt that arrives after the release) still counts; a step that
// overtook the declaration's record is counted when the record arrives
// (createScript).
// KEYS: decl, history, messages, stats hour, stats day (of the change).
// ARGV: rank, status, code, returnInfo, invtNo, preNo, at, receipt field,
// receipt value, history entry, messageGuid, retention seconds if final,
// statistics metric if any, at in Unix ms, hour TTL, day TTL, flight TTL,
// declaration id.
// An arrival (empty status) only records, once, when the parcel reached
// the supervised site; a later release measures arrival → released from it.
// Returns {1 applied | 2 applied before | 0 stale, tenant, agentCode,
// logisticsNo, manifestId}.
var transitionScript = redis.NewScript(statsLua + `
if ARGV[2] == '' then
  redis.call('HSETNX', KEYS[1], 'arrivedMs', ARGV[14])
  redis.call('HSETNX', KEYS[1], 'arrivedAt', ARGV[7])
  return {0, '', '', '', ''}
end
if ARGV[8] ~= '' then redis.call('HSETNX', KEYS[3], ARGV[8], ARGV[9]) end
local h -- the declaration's facts, read only when a change or a count needs them
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
local result = 0
if tonumber(ARGV[1]) > cur then
  h = facts(KEYS[1])
  redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'status', ARGV[2], 'updatedAt', ARGV[7], 'a:' .. ARGV[1], ARGV[3])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'code', ARGV[3]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'returnInfo', ARGV[4]) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'invtNo', ARGV[5]) end
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'preNo', ARGV[6]) end
  if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'messageGuid', ARGV[11]) end
  redis.call('RPUSH', KEYS[2], ARGV[10])
  if ARGV[12] ~= '' then
    for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[12]) end
  end
  if redis.call('HEXISTS', KEYS[1], 'cd') == 1 then
    flight(h, ARGV[18], h.status, ARGV[2], ARGV[17])
  end
  result = 1
elseif redis.call('HGET', KEYS[1], 'a:' .. ARGV[1]) == ARGV[3] then
  result = 2
end
if ARGV[13] ~= '' and redis.call('HSETNX', KEYS[1], 'c:' .. ARGV[13], '1') == 1 then
  h = h or facts(KEYS[1])
  local ev = {m = ARGV[13], hk = KEYS[4], dk = KEYS[5], ms = tonumber(ARGV[14]), info = ARGV[4], ht = ARGV[15], dt = ARGV[16]}
  if h.tenant then
    count(h, ev)
  else
    local pending = cjson.decode(redis.call('HGET', KEYS[1], 'sp') or '[]')
    table.insert(pending, ev)
    redis.call('HSET', KEYS[1], 'sp', cjson.encode(pending))
  end
end
local who = redis.call('HMGET', KEYS[1], 'tenant', 'agentCode', 'logisticsNo', 'manifestId')
return {result, who[1] or '', who[2] or '', who[3] or '', who[4] or ''}
`)
