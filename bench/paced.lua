-- request.lua's request, with a fixed pause between an answer and the next request on
-- the same connection, for latency at a chosen rate rather than at the maximum.
--
--   wrk ... -s bench/paced.lua URL -- METHOD BODY_FILE TOKEN PAUSE_MS
--
-- wrk stays closed-loop: each connection sends one request, waits for its answer, then
-- waits PAUSE_MS (whole milliseconds) before the next. N connections thus send at most
-- N * 1000 / PAUSE_MS requests per second, less by the time the answers take. wrk's
-- latency runs from sending a request to its answer; the pause is not in it. delay()
-- lives here, not in request.lua, because defining it makes wrk arm a timer before
-- every request, which would lower the maximum-throughput figures.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "request.lua")

local request_init = init
local pause_ms = 0

function init(args)
   request_init(args)
   pause_ms = assert(tonumber(args[4]), "PAUSE_MS must be a number")
end

function delay()
   return pause_ms
end
