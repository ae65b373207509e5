// gtsdk.js — dependency-free ES module for kiosk web pages, served by the gtsdk service at /sdk/gtsdk.js.
//
//   import { Gtsdk } from "https://127.0.0.1:8801/sdk/gtsdk.js";
//   const sdk = new Gtsdk({ token: "gts_…", lang: "zh" });
//   await sdk.call("idcard", "open");
//   const card = await sdk.call("idcard", "read", { timeout: 20000 });
//   const sub = sdk.events({ modules: ["idcard"], onEvent: (e) => console.log(e.seq, e.event, e.data) });
//   sub.close();
//
//   // a business transaction (办件): operations made in it carry X-Transaction-Id (docs/records.md)
//   const txn = await sdk.beginTransaction("social");
//   await sdk.call("idcard", "read", {}, { transaction: txn.id });   // or set sdk.transaction = txn.id
//   await sdk.rate({ transactionId: txn.id, level: 5, tags: ["速度快"] });
//   await sdk.endTransaction(txn.id, "completed");
//
// Every failure rejects with a GtsdkError carrying the catalogue code (e.g. "timeOut", "noDevice"),
// the localised message and the request id. Events reconnect by themselves and resume from the last
// sequence number seen, so a page that loses the socket for a moment misses nothing.

export const VERSION = "0.1.0";

export class GtsdkError extends Error {
  constructor(code, message, { requestId = "", status = 0, data = {} } = {}) {
    super(`${code}: ${message}`);
    this.name = "GtsdkError";
    this.code = code;
    this.serverMessage = message;
    this.requestId = requestId;
    this.status = status;
    this.field = data && data.field;
    this.detail = data && data.detail;
    this.retryable = !!(data && data.retryable);
    this.retryAfter = data && data.retryAfter;
  }
}

function newRequestId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Date.now().toString(16) + Math.random().toString(16).slice(2);
}

export class Gtsdk {
  constructor({ baseUrl = "https://127.0.0.1:8801", token = null, lang = "zh" } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.lang = lang;
    /** the open business transaction that calls belong to unless they name another (null: none) */
    this.transaction = null;
    this.modules = new Proxy({}, {
      get: (_, module) => new Proxy({}, {
        get: (__, op) => (body = {}, opts = {}) => this.call(String(module), String(op), body, opts),
      }),
    });
  }

  _headers(requestId) {
    const h = { "Accept-Language": this.lang, "X-Request-Id": requestId };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async _fetch(method, path, body, { requestId = newRequestId(), signal, transaction } = {}) {
    const headers = this._headers(requestId);
    if (transaction) headers["X-Transaction-Id"] = transaction;
    const init = { method, headers, signal, mode: "cors", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(this.baseUrl + path, init);
    } catch (e) {
      if (e && e.name === "AbortError") throw new GtsdkError("canceled", "aborted by the page", { requestId });
      throw new GtsdkError("communicationError", `service unreachable: ${e}`, { requestId });
    }
    let env;
    try {
      env = await resp.json();
    } catch (e) {
      throw new GtsdkError("internalError", `not an envelope (HTTP ${resp.status})`, { requestId, status: resp.status });
    }
    if (env.code !== "success") {
      throw new GtsdkError(env.code, env.message, { requestId: env.requestId, status: resp.status, data: env.data });
    }
    return env.data;
  }

  /** Run an operation: call("idcard", "read", {timeout: 20000}, {requestId, signal}). Aborting the
   *  signal also cancels the operation on the device. */
  async call(module, op, body = {}, { requestId = newRequestId(), signal, transaction = this.transaction } = {}) {
    const onAbort = () => { this.cancel(module, requestId).catch(() => {}); };
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await this._fetch("POST", `/v1/${module}/${op}`, body, { requestId, signal, transaction });
    } finally {
      if (signal) signal.removeEventListener("abort", onAbort);
    }
  }

  status(module) { return this._fetch("GET", `/v1/${module}/status`); }
  capabilities(module) { return this._fetch("GET", `/v1/${module}/capabilities`); }
  statistics(module) { return this._fetch("GET", `/v1/${module}/statistics`); }
  health(module, level = "internal") { return this._fetch("POST", `/v1/${module}/health`, { level }); }
  services() { return this._fetch("GET", "/v1/services"); }
  async cancel(module, requestId) {
    return (await this._fetch("POST", `/v1/${module}/cancel`, { requestId })).canceled;
  }

