-- Mixed load for bench/soak.sh (wrk 4 with LuaJIT). Each request is drawn at random:
-- token checks, token list pages, token creates and revokes, uploads, wrong-password
-- sign-ins. Counts what was sent and every answer's status; done() prints both.
-- SOAK_TOKEN: an admin's API/CLI token.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  token = os.getenv("SOAK_TOKEN")
  math.randomseed(thread_no * 7919 + os.time())
  auth = { ["Authorization"] = "Bearer " .. token }
  json_auth = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  -- A few bodies per thread: the blob store keeps each content once, so the disk does not
  -- grow with the number of uploads, while every upload still hashes, checks and inserts.
  bodies = {}
  for i, size in ipairs({ 512, 4096, 65536, 262144 }) do
    bodies[i] = string.rep(string.char(64 + thread_no) .. string.char(96 + i), size / 2)
  end
  created = {}   -- token ids waiting to be revoked
  serial = 0
  sent = {}
  statuses = {}
end

local function send(kind, method, path, headers, body)
  sent[kind] = (sent[kind] or 0) + 1
  return wrk.format(method, path, headers, body)
end

function request()
  local r = math.random(100)
  serial = serial + 1
  if r <= 55 then
    return send("whoami", "GET", "/api/v1/whoami", auth)
  elseif r <= 67 then
    local q = math.random(4) == 1 and "&q=soak-" .. math.random(9) or ""
    return send("list", "GET", "/api/v1/tokens?status=all&page=" .. math.random(20) .. q, auth)
  elseif r <= 75 then
    local kind = math.random(2) == 1 and "api" or "forwarder"
    local name = string.format("soak-%d-%d", thread_no, serial)
    return send("create", "POST", "/api/v1/tokens", json_auth, '{"type":"' .. kind .. '","name":"' .. name .. '"}')
  elseif r <= 82 and #created > 0 then
    return send("revoke", "DELETE", "/api/v1/tokens/" .. table.remove(created, 1), auth)
  elseif r <= 95 then
    local body = bodies[math.random(#bodies)]
    return send("upload", "POST", string.format("/api/v1/files?name=soak-%d-%d.bin", thread_no, serial), auth, body)
  else
    local email = string.format("nobody-%d@soak.test", math.random(1000))
    return send("signin", "POST", "/rpc/login", form, "email=" .. email .. "&password=not+the+password+" .. serial)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  -- A create's answer is the only one that carries a secret; its first id is the token's.
  if status == 201 and body:find('"secret"', 1, true) then
    local id = body:match('"id":(%d+)')
    if id and #created < 10000 then
      table.insert(created, id)
    end
  end
end

function done(summary, latency, requests)
  local all_sent, all_statuses = {}, {}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("sent")) do all_sent[k] = (all_sent[k] or 0) + v end
    for k, v in pairs(thread:get("statuses")) do all_statuses[k] = (all_statuses[k] or 0) + v end
  end
  for k, v in pairs(all_sent) do io.write(string.format("soak sent %s %d\n", k, v)) end
  for k, v in pairs(all_statuses) do io.write(string.format("soak status %d %d\n", k, v)) end
  local e = summary.errors
  io.write(string.format("soak total %d\nsoak socket_errors connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, e.connect, e.read, e.write, e.timeout))
  io.write(string.format("soak latency_ms p50=%.2f p99=%.2f max=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
