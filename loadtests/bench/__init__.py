"""HugMood realtime benchmark: one command, its own servers, its own load generator.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \
        python -m loadtests.bench [--quick] [--scenario NAME ...] [--duration SECS] [--profile]

run from the repository root (`make bench BENCH_ARGS="--quick"` runs it with the project's venv).
With the embedded development servers: `export $(.venv/bin/python scripts/dev.py services)` first.

What it does, all on loopback and all cleaned up at the end (also on Ctrl-C):
- creates its own database `hugmood_bench_<random>` on DATABASE_URL's server, applies schema.sql,
  uses its own REDIS_PREFIX, and drops the database / deletes the prefix's keys when done;
- creates users directly in the database (privacy open to everyone) and mints access tokens with
  `hugmood.identity.tokens.issue_access_token` and the JWT_SECRET it gives the servers;
- starts web processes exactly as production does (`python -m realtime --port N`), with very high
  rate limits, the server pinned to core 0 and the load generator to core 1 (single-process
  scenarios), or the two servers pinned to cores 0 and 1 (two-process scenarios);
- drives them from separate processes with a lean raw-websocket Socket.IO client
  (loadtests/wsclient.py), reporting the generator's own CPU next to every figure, and the
  server's, PostgreSQL's and Redis's CPU too, so one can tell who the bottleneck was.

Scenarios: fanout (N connections of one user in room user:<id>, a write-only RedisManager
publisher in its own process, like a worker), direct (hug:send with the full delivery guarantee,
pipelined, 1 and 2 web processes), presence (ephemeral direct messages: `presence:set` of a user
reaching its one follower as `presence.changed`, pipelined, 1 and 2 web processes), mood (one
mood update to 1,000 followers over 2 processes), memory (RSS per idle authenticated
connection), connect (authenticated connections accepted per second).

`--profile` also runs py-spy on the servers during the saturation (and connect) windows and
measures their cyclic-GC time; `--serve PORT` starts one web process with a fresh bench database
and load-test limits, for Locust (loadtests/locustfile.py), until Ctrl-C.

Prints a table and writes loadtests/results/<timestamp>.json (with the git commit).

Modules: `cli` (options, main), `plan` (sizes and durations), one module per scenario
(`fanout`, `direct`, `presence`, `mood`, `memory`, `connect`; `pairs` is what direct and
presence share), the harness (`harness`: database, Redis, processes and the measuring window;
`servers`; `loadgen`, `roles` and `publisher`: the generator processes; `measure`: /proc;
`profiling`: py-spy and GC), `report` (rows, table, JSON) and `domain` (all the bench imports
from the application).
"""