  // ---- records: 事项 catalogue, business transactions, 好差评 (docs/records.md) ----
  /** The 事项 catalogue: {version, entries: [{code, nameZh, nameEn, modules, available, missingModules, …}]}. */
  catalogue() { return this._fetch("GET", "/v1/catalogue"); }
  /** Begin a 办件 for a catalogue service code; makes it the current transaction of later calls. */
  async beginTransaction(serviceCode) {
    const txn = await this._fetch("POST", "/v1/transactions", { serviceCode });
    this.transaction = txn.id;
    return txn;
  }
  transactionInfo(id = this.transaction) { return this._fetch("GET", `/v1/transactions?id=${encodeURIComponent(id)}`); }
  /** result: "completed" | "failed" | "abandoned" | "timedOut"; reasonCode: a catalogue code or your own id. */
  async endTransaction(id = this.transaction, result = "completed", reasonCode = undefined) {
    const body = { transactionId: id, result };
    if (reasonCode) body.reasonCode = reasonCode;
    const out = await this._fetch("POST", "/v1/transactions/end", body);
    if (this.transaction === id) this.transaction = null;
    return out;
  }
  /** The keyed hash of the holder whose card was read within the transaction (never the number). */
  async holderKey(id = this.transaction, module = "idcard") {
    return (await this._fetch("POST", "/v1/transactions/holder-key", { transactionId: id, module })).holderKey;
  }
  /** 好差评: {transactionId, level 1–5 (5 非常满意), tags: [..], comment} — the comment is masked by the service. */
  rate(rating) { return this._fetch("POST", "/v1/ratings", rating); }

  /** Subscribe to events. Returns {close(), subscribe(modules), get lastSeq}. Callbacks:
   *  onEvent({seq,time,module,event,data}), onGap({since,first}), onState("open"|"closed"|"reconnecting"),
   *  onError(GtsdkError). Reconnects with exponential back-off and resumes from the last seq. */
  events({ modules = null, since = null, onEvent = () => {}, onGap = () => {}, onState = () => {},
           onError = () => {}, maxBackoff = 5000 } = {}) {
    const url = this.baseUrl.replace(/^http/, "ws") + "/v1/events";
    let last = since;
    let closed = false;
    let ws = null;
    let backoff = 200;
    let timer = null;
    let current = modules;
    const open = () => {
      if (closed) return;
      ws = new WebSocket(url);
      ws.onopen = () => {
        const msg = { type: "auth", token: this.token, modules: current };
        if (last !== null && last !== undefined) msg.since = last;
        ws.send(JSON.stringify(msg));
      };
      ws.onmessage = (m) => {
        let msg;
        try { msg = JSON.parse(m.data); } catch (e) { return; }
        if (msg.type === "hello") {
          backoff = 200;
          if (last === null || last === undefined) last = msg.lastSeq;
          onState("open");
        } else if (msg.type === "event") {
          if (last !== null && msg.seq <= last) return;
          last = msg.seq;
          onEvent(msg);
        } else if (msg.type === "gap") {
          onGap(msg);
        } else if (msg.type === "error") {
          const err = new GtsdkError(msg.code, msg.message, { data: { detail: msg.detail } });
          onError(err);
          if (["unauthorized", "forbidden", "invalidData"].includes(msg.code)) closed = true;
        }
      };
      ws.onclose = () => {
        ws = null;
        if (closed) { onState("closed"); return; }
        onState("reconnecting");
        timer = setTimeout(open, backoff);
        backoff = Math.min(maxBackoff, backoff * 2);
      };
      ws.onerror = () => {};
    };
    open();
    return {
      close() { closed = true; if (timer) clearTimeout(timer); if (ws) ws.close(1000); else onState("closed"); },
      subscribe(mods) {
        current = mods;
        if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "subscribe", modules: mods }));
      },
      /** drop the socket as a network failure would (tests, or a page that knows the link changed) */
      reconnect() { if (ws) ws.close(4000); },
      get lastSeq() { return last; },
    };
  }
}

export default Gtsdk;
