// DH-Leverage dashboard: plain JavaScript over the API (/openapi.json) and the
// WebSocket /ws (docs/api.md). No build step. Every value from the server is put
// in the page as text (textContent), never as HTML.
"use strict";

const state = {
  token: sessionStorage.getItem("dhl-token"),
  user: null,
  lastEventId: null,
  positions: new Map(),   // id -> the position as the API shows it
  asOf: new Map(),        // id -> "block N" or a time: what last re-marked it
  marks: new Map(),       // id -> [[ms, price], ...] for the chart
  selected: null,
  plan: null,
  socket: null,
  retry: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

async function api(method, path, body, headers) {
  const init = { method, headers: { ...(headers || {}) } };
  if (state.token) init.headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Error(describeError(data, response.status));
  return data;
}

function describeError(data, status) {
  const errors = data.errors ? JSON.stringify(data.errors) : "";
  return `${status}: ${data.message || ""} ${errors}`.trim();
}

function show(id, message) { $(id).textContent = message || ""; }

// --- sign-in: an API key, or a CIP-30 wallet signing a challenge (CIP-8) ----------------

async function signInWithKey(event) {
  event.preventDefault();
  state.token = $("api-key").value.trim();
  await enter();
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function listWallets() {
  const found = window.cardano ? Object.entries(window.cardano)
    .filter(([, w]) => w && typeof w.enable === "function") : [];
  const box = $("wallets");
  box.replaceChildren();
  for (const [name, wallet] of found) {
    const button = el("button", "Sign in with " + (wallet.name || name), { "data-wallet": name });
    button.addEventListener("click", () => signInWithWallet(wallet).catch(
      (e) => show("signin-error", "wallet: " + e.message)));
    box.append(button);
  }
}

async function signInWithWallet(wallet) {
  const cip30 = await wallet.enable();
  const used = await cip30.getUsedAddresses();
  const addressHex = used.length ? used[0] : await cip30.getChangeAddress();
  const ask = await api("POST", "/auth/challenge", { address: addressHex });
  const payload = hex(new TextEncoder().encode(ask.challenge));
  const signed = await cip30.signData(addressHex, payload);
  const session = await api("POST", "/auth/token",
    { nonce: ask.nonce, signature: signed.signature, key: signed.key });
  state.token = session.token;
  await enter();
}

async function enter() {
  try {
    await api("GET", "/alerts?limit=1");
  } catch (e) {
    state.token = null;
    sessionStorage.removeItem("dhl-token");
    show("signin-error", "not signed in: " + e.message);
    return;
  }
  sessionStorage.setItem("dhl-token", state.token);
  show("signin-error", "");
  $("signin").hidden = true;
  $("desk").hidden = false;
  await Promise.all([loadMarkets(), loadPositions(), loadAlerts()]);
  connect();
}

// --- markets, quote and plan ---------------------------------------------------------

async function loadMarkets() {
  const [venues, markets] = await Promise.all([api("GET", "/venues"), api("GET", "/markets")]);
  $("venues").textContent = venues.venues.map(
    (v) => v.venue + (v.enabled ? " on" : " off (" + v.reason + ")")).join(" · ");
  const body = $("markets").tBodies[0];
  body.replaceChildren();
  const assets = new Set();
  for (const m of markets.markets) {
    const row = el("tr");
    for (const value of [m.venue, m.market, m.borrow_apr, m.max_ltv,
      m.available_liquidity, (m.stale ? "stale " : "") + m.age_s + " s"]) {
      row.append(el("td", value));
    }
    body.append(row);
    for (const unit of unitsOf(m)) assets.add(unit);
  }
  const list = $("assets");
  list.replaceChildren(...[...assets].map((u) => el("option", null, { value: u })));
  if (!$("asset").value && assets.size) $("asset").value = [...assets][0];
}

function unitsOf(market) {
  const units = [];
  const visit = (value) => {
    if (typeof value === "string" && /^[0-9a-f]{56}([0-9a-f]{2}){0,32}$/.test(value)) {
      units.push(value);
    } else if (value && typeof value === "object") {
      Object.values(value).forEach(visit);
    }
  };
  visit(market);
  return units;
}

function orderBody() {
  return { side: $("side").value, asset: $("asset").value.trim(), collateral: "ADA",
    amount: $("amount").value.trim(), leverage: $("leverage").value.trim(), mode: "paper" };
}

async function makePlan(event) {
  event.preventDefault();
  show("order-error", "");
  $("open").hidden = true;
  const box = $("plan-result");
  box.replaceChildren();
  try {
    const body = orderBody();
    const quote = await api("GET", "/quotes?" + new URLSearchParams({
      side: body.side, asset: body.asset, size: String(Number(body.amount) * Number(body.leverage)),
      leverage: body.leverage }));
    const plan = await api("POST", "/plans", body);
    box.append(el("p", "chosen: " + (quote.chosen || "none"), { id: "chosen" }));
    const reasons = el("ul", null, { class: "reasons" });
    for (const c of quote.candidates) {
      reasons.append(el("li", `${c.venue}/${c.market}: ` +
        (c.chosen ? "chosen" : (c.reasons || []).map((r) => r.text || r).join("; "))));
    }
    box.append(reasons);
    box.append(el("p", `plan at ${plan.venue}: health ${plan.health ?? "?"}, ` +
      `liquidation at ${plan.liquidation_price ?? "?"}, ${plan.legs.length} legs`, { id: "plan-summary" }));
    if (plan.ok) {
      state.plan = { body, key: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()) };
      $("open").hidden = false;
    } else {
      show("order-error", "refused: " + JSON.stringify(plan.reasons || plan));
    }
  } catch (e) {
    show("order-error", e.message);
  }
}

async function openPosition() {
  if (!state.plan) return;
  try {
    const placed = await api("POST", "/orders", state.plan.body,
      { "Idempotency-Key": state.plan.key });
    $("open").hidden = true;
    state.plan = null;
    await loadPositions();
    select(placed.position);
  } catch (e) {
    show("order-error", e.message);
  }
}

// --- positions, detail and chart -------------------------------------------------------

async function loadPositions() {
  const listed = await api("GET", "/positions");
  state.positions = new Map(listed.positions.map((p) => [p.position, p]));
  renderPositions();
}

function renderPositions() {
  const body = $("positions").tBodies[0];
  body.replaceChildren();
  for (const p of state.positions.values()) {
    const row = el("tr", null, { "data-position": p.position });
    if (p.position === state.selected) row.classList.add("selected");
    const cells = [p.position, p.state, p.side, p.ticker || p.token.slice(-8), p.size,
      p.entry_price, p.mark_price, p.health, p.liquidation_price,
      p.unrealised_pnl === undefined ? "" : (p.unrealised_pnl / 1e6).toFixed(6),
      state.asOf.get(p.position) || ""];
    const names = ["id", "state", "side", "token", "size", "entry", "mark", "health",
      "liquidation", "pnl", "as-of"];
    cells.forEach((value, i) => row.append(el("td", value ?? "", { "data-field": names[i] })));
    row.addEventListener("click", () => select(p.position));
    body.append(row);
  }
}

async function select(positionId) {
  state.selected = positionId;
  $("detail").hidden = false;
  $("detail-id").textContent = positionId;
  show("detail-error", "");
  renderPositions();
  try {
    const detail = await api("GET", "/positions/" + encodeURIComponent(positionId));
    state.positions.set(positionId, { ...state.positions.get(positionId), ...detail });
    renderDetail(detail);
  } catch (e) {
    show("detail-error", e.message);
  }
}

function renderDetail(detail) {
  const history = $("history");
  history.replaceChildren(...(detail.history || []).map((h) => el("li",
    `${new Date(h.at_ms).toLocaleTimeString()} ${h.event} ${h.step} → ${h.state}` +
    (h.leg ? ` (leg ${h.leg})` : "") + (h.reason ? `: ${h.reason}` : ""))));
  const triggers = (detail.guards && detail.guards.triggers) || [];
  $("guards-now").textContent = triggers.length
    ? "guards: " + triggers.map((t) => `${t.name} ${t.kind} at ${t.price}`).join(", ")
    : "no guards";
  drawChart(detail);
}

function remember(view, asOf) {
  const known = state.positions.get(view.position) || {};
  state.positions.set(view.position, { ...known, ...view });
  if (asOf) state.asOf.set(view.position, asOf);
  if (view.mark_price) {
    const series = state.marks.get(view.position) || [];
    series.push([Date.now(), Number(view.mark_price)]);
    if (series.length > 500) series.shift();
    state.marks.set(view.position, series);
  }
}

function drawChart(detail) {
  const svg = $("chart");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const series = state.marks.get(detail.position) || [];
  const lines = [];
  if (detail.entry_price) lines.push(["entry", Number(detail.entry_price), "entry"]);
  if (detail.liquidation_price) {
    lines.push(["liquidation", Number(detail.liquidation_price), "liquidation"]);
  }
  for (const t of (detail.guards && detail.guards.triggers) || []) {
    if (t.price) lines.push([t.kind, Number(t.price), t.name]);
  }
  const values = series.map((p) => p[1]).concat(lines.map((l) => l[1]))
    .filter((v) => Number.isFinite(v));
  if (!values.length) return;
  let low = Math.min(...values), high = Math.max(...values);
  if (high === low) { high += Math.abs(high) * 0.05 || 1; low -= Math.abs(low) * 0.05 || 1; }
  const pad = (high - low) * 0.08;
  low -= pad; high += pad;
  const y = (v) => 230 - ((v - low) / (high - low)) * 220;
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  for (const [cls, value, label] of lines) {
    add("line", { x1: 0, x2: 560, y1: y(value), y2: y(value), class: cls, "data-line": label });
    add("text", { x: 565, y: y(value) + 3 }, `${label} ${value}`);
  }
  if (series.length) {
    const t0 = series[0][0], t1 = Math.max(series[series.length - 1][0], t0 + 1);
    const points = series.map(([t, v]) => `${(((t - t0) / (t1 - t0)) * 550 + 5).toFixed(1)},` +
      `${y(v).toFixed(1)}`);
    add("polyline", { points: points.join(" "), class: "series" });
  }
}

async function setGuards(event) {
  event.preventDefault();
  show("detail-error", "");
  const body = {};
  if ($("take-profit").value.trim()) body.take_profit = [{ price: $("take-profit").value.trim() }];
  if ($("stop-loss").value.trim()) body.stop_loss = $("stop-loss").value.trim();
  if ($("alert-below").value.trim()) body.alert_below = $("alert-below").value.trim();
  try {
    await api("PUT", `/positions/${encodeURIComponent(state.selected)}/guards`, body);
    await select(state.selected);
  } catch (e) {
    show("detail-error", e.message);
  }
}

async function closePosition() {
  show("detail-error", "");
  try {
    await api("POST", `/positions/${encodeURIComponent(state.selected)}/close`, {});
    await select(state.selected);
  } catch (e) {
    show("detail-error", e.message);
  }
}

// --- alerts ------------------------------------------------------------------------------

async function loadAlerts() {
  const listed = await api("GET", "/alerts?limit=20");
  $("alerts").replaceChildren(...listed.alerts.map(alertItem));
}

function alertItem(a) {
  return el("li", `${new Date(a.at_ms).toLocaleTimeString()} [${a.level}] ${a.message}`,
    { "data-alert": a.id });
}

// --- live: /ws -----------------------------------------------------------------------------

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => {
    const auth = { type: "auth", token: state.token };
    if (state.lastEventId) auth.last_event_id = state.lastEventId;
    socket.send(JSON.stringify(auth));
  };
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = () => {
    $("live").textContent = "reconnecting";
    $("live").className = "off";
    if (!state.token) return;
    const delay = Math.min(10000, 500 * 2 ** state.retry++);
    setTimeout(connect, delay);
  };
}

