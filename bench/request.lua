-- One request, sent over and over by wrk: the same method, body and token each time.
--
--   wrk ... -s bench/request.lua URL -- METHOD BODY_FILE TOKEN
--
-- BODY_FILE is a file holding the JSON body, or "-" for none; TOKEN goes into the
-- X-Vault-Token header, or "-" for none. When the run ends, one line starting with
-- BENCH_RESULT carries its figures as JSON (latencies in microseconds), for
-- bench/load.py to read; wrk's own report is printed too and ignored.

function init(args)
   wrk.method = args[1]
   if args[2] ~= "-" then
      local file = assert(io.open(args[2], "rb"))
      wrk.body = file:read("*a")
      file:close()
      wrk.headers["Content-Type"] = "application/json"
   end
   if args[3] ~= "-" then
      wrk.headers["X-Vault-Token"] = args[3]
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
         .. '"status_errors": %d, "timeouts": %d, '
         .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
