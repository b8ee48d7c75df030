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

function formatMoney(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(Number(amount));
  } catch (e) { return amount + " " + currency.toUpperCase(); }
}

// A WebSocket that reconnects forever with capped exponential backoff.
class LiveSocket {
  constructor(path, { onEvent, onStatus, onClose }) {
    this.path = path; this.onEvent = onEvent; this.onStatus = onStatus || (() => {});
    this.onClose = onClose || (() => {}); this.delay = 500; this.stopped = false; this.connect();
  }
  url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + this.path; }
  connect() {
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => { this.delay = 500; this.onStatus(true); };
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
  const username = el("input", { name: "username", placeholder: "username", autocomplete: "username", required: true });
  const email = el("input", { name: "email", placeholder: "email (to sign up)", type: "email" });
  const password = el("input", { name: "password", placeholder: "password", type: "password", autocomplete: "current-password", required: true });
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
    el("div", { class: "row" }, username, password, el("button", { type: "submit", id: "login-button" }, "Log in")),
    el("div", { class: "row" }, email, el("button", { type: "button", class: "secondary", id: "signup-button", onclick: () => submit("signup") }, "Sign up")),
    err);
  return form;
}

// One chat line; moderation buttons when `mod` callbacks are given.
function chatLine(msg, mod) {
  const user = msg.user || {};
  const line = el("div", { class: "msg", "data-id": msg.id, "data-user-id": user.id },
    el("span", { class: "lvl", text: "Lv" + (user.current_level || 1) }),
    el("span", { class: "author", text: user.display_name || user.username || "?" }),
    el("span", { class: "text", text: msg.text }));
  if (mod) {
    line.append(" ",
      el("button", { class: "secondary", title: "Delete message", onclick: () => mod.remove(msg) }, "✕"),
      el("button", { class: "secondary", title: "Time out 10 minutes", onclick: () => mod.ban(user, 600) }, "10m"),
      el("button", { class: "danger", title: "Ban", onclick: () => mod.ban(user, null) }, "Ban"));
  }
  return line;
}

// Keeps a chat box in sync with chat.* events.
class ChatBox {
  constructor(node, mod) { this.node = node; this.mod = mod; this.ids = new Set(); }
  history(messages) { this.node.replaceChildren(); this.ids.clear(); for (const m of messages) this.add(m); }
  add(msg) {
    if (this.ids.has(msg.id)) return;
    this.ids.add(msg.id);
    const stick = this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 20;
    this.node.append(chatLine(msg, this.mod));
    while (this.node.childElementCount > 300) this.node.firstElementChild.remove();
    if (stick) this.node.scrollTop = this.node.scrollHeight;
  }
  removeMessage(id) { const n = this.node.querySelector(`[data-id="${Number(id)}"]`); if (n) n.remove(); }
  removeUser(userId) { for (const n of this.node.querySelectorAll(`[data-user-id="${Number(userId)}"]`)) n.remove(); }
  handle(ev) {
    if (ev.type === "chat.history") this.history(ev.messages);
    else if (ev.type === "chat.message") this.add(ev);
    else if (ev.type === "chat.message_deleted") this.removeMessage(ev.id);
    else if (ev.type === "chat.user_banned" && ev.until === null) this.removeUser(ev.user_id);
  }
}
