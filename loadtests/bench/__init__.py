"""HugMood realtime benchmark, side by side with a Node.js Socket.IO reference: one command,
its own servers, its own load generator.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \
        python -m loadtests.bench [--quick] [--scenario NAME ...] [--duration SECS] [--profile]

run from the repository root (`make bench BENCH_ARGS="--quick"` runs it with the project's venv
and the embedded development servers for whichever URL is unset).

What it does, all on loopback and all cleaned up at the end (also on Ctrl-C):
- installs the Node reference (`loadtests/node`: `npm ci` into its node_modules) unless it is
  installed already; without node/npm it says so and runs HugMood alone (ratios missing);
- creates its own database `hugmood_bench_<random>` on DATABASE_URL's server, applies schema.sql,
  uses its own REDIS_PREFIX, and drops the database / deletes the prefix's keys when done;
- creates users directly in the database (privacy open to everyone) and mints access tokens with
  `hugmood.identity.tokens.issue_access_token` and the JWT_SECRET it gives both servers (the
  Node reference verifies the same HS256 tokens);
- for each side-by-side scenario, runs the Node reference and then HugMood on the same users
  with the same generator: web processes started as production does (`python -m realtime
  --port N`; `node server.js`), with very high rate limits, the server pinned to core 0 and the
  load generator to core 1 (single-process runs), or two servers on cores 0 and 1 (Node's
  joined by @socket.io/redis-adapter on the same Redis);
- drives them from several processes with a lean raw-websocket Socket.IO client
  (loadtests/wsclient.py), reporting the generator's own CPU next to every figure (above 85 %
  of a core a figure is marked as a lower bound), and the server's, PostgreSQL's and Redis's.

Side-by-side scenarios: fanout (`mood:update` of one owner to 1,000 and 5,000 followers, and
1,000 over 2 processes; Node: room publish), direct (`hug:send`, stored, acked, delivered;
Node: one pg INSERT, emit, ack), presence (`presence:set` reaching its one follower; Node: emit
to the follower, ack), each at saturation, a moderate fixed rate and half the saturating rate,
on 1 and 2 web processes; memory (RSS per idle authenticated connection at 1,000 and 5,000);
connect (authenticated connections accepted per second). Every HugMood row carries `checks`:
frames lost, duplicated, reordered, and received by users outside the audience. HugMood only:
push and catalog (their own modules).

`--profile` also runs py-spy on HugMood's servers during the saturation (and connect) windows
and measures their cyclic-GC time; `--serve PORT` starts one web process with a fresh bench
database and load-test limits, for Locust (loadtests/locustfile.py), until Ctrl-C.

Prints both servers' rows and the side-by-side table (ratio hugmood/node) and writes
loadtests/results/<timestamp>.json (with the git commit and the Node version).

Modules: `cli` (options, main), `plan` (sizes, durations, time budget), one module per scenario
(`fanout`, `direct`, `presence`, `memory`, `connect`; `pairs` is what direct and presence
share), the harness (`harness`: database, Redis, processes and the measuring window;
`servers`; `node`: the reference's install and environment; `loadgen`, `roles` and `owner`:
the generator processes; `measure`: /proc; `profiling`: py-spy and GC), `report` (rows, table,
JSON), `sidebyside` (ratios, lower bounds, checks) and `domain` (all the bench imports from the
application).
"""
