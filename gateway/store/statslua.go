package store

import "fmt"

// statsLua is shared by the create and transition scripts: it keeps the
// green-channel statistics and flight readiness inside the same atomic
// step that changes a declaration, so each counts what was applied, once.
//
// Each of these keys is kept per group of declarations (shard.go): TAG,
// the hash tag of the declaration's own key, keeps the step in one Redis
// Cluster slot; reads add the groups up.
//
// A statistics period is a hash (st:{tag}:h:<YYYYMMDDHH>,
// st:{tag}:d:<YYYYMMDD>, China time) of counters: "<metric>" for the whole channel and
// "<metric>|<dimension>|<value>" per courier, country, tradeMode, customs
// office and flight; "t:dr:<bucket>" and "t:ar:<bucket>" the clearance
// time histograms (declared → released, arrival → released); "r:<reason>"
// rejection reasons.
//
// A flight's readiness is a hash fl:{tag}:<ieDate>:<voyageNo> of
// "<billNo>|<status>" → parcels, the set fls:{tag}:<ieDate> of its
// flights, and flh:{tag}:<ieDate>:<voyageNo>, the ids of its held parcels.
var statsLua = fmt.Sprintf(`
local TAG = string.match(KEYS[1], '{[^}]*}')
local LOG_GAMMA = math.log(%.17g)
local DIMS = {{'courier', 'tenant'}, {'country', 'country'}, {'tradeMode', 'tradeMode'}, {'customsOffice', 'customsCode'}, {'flight', 'voyageNo'}}
local HELD = {rejected = true, detained = true, returned = true, error = true}

-- A declaration's facts: what its counters and its status event need.
local FACTS = {'tenant', 'country', 'tradeMode', 'customsCode', 'voyageNo', 'acceptedMs', 'arrivedMs', 'billNo', 'ieDate', 'status',
  'agentCode', 'logisticsNo', 'manifestId'}

-- factsFrom reads them from an HMGET's answer v, FACTS asked from index at.
local function factsFrom(v, at)
  local h = {}
  for i, f in ipairs(FACTS) do
    if v[at + i - 1] then h[f] = v[at + i - 1] end
  end
  h.billNo, h.ieDate = h.billNo or '', h.ieDate or ''
  return h
end

local function facts(key)
  return factsFrom(redis.call('HMGET', key, unpack(FACTS)), 1)
end

-- Counters are added up over the whole batch and written once each at
-- its end (flush): a batch of a hundred parcels of one hour moves the
-- same few hundred counters, not a few thousand. A counter touched is
-- written even when its sum is 0, so which fields exist never depends on
-- how the work was batched (a rebuild reproduces every hash exactly).
local SUMS, TTLS = {}, {}

local function incr(key, field, by, ttl)
  local t = SUMS[key]
  if not t then t = {}; SUMS[key] = t end
  t[field] = (t[field] or 0) + by
  if ttl then TTLS[key] = ttl end
end

local function flush()
  for key, fields in pairs(SUMS) do
    for field, by in pairs(fields) do redis.call('HINCRBY', key, field, by) end
    if TTLS[key] then redis.call('EXPIRE', key, TTLS[key]) end
  end
end

local function bump(h, key, field, by, ttl)
  incr(key, field, by, ttl)
  for _, d in ipairs(DIMS) do
    local v = h[d[2]]
    if v and v ~= '' then incr(key, field .. '|' .. d[1] .. '|' .. v, by) end
  end
end

local function observe(key, prefix, ms)
  local b = 0
  if ms > 1 then b = math.ceil(math.log(ms) / LOG_GAMMA) end
  incr(key, prefix .. b, 1)
end

local function count(h, ev)
  for _, p in ipairs({{ev.hk, ev.ht}, {ev.dk, ev.dt}}) do
    bump(h, p[1], ev.m, 1, p[2])
    if ev.m == 'released' then
      if h.acceptedMs then observe(p[1], 't:dr:', ev.ms - tonumber(h.acceptedMs)) end
      if h.arrivedMs then observe(p[1], 't:ar:', ev.ms - tonumber(h.arrivedMs)) end
    elseif ev.m == 'rejected' and ev.info ~= '' then
      incr(p[1], 'r:' .. ev.info, 1)
    end
  end
end

local function flight(h, id, old, new, ttl)
  if not h.voyageNo or h.voyageNo == '' then return end
  local key, held, day = 'fl:' .. TAG .. ':' .. h.ieDate .. ':' .. h.voyageNo, 'flh:' .. TAG .. ':' .. h.ieDate .. ':' .. h.voyageNo, 'fls:' .. TAG .. ':' .. h.ieDate
  if old then incr(key, h.billNo .. '|' .. old, -1) end
  incr(key, h.billNo .. '|' .. new, 1, (not old) and ttl or nil)
  if HELD[new] then
    redis.call('SADD', held, id)
    redis.call('EXPIRE', held, ttl)
  elseif old and HELD[old] then
    redis.call('SREM', held, id)
  end
  -- The readiness hash and the day's set live as long as the indexes from
  -- the last parcel declared on the flight; a change comes within the
  -- clearance allowance of its declaration, long before that, so only the
  -- declaration's first step sets their lifetime.
  if not old then
    redis.call('SADD', day, h.voyageNo)
    redis.call('EXPIRE', day, ttl)
  end
end
`, histogramGamma)
