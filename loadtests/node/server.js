"use strict";
// The Node.js Socket.IO reference the HugMood benchmark runs side by side with HugMood
// (loadtests/bench/node.py starts it). It does the bench's workloads the plain way a Node team
// would, untuned: an HS256 JWT in `auth` (the secret the bench gives HugMood), the user's room
// and one room per followed user (read from the bench database's `follows` at connect),
//   mood:update   -> "mood.updated" to the room of the sender's followers, then the ack
//   presence:set  -> "presence.changed" to the sender's followers (the bench: exactly one), ack
//   hug:send      -> one INSERT per message into its own table (schema NODE_SCHEMA), then
//                    "hug.received" to the recipient's room, then the ack
// and, when REDIS_URL is set, @socket.io/redis-adapter joins the processes on that Redis.
// GET /ready answers 200 once the table exists and Redis is connected.

const http = require("node:http");
const { Server } = require("socket.io");
const jwt = require("jsonwebtoken");
const { Pool } = require("pg");

const env = process.env;
const schema = env.NODE_SCHEMA || "node_reference";
const pool = new Pool({ connectionString: env.DATABASE_URL });

function envelope(data) {
  return { at: new Date().toISOString(), data };
}

function attachHandlers(io, socket) {
  const user = socket.data.user;
  socket.on("mood:update", (data, ack) => {
    io.to(`followers:${user}`).emit("mood.updated", envelope({ ...data, user_id: user }));
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("presence:set", (data, ack) => {
    const now = new Date().toISOString();
    io.to(`followers:${user}`).emit(
      "presence.changed",
      envelope({ user, status: data.status, last_active: now }),
    );
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("hug:send", async (data, ack) => {
    try {
      const { rows } = await pool.query(
        `INSERT INTO ${schema}.hugs (sender_id, recipient_id, type, client_id, message)
         VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`,
        [user, data.to, data.type, data.client_id, data.message],
      );
      const hug = { ...rows[0], sender_id: user, type: data.type, message: data.message };
      io.to(`user:${data.to}`).emit("hug.received", envelope(hug));
      if (typeof ack === "function") ack({ ok: true, data: { id: hug.id } });
    } catch (err) {
      console.error(`hug:send failed: ${err.message}`);
      if (typeof ack === "function") ack({ ok: false, error: { code: "internal" } });
    }
  });
}

async function main() {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${schema}.hugs (
       id bigserial PRIMARY KEY, sender_id uuid NOT NULL, recipient_id uuid NOT NULL,
       type text NOT NULL, client_id text NOT NULL, message text,
       created_at timestamptz NOT NULL DEFAULT now())`,
  );
  let ready = false;
  const httpServer = http.createServer((req, res) => {
    res.writeHead(req.url === "/ready" && ready ? 200 : 404).end();
  });
  const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
  if (env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub, { key: env.REDIS_KEY || "socket.io" }));
  }
  io.use((socket, next) => {
    try {
      const claims = jwt.verify(socket.handshake.auth.token, env.JWT_SECRET, {
        algorithms: ["HS256"],
      });
      socket.data.user = claims.sub;
      next();
    } catch {
      next(new Error("unauthorized"));
    }
  });
  io.on("connection", async (socket) => {
    const user = socket.data.user;
    attachHandlers(io, socket);
    socket.join(`user:${user}`);
    try {
      const { rows } = await pool.query(
        "SELECT following_id FROM follows WHERE follower_id = $1",
        [user],
      );
      socket.join(rows.map((r) => `followers:${r.following_id}`));
      socket.emit("hello", { user });
    } catch (err) {
      console.error(`connect failed: ${err.message}`);
      socket.disconnect(true);
    }
  });
  httpServer.listen(Number(env.PORT), env.HOST || "127.0.0.1", () => {
    ready = true;
  });
  const stop = () => {
    io.close();
    pool.end().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
