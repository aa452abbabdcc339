package store

import "github.com/redis/go-redis/v9"

// Keys. A declaration's keys share the hash tag {id}, so every script that
// touches them stays in one Redis Cluster slot.
func declKey(id string) string     { return "d:{" + id + "}" }
func historyKey(id string) string  { return "d:{" + id + "}:h" }
func messagesKey(id string) string { return "d:{" + id + "}:x" }

// claimKey reserves (tenant, logisticsNo): the courier's idempotency key.
func claimKey(tenant, logisticsNo string) string { return "ln:{" + tenant + "}:" + logisticsNo }

func manifestKey(id string) string        { return "m:{" + id + "}" }
func manifestMembersKey(id string) string { return "m:{" + id + "}:d" }
func sentMessageKey(guid string) string   { return "x:" + guid }

// createScript records an accepted declaration. It is idempotent and
// commutes with transitions: the gateway (after Kafka's ack) and the tracker
// (from Kafka) both run it, and a receipt that overtook it keeps its status.
// KEYS: decl, history. ARGV: at, history entry, then field/value pairs.
var createScript = redis.NewScript(`
local fresh = redis.call('HSETNX', KEYS[1], 'rank', '10')
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if fresh == 1 then
  redis.call('HSET', KEYS[1], 'status', 'accepted', 'updatedAt', ARGV[1])
  redis.call('RPUSH', KEYS[2], ARGV[2])
end
return fresh
`)

// transitionScript applies one status change atomically. The receipt is
// kept once (HSETNX by its identity); the status moves only to a strictly
// higher rank, so a duplicated or late receipt changes nothing. Each
// applied rank is marked, so a redelivered receipt can be told apart from a
// stale one: its status event is published again (at least once), a stale
// one's never. A final status starts the retention clock.
// KEYS: decl, history, messages.
// ARGV: rank, status, code, returnInfo, invtNo, preNo, at, receipt field,
// receipt value, history entry, messageGuid, retention seconds if final.
// Returns {1 applied | 2 applied before | 0 stale, tenant, agentCode,
// logisticsNo, manifestId}.
var transitionScript = redis.NewScript(`
if ARGV[8] ~= '' then redis.call('HSETNX', KEYS[3], ARGV[8], ARGV[9]) end
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
local result = 0
if tonumber(ARGV[1]) > cur then
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
  result = 1
elseif redis.call('HGET', KEYS[1], 'a:' .. ARGV[1]) == ARGV[3] then
  result = 2
end
local who = redis.call('HMGET', KEYS[1], 'tenant', 'agentCode', 'logisticsNo', 'manifestId')
return {result, who[1] or '', who[2] or '', who[3] or '', who[4] or ''}
`)
