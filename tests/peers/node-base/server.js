// A base-contract order backend (docs/CONTRACT.md, "Base contract" only) on the official socket.io 4.8 server,
// built the usual way: Express REST under /api, JWT in the Socket.IO handshake, rooms per customer and per order,
// and connection state recovery switched on, so every event carries an extra trailing offset argument.
// It has none of order-server's extensions: GET /api/orders/changes falls into /orders/:id and answers 404.
// Orders live in memory; tests move them along with PATCH /api/orders/:id/status as the store owner.
// Test-only hooks (not in the contract): POST /test/disconnect-all kicks every socket server-side; POST
// /test/orders adds a pending order for Alice (the chaos soak needs orders that keep moving).
// Usage: node server.js [port]   (port 0 or none: any free port; prints "listening on PORT")
// PING_INTERVAL_MS and PING_TIMEOUT_MS set Engine.IO's keep-alive (socket.io's 25 s and 20 s by default).
'use strict';
const http = require('http');
const crypto = require('crypto');
const express = require('express');
const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');

const SECRET = process.env.JWT_SECRET || crypto.randomBytes(16).toString('hex');
const STATUSES = {
  pending: [10, 'Pending'], confirmed: [25, 'Confirmed'], preparing: [50, 'Preparing'], ready: [70, 'Ready'],
  out_for_delivery: [85, 'Out for Delivery'], delivered: [100, 'Delivered'], cancelled: [0, 'Cancelled'],
};

const oid = () => crypto.randomBytes(12).toString('hex');
const users = [
  { _id: oid(), name: 'Alice', email: 'alice@example.com', password: 'alice-pass', role: 'customer' },
  { _id: oid(), name: 'Bob', email: 'bob@example.com', password: 'bob-pass', role: 'customer' },
  { _id: oid(), name: 'Owner', email: 'owner@example.com', password: 'owner-pass', role: 'store_owner' },
];
const publicUser = (u) => ({ _id: u._id, id: u._id, name: u.name, email: u.email, role: u.role });

let lastTime = 0;
// Strictly increasing times, so two changes in one millisecond still order.
function now() {
  lastTime = Math.max(Date.now(), lastTime + 1);
  return new Date(lastTime).toISOString();
}

const orders = new Map();
let orderNo = 1000;
function addOrder(customer, status) {
  const t = now();
  const o = {
    _id: oid(), orderNumber: `ORD-${++orderNo}`, customer: customer._id,
    items: [{ name: 'Margherita', quantity: 1, price: 9.5 }, { name: 'Lemonade', quantity: 2, price: 2.5 }],
    totalAmount: 14.5, status, statusHistory: [{ status, timestamp: t }],
    deliveryAddress: { street: '1 Main St', city: 'Springfield', lat: 40.1, lng: -75.2 },
    delivery: { deliveryStatus: 'not_dispatched', estimatedDelivery: null, driver: null, location: null },
    createdAt: t, updatedAt: t,
  };
  orders.set(o._id, o);
  return o;
}
for (let i = 0; i < 3; i++) addOrder(users[0], 'pending');
addOrder(users[1], 'pending');

const app = express();
app.use(express.json());
const fail = (res, code, message) => res.status(code).json({ message });

app.get('/api/health', (_req, res) => res.json({ ok: true, serverTime: new Date().toISOString() }));
app.post('/api/auth/login', (req, res) => {
  const { email, password } = req.body || {};
  const u = users.find((x) => x.email === email && x.password === password);
  if (!u) return fail(res, 401, 'Invalid credentials');
  const token = jwt.sign({ userId: u._id, email: u.email, role: u.role }, SECRET, { expiresIn: '1h' });
  res.json({ token, user: publicUser(u) });
});

function auth(req, res, next) {
  const h = req.headers.authorization || '';
  try {
    req.user = jwt.verify(h.replace(/^Bearer /, ''), SECRET);
    next();
  } catch (e) {
    fail(res, 401, 'Invalid or expired token');
  }
}
const mine = (user) => [...orders.values()].filter((o) => user.role === 'store_owner' || o.customer === user.userId);

app.get('/api/orders', auth, (req, res) => res.json(mine(req.user)));
app.get('/api/orders/:id', auth, (req, res) => {
  const o = orders.get(req.params.id);
  if (!o) return fail(res, 404, 'Order not found');
  if (req.user.role !== 'store_owner' && o.customer !== req.user.userId) return fail(res, 403, 'Not your order');
  res.json(o);
});
app.patch('/api/orders/:id/status', auth, (req, res) => {
  if (req.user.role !== 'store_owner') return fail(res, 403, 'Store owners only');
  const o = orders.get(req.params.id);
  if (!o) return fail(res, 404, 'Order not found');
  const status = (req.body || {}).status;
  if (!STATUSES[status]) return fail(res, 400, `Invalid status: ${status}`);
  changeStatus(o, status);
  res.json(o);
});
app.post('/test/orders', (_req, res) => res.json(addOrder(users[0], 'pending')));
app.post('/test/disconnect-all', (_req, res) => {
  io.disconnectSockets(true);
  res.json({ ok: true });
});

