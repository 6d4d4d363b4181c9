-- wrk script: teller cash deposits, each under its own Idempotency-Key.
--
-- A repeated key would be answered from the idempotency store without posting, so every request
-- carries a fresh key (run id, thread id, counter) to measure real ledger writes. Deposits are
-- spread over many accounts (BENCH_ACCOUNTS, comma-separated) so the AML rules look back over
-- realistic per-account histories rather than one ever-growing one.

local run = os.getenv("BENCH_RUN") or tostring(os.time())
local token = os.getenv("BENCH_TELLER_TOKEN") or "teller-local-token"

wrk.method = "POST"
wrk.path = "/v1/cash/deposits"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local accounts = {}
local counter = 0

function init(args)
  for id in string.gmatch(os.getenv("BENCH_ACCOUNTS") or "", "[^,]+") do
    accounts[#accounts + 1] = id
  end
  if #accounts == 0 then
    error("BENCH_ACCOUNTS lists no account ids")
  end
  -- Seeded per thread so that a run can be replayed with the same spread of accounts.
  math.randomseed(thread_id)
end

function request()
  counter = counter + 1
  local account = accounts[math.random(#accounts)]
  wrk.headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run, thread_id, counter)
  local body = string.format(
    '{"account_id":"%s","amount":"10.00","branch_id":"B001","operator_id":"T01"}', account
  )
  return wrk.format(nil, nil, nil, body)
end
