/**
 * gcraDecide (domain/gcra.ts) as one Redis script, so a request's counting is one atomic
 * server-side operation whatever the number of its policies. KEYS: one counter per policy;
 * ARGV: interval and capacity (µs) per key. Time is the server's (TIME, allowed in scripts since
 * Redis 5's effect replication), so replicas with skewed clocks count on one clock. Returns
 * `{admitted, remaining₁, wait₁, remaining₂, wait₂, …}` as integers; `%d` keeps the TAT exact (Lua
 * would print 1.8e15 as `1.8e+15`). Each counter expires when its TAT is reached: idle, it holds
 * nothing.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats, nexts = {}, {}
local admitted = 1
for i = 1, n do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or 0) or 0
  tats[i] = tat
  local nxt = math.max(tat, now) + interval
  nexts[i] = nxt
  if nxt - now > capacity then admitted = 0 end
end
local out = { admitted }
for i = 1, n do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tats[i]
  if admitted == 1 then
    tat = nexts[i]
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
  end
  local after = math.max(tat, now)
  out[2 * i] = math.max(0, math.floor((capacity - (after - now)) / interval))
  out[2 * i + 1] = math.max(0, after + interval - capacity - now)
end
return out
`
