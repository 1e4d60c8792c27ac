// The comparison point of order-server's fan-out benchmark: the usual Node backend (http + socket.io 4, JWT
// HS256 in the handshake, rooms per customer and per order), in memory (no database), doing the same broadcasts
// for `PATCH /api/orders/:id/delivery` as order-server: customer_order_update (customer room),
// single_order_update (order room), delivery_update (both). Ids follow the benchmark's convention: order `o<N>`
// belongs to customer `c<N>`. Usage: JWT_SECRET=... node server.js [port]; prints `listening on http://...`.
"use strict";
const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const secret = process.env.JWT_SECRET || "";
function verify(token) {
  const [h, p, s] = String(token || "").split(".");
  if (!h || !p || !s) return null;
  const want = crypto.createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url");
  if (want !== s) return null;
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  return claims.exp * 1000 > Date.now() ? claims : null;
}

const orders = new Map();
function order(id) {
  let o = orders.get(id);
  if (!o) {
    const now = new Date().toISOString();
    o = { _id: id, orderNumber: "ORD-" + id.slice(1), customer: "c" + id.slice(1),
      items: [{ name: "Pizza", quantity: 1, price: 12.5 }], totalAmount: 12.5, status: "preparing",
      statusHistory: [{ status: "preparing", timestamp: now }],
      deliveryAddress: { street: "1 Bench Street", city: "Springfield", lat: 40.7, lng: -74.0 },
      delivery: { deliveryStatus: "not_dispatched", estimatedDelivery: null, driver: null, location: null },
      createdAt: now, updatedAt: now };
    orders.set(id, o);
  }
  return o;
}

let seq = 0;
const server = http.createServer((req, res) => {
  const m = req.url.match(/^\/api\/orders\/([^/]+)\/delivery$/);
  const claims = verify((req.headers.authorization || "").replace(/^Bearer /, ""));
  if (req.method !== "PATCH" || !m) { res.writeHead(404); return res.end('{"message":"not found"}'); }
  if (!claims || claims.role !== "store_owner") { res.writeHead(403); return res.end('{"message":"forbidden"}'); }
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const patch = JSON.parse(body || "{}");
    const o = order(m[1]);
    if (patch.location) o.delivery.location = patch.location;
    o.updatedAt = new Date().toISOString();
    seq += 1;
    const update = { orderId: o._id, orderNumber: o.orderNumber, status: o.status, statusDisplay: "Preparing",
      progress: 50, updatedAt: o.updatedAt, order: o, seq };
    const croom = "customer_" + o.customer, oroom = "order_" + o._id;
    io.to(croom).emit("customer_order_update", update);
    io.to(oroom).emit("single_order_update", update);
    io.to([croom, oroom]).emit("delivery_update", { orderId: o._id, ...o.delivery, seq });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(o));
  });
});

const io = new Server(server, { maxHttpBufferSize: 16 * 1024 });
io.use((socket, next) => {
  const claims = verify(socket.handshake.auth && socket.handshake.auth.token);
  if (!claims) return next(new Error("Authentication error: invalid token"));
  socket.data.user = claims;
  next();
});
io.on("connection", (socket) => {
  const u = socket.data.user;
  socket.join(u.role === "store_owner" ? "store_owners" : "customer_" + u.userId);
  socket.emit("connection_status", { connected: true, userId: u.userId, serverTime: new Date().toISOString() });
});

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
