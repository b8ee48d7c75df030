// Reference chat-room server for the realtime benchmark (bench/run.py).
//
// Socket.IO 4, websocket transport only, no per-message compression, rooms shared
// across processes through @socket.io/redis-adapter. A client joins the room named
// by the handshake query (?room=<name>); every `chat` event it emits is broadcast to
// that room on every process: 42["chat",{"room":<name>,"text":<text>}].
//
// Environment: PORT (required), HOST (127.0.0.1), REDIS_URL (redis://127.0.0.1:6379).
// Prints "listening <host>:<port>" once it accepts connections.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const HOST = process.env.HOST || "127.0.0.1";
const PORT = Number(process.env.PORT);
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";

async function main() {
  if (!PORT) throw new Error("PORT is required");
  // node-redis >= 5 gives every command a 5 s timeout by default, and the adapter
  // publishes without catching: under overload a late PUBLISH would reject unhandled
  // and kill the process. Wait as long as it takes, like redis v4 did.
  const pub = createClient({ url: REDIS_URL, commandOptions: { timeout: 0 } });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error("redis pub:", err.message));
  sub.on("error", (err) => console.error("redis sub:", err.message));
  await pub.connect();
  await sub.connect();

  const server = http.createServer((req, res) => {
    res.writeHead(404).end();
  });
  const io = new Server(server, {
    transports: ["websocket"],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    maxHttpBufferSize: 64 * 1024,
    adapter: createAdapter(pub, sub),
  });

  io.on("connection", (socket) => {
    const room = String(socket.handshake.query.room || "bench").slice(0, 64);
    socket.join(room);
    socket.on("chat", (msg) => {
      if (!msg || typeof msg.text !== "string") return;
      io.to(room).emit("chat", { room, text: msg.text });
    });
  });

  server.listen(PORT, HOST, () => {
    console.log(`listening ${HOST}:${PORT} pid=${process.pid}`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// A stray rejection is logged (at most once a second), not fatal: the reference must
// keep serving under overload so the benchmark measures it rather than its crash.
let rejections = 0;
let lastReport = 0;
process.on("unhandledRejection", (err) => {
  rejections += 1;
  const now = Date.now();
  if (now - lastReport > 1000) {
    lastReport = now;
    console.error(`unhandled rejection #${rejections}: ${err && err.stack ? err.stack : err}`);
  }
});

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