const server = http.createServer(app);
const io = new Server(server, {
  cors: { origin: '*' },
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
  // Engine.IO's keep-alive, socket.io's defaults unless set: a base-contract client notices a silent path by it.
  pingInterval: Number(process.env.PING_INTERVAL_MS || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS || 20000),
});

io.use((socket, next) => {
  try {
    socket.data.user = jwt.verify((socket.handshake.auth || {}).token, SECRET);
    next();
  } catch (e) {
    next(new Error('Authentication error: invalid or expired token'));
  }
});

io.on('connection', (socket) => {
  const user = socket.data.user;
  if (!socket.recovered) socket.join(user.role === 'store_owner' ? 'store_owners' : `customer_${user.userId}`);
  socket.emit('connection_status', { connected: true, userId: user.userId, serverTime: new Date().toISOString() });
  const orderIdOf = (arg) => (typeof arg === 'string' ? arg : arg && arg.orderId);
  socket.on('join_order_room', (arg, ack) => {
    const id = orderIdOf(arg);
    const o = orders.get(id);
    const reply = typeof ack === 'function' ? ack : () => {};
    if (!o || (user.role !== 'store_owner' && o.customer !== user.userId)) {
      return reply({ success: false, error: 'Order not found or not yours' });
    }
    socket.join(`order_${id}`);
    reply({ success: true, room: `order_${id}` });
  });
  socket.on('leave_order_room', (arg, ack) => {
    if (process.env.DEBUG_PEER) console.error('leave_order_room', JSON.stringify(arg), typeof ack);
    const id = orderIdOf(arg);
    socket.leave(`order_${id}`);
    if (typeof ack === 'function') ack({ success: true, room: `order_${id}` });
  });
});

function stats(list) {
  const s = { total: list.length, active: 0, delivered: 0, cancelled: 0 };
  for (const o of list) {
    if (o.status === 'delivered') s.delivered++;
    else if (o.status === 'cancelled') s.cancelled++;
    else s.active++;
  }
  return s;
}

let notificationNo = 0;
function changeStatus(o, status) {
  const t = now();
  const before = JSON.stringify(o.delivery);
  o.status = status;
  o.statusHistory.push({ status, timestamp: t });
  o.updatedAt = t;
  if (status === 'out_for_delivery') {
    o.delivery = { deliveryStatus: 'in_transit', estimatedDelivery: new Date(Date.now() + 20 * 60000).toISOString(),
      driver: { name: 'Dana Driver', phone: '+1 555 0100' }, location: { lat: 40.11, lng: -75.21 } };
  } else if (status === 'delivered' || status === 'cancelled') {
    o.delivery = { ...o.delivery, deliveryStatus: status, location: null };
  }
  const [progress, statusDisplay] = STATUSES[status];
  const update = { orderId: o._id, orderNumber: o.orderNumber, status, statusDisplay, progress, updatedAt: t, order: o };
  const customerRoom = `customer_${o.customer}`;
  const orderRoom = `order_${o._id}`;
  io.to(customerRoom).emit('customer_order_update', update);
  io.to(orderRoom).emit('single_order_update', update);
  if (JSON.stringify(o.delivery) !== before) {
    io.to([customerRoom, orderRoom]).emit('delivery_update', { orderId: o._id, ...o.delivery });
  }
  const title = `Order ${o.orderNumber}: ${statusDisplay}`;
  io.to(customerRoom).emit('customer_notification', {
    id: `n${++notificationNo}`, type: 'order_status', title, message: `Your order ${o.orderNumber} is now ${statusDisplay}.`,
    orderId: o._id, createdAt: t,
  });
  io.to('store_owners').emit('order_notification', {
    id: `n${++notificationNo}`, type: 'order_status_changed', title, message: title, orderId: o._id,
    orderNumber: o.orderNumber, customerId: o.customer, status, createdAt: t,
  });
  io.to(customerRoom).emit('order_stats_update', stats([...orders.values()].filter((x) => x.customer === o.customer)));
  io.to('store_owners').emit('order_stats_update', stats([...orders.values()]));
}

const port = Number(process.argv[2] || process.env.PORT || 0);
server.listen(port, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