function receive(m) {
  if (m.id) state.lastEventId = m.id;
  switch (m.type) {
    case "hello":
      state.user = m.user;
      state.retry = 0;
      if (m.last_event_id && !state.lastEventId) state.lastEventId = m.last_event_id;
      $("who").textContent = "signed in as " + m.user;
      $("live").textContent = "live";
      $("live").className = "on";
      break;
    case "positions":
      m.positions.forEach((p) => remember(p));
      renderPositions();
      break;
    case "position":
      remember(m.view, m.block ? `block ${m.block.height}` : new Date().toLocaleTimeString());
      renderPositions();
      flash(m.view.position);
      if (m.view.position === state.selected) {
        drawChart(state.positions.get(state.selected));
      }
      break;
    case "event":
      if (m.position === state.selected) select(m.position);
      break;
    case "alert":
      $("alerts").prepend(alertItem(m));
      break;
    case "block":
      $("tip").textContent = `block ${m.height} (slot ${m.slot})`;
      break;
    case "resync":
      loadPositions();
      loadAlerts();
      break;
    case "error":
      show("signin-error", m.message);
      break;
    default:
      break;  // heartbeat, price, pong
  }
}

function flash(positionId) {
  const row = document.querySelector(`tr[data-position="${CSS.escape(positionId)}"]`);
  if (row) { row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash"); }
}

// --- start -------------------------------------------------------------------------------

$("key-form").addEventListener("submit", (e) => signInWithKey(e).catch(
  (err) => show("signin-error", err.message)));
$("order-form").addEventListener("submit", makePlan);
$("open").addEventListener("click", openPosition);
$("guards-form").addEventListener("submit", setGuards);
$("close-position").addEventListener("click", closePosition);
fetch("/", { headers: { Accept: "application/json" } }).then((r) => r.json()).then((index) => {
  $("mode").textContent = index.mode + " mode";
  $("links").replaceChildren(...Object.entries(index.links).filter(([n]) => n !== "dashboard")
    .map(([name, href]) => el("a", name, { href })));
});
listWallets();
setTimeout(listWallets, 500);  // wallet extensions inject themselves after load
if (state.token) enter();
