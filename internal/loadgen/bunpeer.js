// The Bun peer of StreamHub's load tool ("hub bench --target bun"): Bun's
// built-in WebSocket pub/sub (uWebSockets), with nothing added.
//
//   bun bunpeer.js PORT
//
// listens on 127.0.0.1:PORT:
//   GET /ready  answers 200 once listening;
//   /ws         subscribers: the text frame {"op":"subscribe","id":N,"subjects":[...]}
//               subscribes to each subject as a topic and answers {"op":"ok","id":N};
//               anything else closes the connection with 4400 and the reason;
//   /pub        the publisher: each frame "subject\npayload" is published, as is,
//               to the topic "subject" with server.publish.
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("usage: bun bunpeer.js PORT");
  process.exit(2);
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (path === "/ready") return new Response("ok");
    if (path === "/ws" || path === "/pub") {
      if (server.upgrade(req, { data: { pub: path === "/pub" } })) return;
      return new Response("websocket upgrade failed", { status: 400 });
    }
    return new Response("not found", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    message(ws, msg) {
      const text = typeof msg === "string" ? msg : new TextDecoder().decode(msg);
      if (ws.data.pub) {
        const nl = text.indexOf("\n");
        if (nl > 0) server.publish(text.slice(0, nl), text);
        return;
      }
      let cmd;
      try {
        cmd = JSON.parse(text);
      } catch {
        ws.close(4400, "not JSON");
        return;
      }
      if (cmd === null || cmd.op !== "subscribe" || !Array.isArray(cmd.subjects) ||
          !cmd.subjects.every((s) => typeof s === "string" && s.length > 0)) {
        ws.close(4400, "want {\"op\":\"subscribe\",\"id\":N,\"subjects\":[...]}");
        return;
      }
      for (const s of cmd.subjects) ws.subscribe(s);
      ws.send(JSON.stringify({ op: "ok", id: cmd.id }));
    },
  },
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.stop(true);
    process.exit(0);
  });
}
