"use strict";
// Shared helpers for the pages. User-provided text is only ever set with textContent.

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : "";
}

class ApiError extends Error {
  constructor(status, code, message, extra) { super(message); this.status = status; this.code = code; this.extra = extra || {}; }
}

async function api(method, path, body, headers) {
  const opts = { method, credentials: "same-origin", headers: { "Accept": "application/json", ...(headers || {}) } };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRFToken"] = cookie("csrftoken");
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  const resp = await fetch(path, opts);
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    const err = (data && data.error) || { code: "http_" + resp.status, message: resp.statusText };
    throw new ApiError(resp.status, err.code, err.message, err);
  }
  return data;
}

// el("div", {class: "x", onclick: fn}, "text", childNode) — strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function showError(node, err) {
  node.textContent = err ? (err.message || String(err)) : "";
}

// "Sat, 14 Jun, 18:30" in the viewer's own time zone; "" for a missing date.
function formatLocalTime(iso, opts) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return d.toLocaleString(undefined, opts || { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function formatMoney(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(Number(amount));
  } catch (e) { return amount + " " + currency.toUpperCase(); }
}

// A WebSocket that reconnects forever with capped exponential backoff.
// `since` (optional): a function giving the last chat message id seen; a REconnect
// (never the first connect) then asks for what was said meanwhile (chat recovery:
// nothing lost, nothing twice).
class LiveSocket {
  constructor(path, { onEvent, onStatus, onClose, since }) {
    this.path = path; this.onEvent = onEvent; this.onStatus = onStatus || (() => {});
    this.onClose = onClose || (() => {}); this.since = since || (() => null);
    this.delay = 500; this.stopped = false; this.connect();
  }
  url() {
    const last = this.opened ? this.since() : null;
    const query = Number.isInteger(last) && last > 0 ? "?since=" + last : "";
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + this.path + query;
  }
  connect() {
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => { this.delay = 500; this.opened = true; this.onStatus(true); };
    ws.onmessage = (e) => { try { this.onEvent(JSON.parse(e.data)); } catch (err) { console.error(err); } };
    ws.onclose = (e) => {
      this.onStatus(false);
      // 4401/4403/4404 are final answers, not network trouble.
      if (e.code >= 4400 && e.code < 4500) { this.stopped = true; this.onClose(e.code); return; }
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    };
  }
  send(obj) { if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(obj)); return true; } return false; }
  close() { this.stopped = true; if (this.ws) this.ws.close(); }
}

async function currentUser() {
  try { return await api("GET", "/api/auth/me"); } catch (e) { if (e.status === 401) return null; throw e; }
}

function renderWhoami(user, onLogout) {
  const box = document.getElementById("whoami");
  box.replaceChildren();
  if (!user) return;
  box.append(
    el("span", { id: "me-name", text: user.display_name || user.username }), " · ",
    el("span", { id: "me-level", text: "Lv " + user.current_level }), " · ",
    el("span", { id: "me-exp", text: user.total_exp + " EXP" }), " ",
    el("button", { class: "secondary", onclick: async () => { await api("POST", "/api/auth/logout"); onLogout(); } }, "Log out"),
  );
}

// A login / signup form; calls onDone(user) when the user is in.
function authForm(onDone) {
  const err = el("div", { class: "error", id: "auth-error" });
  const username = el("input", { name: "username", id: "auth-username", autocomplete: "username", required: true });
  const email = el("input", { name: "email", id: "auth-email", type: "email", autocomplete: "email" });
  const password = el("input", { name: "password", id: "auth-password", type: "password", autocomplete: "current-password", required: true });
  const field = (label, input) => el("label", { class: "field" }, label, input);
  const submit = async (kind) => {
    showError(err, null);
    try {
      const body = { username: username.value, password: password.value };
      if (kind === "signup") body.email = email.value;
      const user = await api("POST", "/api/auth/" + kind, body);
      onDone(user);
    } catch (e) { showError(err, e); }
  };
  const form = el("form", { id: "auth-form", onsubmit: (e) => { e.preventDefault(); submit("login"); } },
    el("div", { class: "row", style: "align-items:flex-end" }, field("Username", username), field("Password", password), el("button", { type: "submit", id: "login-button" }, "Log in")),
    el("div", { class: "row", style: "align-items:flex-end" }, field("Email (only to sign up)", email), el("button", { type: "button", class: "secondary", id: "signup-button", onclick: () => submit("signup") }, "Sign up")),
    err);
  return form;
}

