// A web client of the order backend written the usual way (socket.io-client, JWT in the handshake auth),
// driven by order-server's tests. Usage:
//   node client.js <serverUrl> <token> [--transport websocket|polling] [--join ORDER_ID]...
// Prints one JSON object per line on stdout: {"type":"connect"}, {"type":"connect_error","message"},
// {"type":"event","event","args"}, {"type":"ack","event","ack"}, {"type":"disconnect","reason"}.
// Lines on stdin: `join ID`, `leave ID`, `emit EVENT JSON` (sent with an ack callback), `quit`.
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const [url, token, ...rest] = process.argv.slice(2);
let transports = ["websocket", "polling"];
const joins = [];
for (let i = 0; i < rest.length; i += 2) {
  if (rest[i] === "--transport") transports = [rest[i + 1]];
  else if (rest[i] === "--join") joins.push(rest[i + 1]);
}
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, { auth: token === "-" ? undefined : { token }, transports, reconnection: false, timeout: 20000 });

const emitWithAck = (event, arg) =>
  socket.emit(event, arg, (ack) => out({ type: "ack", event, ack }));

socket.on("connect", () => {
  out({ type: "connect", transport: socket.io.engine.transport.name });
  for (const id of joins) emitWithAck("join_order_room", id);
});
socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, a, ...b] = line.trim().split(" ");
  if (cmd === "join") emitWithAck("join_order_room", a);
  else if (cmd === "join-object") emitWithAck("join_order_room", { orderId: a });
  else if (cmd === "leave") emitWithAck("leave_order_room", a);
  else if (cmd === "emit") emitWithAck(a, JSON.parse(b.join(" ") || "null"));
  else if (cmd === "quit") { socket.close(); process.exit(0); }
});
