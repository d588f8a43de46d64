/**
 * gcraDecide (gcra.ts) as one Redis script, for a batch of requests: each request's
 * counting is atomic whatever the number of its policies, and the requests of one batch are
 * counted in their order, one after the other, exactly as separate calls would be.
 *
 * KEYS: every request's counters, in order. ARGV: the number of requests, then per request the
 * number of its keys and, per key, interval and capacity (µs). Time is the server's (TIME,
 * allowed in scripts since Redis 5's effect replication), so replicas with skewed clocks count
 * on one clock. Returns, per request, `admitted, remaining₁, wait₁, remaining₂, wait₂, …` as
 * integers written with `%d` (truncated, as an integer reply would be) in one comma-separated
 * string: one bulk reply costs ioredis's decoder far less than an array of integers. `%d` also
 * keeps a TAT exact (Lua would print 1.8e15 as `1.8e+15`). Each counter expires when its TAT is
 * reached: idle, it holds nothing.
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
  out[#out + 1] = string.format('%d', admitted)
  for i = 1, n do
    local interval = tonumber(ARGV[a + 2 * i - 2])
    local capacity = tonumber(ARGV[a + 2 * i - 1])
    local tat = tats[i]
    if admitted == 1 then
      tat = nexts[i]
      redis.call('SET', KEYS[k + i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
    end
    local after = math.max(tat, now)
    out[#out + 1] = string.format('%d', math.max(0, math.floor((capacity - (after - now)) / interval)))
    out[#out + 1] = string.format('%d', math.max(0, after + interval - capacity - now))
  end
  k = k + n
  a = a + 2 * n
end
return table.concat(out, ',')
`

/**
 * The reconcile of synced-counters.ts, over the same counters as GCRA_SCRIPT (so pods with and
 * without `syncMs` count together). KEYS: counters. ARGV: per key, the admissions a pod made
 * since its last reconcile, the interval, and that pod's own TAT ahead of now (µs). The new TAT
 * is the later of the shared one moved on by those admissions and the pod's own: never less
 * than the one GCRA over every pod's admissions in their order would reach (to within the
 * round trip that carries the offsets), and exactly that when one pod counts alone. Times travel as offsets from now, so the pods' clocks never meet
 * the server's. Returns each TAT ahead of now (0: idle).
 */
export const SYNC_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS do
  local n = tonumber(ARGV[3 * i - 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or 0) or 0
  if n > 0 then
    tat = math.max(tat + n * tonumber(ARGV[3 * i - 1]), now + tonumber(ARGV[3 * i]))
    if tat > now then
      redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
    end
  end
  out[i] = math.max(0, tat - now)
end
return out
`