// One chat line; moderation buttons when `mod` callbacks are given.
function chatLine(msg, mod) {
  const user = msg.user || {};
  const line = el("div", { class: "msg", "data-id": msg.id, "data-user-id": user.id, title: formatLocalTime(msg.created_at, { dateStyle: "medium", timeStyle: "medium" }) || null },
    el("span", { class: "lvl", text: "Lv" + (user.current_level || 1) }),
    el("span", { class: "author", text: user.display_name || user.username || "?" }),
    el("span", { class: "text", text: msg.text }));
  // mod.applies(msg) (optional) keeps the buttons off lines they make no sense on,
  // e.g. the streamer's own messages; mod.appoint (optional) adds "Make moderator".
  if (mod && (!mod.applies || mod.applies(msg))) {
    line.append(" ",
      el("button", { class: "secondary", title: "Delete message", onclick: () => mod.remove(msg) }, "✕"),
      el("button", { class: "secondary", title: "Time out 10 minutes", onclick: () => mod.ban(user, 600) }, "10m"),
      el("button", { class: "danger", title: "Ban", onclick: () => mod.ban(user, null) }, "Ban"));
    if (mod.appoint) line.append(el("button", { class: "secondary", title: "Make moderator", onclick: () => mod.appoint(user) }, "Mod"));
  }
  return line;
}

// Keeps a chat box in sync with chat.* events. It follows new messages while the
// reader is at the bottom; once they scroll up it stays put and offers a
// "new messages ↓" button instead. Messages by `meId` (setMe) get the "mine" class.
class ChatBox {
  constructor(node, mod) {
    this.node = node; this.mod = mod; this.ids = new Set(); this.meId = null; this.lastId = null;
    this.newButton = el("button", { type: "button", class: "new-messages", id: node.id ? node.id + "-new" : null, hidden: true,
      onclick: () => this.scrollToEnd() }, "New messages ↓");
    if (node.parentNode) {
      if (!node.parentNode.classList.contains("chat-wrap")) {
        const wrap = el("div", { class: "chat-wrap" });
        node.parentNode.insertBefore(wrap, node);
        wrap.append(node);
      }
      node.parentNode.append(this.newButton);
    }
    node.addEventListener("scroll", () => { if (this.atBottom()) this.newButton.hidden = true; });
  }
  atBottom() { return this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 20; }
  scrollToEnd() { this.node.scrollTop = this.node.scrollHeight; this.newButton.hidden = true; }
  setMe(userId) {
    this.meId = userId === null || userId === undefined ? null : Number(userId);
    for (const n of this.node.querySelectorAll(".msg[data-user-id]")) n.classList.toggle("mine", this.meId !== null && Number(n.dataset.userId) === this.meId);
  }
  history(messages) { this.node.replaceChildren(); this.ids.clear(); this.lastId = null; for (const m of messages) this.add(m, true); this.scrollToEnd(); }
  // A reconnect's recovered history: exactly what was said since the last id seen.
  recover(messages) { for (const m of messages) this.add(m); }
  add(msg, quiet) {
    if (this.ids.has(msg.id)) return;
    this.ids.add(msg.id);
    if (this.lastId === null || msg.id > this.lastId) this.lastId = msg.id;
    const stick = this.atBottom();
    const line = chatLine(msg, this.mod);
    const mine = this.meId !== null && msg.user && Number(msg.user.id) === this.meId;
    if (mine) line.classList.add("mine");
    this.node.append(line);
    while (this.node.childElementCount > 300) this.node.firstElementChild.remove();
    if (stick || mine) this.scrollToEnd();
    else if (!quiet) this.newButton.hidden = false;
  }
  // Anything else appended to the box (donation lines) follows the same scrolling rule.
  appendLine(node) {
    const stick = this.atBottom();
    this.node.append(node);
    if (stick) this.scrollToEnd(); else this.newButton.hidden = false;
  }
  removeMessage(id) { const n = this.node.querySelector(`[data-id="${Number(id)}"]`); if (n) n.remove(); }
  removeUser(userId) { for (const n of this.node.querySelectorAll(`[data-user-id="${Number(userId)}"]`)) n.remove(); }
  handle(ev) {
    if (ev.type === "chat.history") { if (ev.recovered === true) this.recover(ev.messages); else this.history(ev.messages); }
    else if (ev.type === "chat.message") this.add(ev);
    else if (ev.type === "chat.message_deleted") this.removeMessage(ev.id);
    else if (ev.type === "chat.user_banned" && ev.until === null) this.removeUser(ev.user_id);
  }
}

// Short-lived feedback ("Copied", "Test alert sent") in a status node.
function flash(node, text, ms) {
  node.textContent = text;
  clearTimeout(node._flashTimer);
  node._flashTimer = setTimeout(() => { if (node.textContent === text) node.textContent = ""; }, ms || 4000);
}

// Copies text (Clipboard API, or a hidden textarea where that is refused); true if it worked.
async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back */ }
  const area = el("textarea", { style: "position:fixed;opacity:0", "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

// 3725 → "1:02:05".
function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const pad = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}
