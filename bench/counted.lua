-- request.lua's request, sent an exact number of times, for memory readings after a
-- known count of requests.
--
--   wrk ... -s bench/counted.lua URL -- METHOD BODY_FILE TOKEN TOTAL THREADS
--
-- THREADS must equal wrk's --threads. Each thread's share is TOTAL / THREADS, one
-- more for the first TOTAL % THREADS threads. delay() lets a thread send no more than
-- its share (no pause until then; past it, an hour, which never ends as the thread
-- stops first). response() counts the answers; at the share it stops the thread and
-- prints a BENCH_THREAD_DONE line. wrk itself waits out --duration before its report,
-- so bench/sustained.py interrupts it (SIGINT) once every thread has printed that line.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "request.lua")

-- wrk's main Lua state calls setup() once per thread, in order, before that thread's
-- init(); thread:set() makes a global in the thread's own state.
local threads_set_up = 0
function setup(thread)
   threads_set_up = threads_set_up + 1
   thread:set("thread_number", threads_set_up)
end

local request_init = init
local share, sent, answered = 0, 0, 0
local NEVER_MS = 3600 * 1000

function init(args)
   request_init(args)
   local total = assert(tonumber(args[4]), "TOTAL must be a number")
   local threads = assert(tonumber(args[5]), "THREADS must be a number")
   share = math.floor(total / threads)
   if thread_number <= total % threads then
      share = share + 1
   end
end

function delay()
   sent = sent + 1
   if sent <= share then
      return 0
   end
   return NEVER_MS
end

function response(status, headers, body)
   answered = answered + 1
   if answered == share then
      io.write(string.format("BENCH_THREAD_DONE %d\n", answered))
      io.flush()
      wrk.thread:stop()
   end
end
