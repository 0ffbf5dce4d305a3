-- wrk script: POST a reply with a fresh Idempotency-Key per request (every request is new work).
local counter = 0
local thread_id = math.random(1, 1e9)
request = function()
  counter = counter + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = "bench-" .. thread_id .. "-" .. counter
  local body = '{"prospectId":"' .. os.getenv("BENCH_PROSPECT") .. '","message":"Thanks! Talk soon (' .. counter .. ')"}'
  return wrk.format("POST", os.getenv("BENCH_PATH"), headers, body)
end
