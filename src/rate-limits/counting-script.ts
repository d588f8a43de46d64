/**
 * gcraDecide (gcra.ts) as one Redis script, for a batch of requests: each request's
 * counting is atomic whatever the number of its policies, and the requests of one batch are
 * counted in their order, one after the other, exactly as separate calls would be.
 *
 * KEYS: every request's counters, in order. ARGV: the number of requests, then per request the
 * number of its keys and, per key, interval and capacity (µs). Time is the server's (TIME,
 * allowed in scripts since Redis 5's effect replication), so replicas with skewed clocks count
 * on one clock. Returns, per request, `admitted, remaining₁, wait₁, remaining₂, wait₂, …` as
 * integers; `%d` keeps a TAT exact (Lua would print 1.8e15 as `1.8e+15`). Each counter expires
 * when its TAT is reached: idle, it holds nothing.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local k = 0
local a = 2
for _ = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local tats, nexts = {}, {}
  local admitted = 1
  for i = 1, n do
    local interval = tonumber(ARGV[a + 2 * i - 2])
    local capacity = tonumber(ARGV[a + 2 * i - 1])
    local tat = tonumber(redis.call('GET', KEYS[k + i]) or 0) or 0
    tats[i] = tat
    local nxt = math.max(tat, now) + interval
    nexts[i] = nxt
    if nxt - now > capacity then admitted = 0 end
  end
  out[#out + 1] = admitted
  for i = 1, n do
    local interval = tonumber(ARGV[a + 2 * i - 2])
    local capacity = tonumber(ARGV[a + 2 * i - 1])
    local tat = tats[i]
    if admitted == 1 then
      tat = nexts[i]
      redis.call('SET', KEYS[k + i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
    end
    local after = math.max(tat, now)
    out[#out + 1] = math.max(0, math.floor((capacity - (after - now)) / interval))
    out[#out + 1] = math.max(0, after + interval - capacity - now)
  end
  k = k + n
  a = a + 2 * n
end
return out
`
