-- Concurrent refresh-token rotation: each connection rotates its own session, always presenting
-- the token the previous rotation returned. wrk -s refresh_chains.lua <url> -- <token file> <threads>
-- Tokens are dealt to threads round-robin. Each thread needs one token more than it has
-- connections: wrk calls request() once on the first thread's state to check the script.
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local tokens = {}
function init(args)
  local path, threads = args[1], tonumber(args[2])
  local i = 0
  for line in io.lines(path) do
    if i % threads == id then
      table.insert(tokens, line)
    end
    i = i + 1
  end
end

function request()
  -- An empty pool only happens after a failed rotation; the 401 then counts as an error.
  local token = table.remove(tokens) or "exhausted"
  return wrk.format("POST", "/api/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      table.insert(tokens, token)
    end
  end
end
