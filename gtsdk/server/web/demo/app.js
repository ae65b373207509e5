// Kiosk demo: the whole 实名认证 flow on the gtsdk JS client (no build step, no framework).
//
// choose a service (tiles from the terminal's 事项 catalogue, GET /v1/catalogue; each service is one business
// transaction whose device operations carry its id) → ID card (8.4 a, light flashing + voice prompt) → face (8.4 e: liveness + compare with the
// card photo; the page shows scores and thresholds and makes the decision itself, 9.4.1 e) → signature
// (8.4 c) → optional fingerprint (8.4 d) → receipt with a QR code of the transaction id (8.4 g) → rating
// (好差评, GB/T 39734 levels, stored with the transaction; one tap in elderly mode).  Elderly mode (7.2 a–e): large icons with text, solid background, one-tap help, 5 steps, slow
// voice that can be switched off.  Chinese/English switch (7.2).  Consultation phone and complaint channel
// are always on screen (7.1.1 e).
import { Gtsdk } from "/sdk/gtsdk.js";

const params = new URLSearchParams(location.search);
const meta = document.querySelector('meta[name="gtsdk-token"]');
const token = params.get("token") || (meta && !meta.content.startsWith("__") ? meta.content : null);
const CARD_TIMEOUT = Number(params.get("cardTimeout") || 20000);
const sdk = new Gtsdk({ baseUrl: location.origin, token, lang: "zh" });

const TEXT = {
  zh: {
    colon: "：", title: "政务服务自助终端", switchLang: "English", elderly: "长辈版", elderlyOff: "标准版", voiceOn: "语音：开",
    voiceOff: "语音：关", help: "一键求助", helpTitle: "已为您呼叫工作人员",
    helpText: "请在原地稍候，工作人员马上就到。您也可以拨打咨询电话。", consult: "咨询电话", close: "关闭",
    complaint: "投诉渠道", complaintWays: "12345 热线 · 政务服务“好差评”",
    chooseService: "请选择要办理的业务", stepCard: "刷身份证", stepFace: "刷脸核验", stepSign: "签名确认",
    stepFinger: "指纹(可选)", stepPrint: "打印凭条", stepRate: "服务评价",
    unavailable: "暂不可用", catalogueError: "无法获取事项目录",
    rateTags: "您的感受（可多选）", comment: "意见建议（选填，最多 500 字）",
    tag_easy: "操作简便", tag_fast: "办理快", tag_clear: "指引清楚", tag_slow: "等待时间长", tag_device: "设备故障",
    tag_complex: "操作复杂",
    placeCard: "请放置身份证", placeCardHint: "请把身份证放在读卡区（闪烁的灯旁边）",
    cardRead: "已读取身份证", lookCamera: "请正视摄像头", lookCameraHint: "请摘下帽子和眼镜，保持不动",
    liveness: "活体检测", compare: "人脸比对", score: "得分", threshold: "阈值", distance: "距离",
    similarity: "相似度", passed: "通过", failed: "未通过", faceOk: "人脸核验通过",
    signNow: "请在签字板上签名", signHint: "签好后点击签字板上的“确认”", signed: "签名已完成",
    fingerAsk: "是否采集指纹？（可选）", fingerDo: "采集指纹", fingerSkip: "跳过", fingerPlace: "请将手指放在指纹仪上",
    fingerOk: "指纹已采集", printing: "正在打印凭条…", printed: "凭条已打印，请取走凭条", txn: "业务流水号",
    rateAsk: "请对本次服务进行评价", rate5: "非常满意", rate4: "满意", rate3: "基本满意", rate2: "不满意",
    rate1: "非常不满意", phone: "手机号（选填，用于接收办理结果）", submit: "提交评价", thanks: "感谢您的评价！",
    done: "业务办理完成", home: "返回首页", retry: "重试", skip: "跳过打印", start: "开始",
    errNoCard: "没有检测到身份证", errNoCardDo: "请将身份证平放在读卡区后点击“重试”（已放好的请拿起后重新放置）；没有带身份证请到人工窗口办理。",
    errFace: "人脸与身份证照片不一致", errFaceDo: "请本人正对摄像头、摘下帽子和眼镜后点击“重试”；多次不通过请到人工窗口办理。",
    errLive: "未通过活体检测", errPaper: "凭条打印机缺纸",
    errPaperDo: "请联系工作人员添加打印纸后点击“重试”，或记下业务流水号后跳过打印。",
    errOther: "设备暂时无法使用", errOtherDo: "请点击“重试”；仍不行请按“一键求助”或拨打咨询电话。",
    errCode: "错误代码", connected: "已连接终端服务", disconnected: "终端服务未连接，正在重连…",
    noToken: "未获得访问令牌：请用 gtsdk serve --demo 启动，或在地址后加 ?token=…",
  },
  en: {
    colon: ": ", title: "Government Services Kiosk", switchLang: "中文", elderly: "Senior mode", elderlyOff: "Standard mode",
    voiceOn: "Voice: on", voiceOff: "Voice: off", help: "Call for help", helpTitle: "Staff are on their way",
    helpText: "Please wait here, a member of staff is coming. You can also call the consultation line.",
    consult: "Consultation phone", close: "Close", complaint: "Complaints",
    complaintWays: "12345 hotline · service rating (好差评)",
    chooseService: "Please choose a service", stepCard: "ID card", stepFace: "Face check", stepSign: "Signature",
    stepFinger: "Fingerprint (optional)", stepPrint: "Receipt", stepRate: "Rating",
    unavailable: "Unavailable", catalogueError: "The service catalogue is not available",
    rateTags: "What did you notice? (optional)", comment: "Comments (optional, up to 500 characters)",
    tag_easy: "Easy", tag_fast: "Quick", tag_clear: "Clear guidance", tag_slow: "Long wait", tag_device: "Device fault",
    tag_complex: "Complicated",
    placeCard: "Please place your ID card", placeCardHint: "Put the card on the reader (next to the flashing light)",
    cardRead: "ID card read", lookCamera: "Please look at the camera", lookCameraHint: "Take off hat and glasses, keep still",
    liveness: "Liveness", compare: "Face comparison", score: "score", threshold: "threshold", distance: "distance",
    similarity: "similarity", passed: "passed", failed: "failed", faceOk: "Face verified",
    signNow: "Please sign on the signature pad", signHint: "Press OK on the pad when you are done", signed: "Signed",
    fingerAsk: "Capture a fingerprint? (optional)", fingerDo: "Capture fingerprint", fingerSkip: "Skip",
    fingerPlace: "Please put your finger on the sensor", fingerOk: "Fingerprint captured",
    printing: "Printing your receipt…", printed: "Receipt printed, please take it", txn: "Transaction ID",
    rateAsk: "How was our service?", rate5: "Very satisfied", rate4: "Satisfied", rate3: "Fairly satisfied",
    rate2: "Dissatisfied", rate1: "Very dissatisfied", phone: "Mobile number (optional, for the result)",
    submit: "Submit rating", thanks: "Thank you for your rating!", done: "All done", home: "Home", retry: "Try again",
    skip: "Skip printing", start: "Start",
    errNoCard: "No ID card detected",
    errNoCardDo: "Place your ID card flat on the reader (lift it and put it back if it is already there) and press “Try again”; without a card please go to a staffed counter.",
    errFace: "Your face does not match the ID card photo",
    errFaceDo: "Face the camera yourself without hat or glasses and press “Try again”; if it keeps failing please go to a staffed counter.",
    errLive: "Liveness check failed", errPaper: "The receipt printer is out of paper",
    errPaperDo: "Ask staff to load paper and press “Try again”, or note the transaction ID and skip printing.",
    errOther: "The device is not available right now",
    errOtherDo: "Press “Try again”; if it still fails press “Call for help” or call the consultation phone.",
    errCode: "error code", connected: "Connected to the terminal service",
    disconnected: "Terminal service not connected, reconnecting…",
    noToken: "No access token: start with gtsdk serve --demo or add ?token=… to the address",
  },
};

// icons by catalogue category (a category without one gets the document icon)
const CATEGORY_ICON = { 社保: "card", 户籍: "home", 公积金: "bank", 税务: "doc" };
const RATINGS = [5, 4, 3, 2, 1];
const TAGS = ["easy", "fast", "clear", "slow", "device", "complex"];

const state = {
  lang: params.get("lang") === "en" ? "en" : "zh",
  elderly: params.get("elderly") === "1",
  voice: params.get("voice") !== "0",
  step: "home", service: null, card: null, txn: null, opened: new Set(), reference: null, abort: null,
  catalogue: null, record: null, lastError: null,
};
const t = (k) => TEXT[state.lang][k] ?? TEXT.zh[k] ?? k;
const $ = (sel) => document.querySelector(sel);
const view = $("#view");

// ---- helpers ----------------------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}
// Line icons drawn inline (a kiosk may have no emoji font): 64×64 viewBox, stroke only.
const ICONS = {
  card: "M8 16h48v32H8z M14 24h14v16H14z M34 26h16 M34 33h16 M34 40h10",
  home: "M10 30L32 12l22 18 M16 26v26h32V26 M27 52V38h10v14",
  bank: "M8 24L32 10l24 14z M12 28v20 M22 28v20 M32 28v20 M42 28v20 M52 28v20 M8 52h48",
  doc: "M16 8h24l10 10v38H16z M40 8v10h10 M22 28h20 M22 36h20 M22 44h12",
  face: "M32 10a22 22 0 1 0 0.01 0z M24 28v2 M40 28v2 M23 40q9 8 18 0",
  pen: "M12 52l6-16 26-26 10 10-26 26z M40 14l10 10 M10 56h44",
  finger: "M22 54V24a10 10 0 0 1 20 0v30 M28 54V26a4 4 0 0 1 8 0v28 M16 46V30 M48 46V30",
  receipt: "M16 6h32v52l-5-4-5 4-5-4-5 4-5-4-5 4-2-2z M22 18h20 M22 26h20 M22 34h12 M30 42h12v10H30z",
  warn: "M32 8L58 54H6z M32 24v14 M32 44v3",
  ok: "M32 8a24 24 0 1 0 0.01 0z M20 33l8 8 16-18",
};
function icon(name) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 64 64");
  svg.setAttribute("class", "ico");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}
const bigIcon = (name) => h("div", { class: "big-icon", "aria-hidden": "true" }, icon(name));
const button = (label, onclick, extra = {}) => h("button", { type: "button", onclick, ...extra }, label);

function steps() {
  const list = ["stepCard", "stepFace", "stepSign", "stepFinger", "stepPrint", "stepRate"];
  return state.elderly ? list.filter((s) => s !== "stepFinger") : list; // 7.2 c: at most 5 steps
}

function renderSteps() {
  const ol = $("#steps");
  ol.replaceChildren(...steps().map((s, i) => h("li", {
    class: s === state.step ? "current" : "", "aria-current": s === state.step ? "step" : null,
  }, h("span", { class: "num", "aria-hidden": "true" }, String(i + 1)), h("span", {}, t(s)))));
  ol.hidden = state.step === "home";
}

function show(step, ...content) {
  state.step = step;
  renderSteps();
  view.replaceChildren(...content);
  const focus = view.querySelector("[autofocus]") || view.querySelector("h2");
  if (focus) { if (focus.tagName === "H2") focus.setAttribute("tabindex", "-1"); focus.focus(); }
}

async function speak(text) {
  if (!state.voice) return;
  try {
    await sdk.call("voice", "speak", { text, language: state.lang, elderly: state.elderly,
      rate: state.elderly ? 110 : undefined, interrupt: true });
  } catch (e) { /* voice is a nicety: never block the flow */ }
}

async function ensureOpen(module, op = "open", body = {}) {
  if (state.opened.has(module)) return;
  try { await sdk.call(module, op, body); } catch (e) {
    if (!/already/i.test(String(e.detail || "")) && e.code !== "deviceBusy") throw e;
  }
  state.opened.add(module);
}

async function light(op, name) {
  try { await sdk.call("lights", op, { light: name }); } catch (e) { /* lights are optional */ }
}

function maskId(v) { return v && v.length >= 15 ? v.slice(0, 6) + "*".repeat(v.length - 10) + v.slice(-4) : "****"; }

function errorView(kind, err, { retry, skip } = {}) {
  const title = { noCard: "errNoCard", face: "errFace", live: "errLive", paper: "errPaper" }[kind] || "errOther";
  const todo = { noCard: "errNoCardDo", face: "errFaceDo", live: "errFaceDo", paper: "errPaperDo" }[kind] || "errOtherDo";
  state.lastError = err && err.code ? err.code : { face: "faceMismatch", live: "livenessFailed" }[kind] || kind;
  speak(t(title));
  const box = h("div", { class: "error", role: "alert", id: "error", "data-kind": kind },
    bigIcon("warn"),
    h("h2", { id: "error-title" }, t(title)),
    h("p", { class: "todo" }, t(todo)),
    err && err.code ? h("p", { class: "code" }, `${t("errCode")}: ${err.code}${err.field ? ` (${err.field})` : ""}`) : null,
    state.txn && kind === "paper" ? h("p", { class: "txn" }, `${t("txn")}: ${state.txn}`) : null,
    h("div", { class: "actions" },
      retry ? button(t("retry"), retry, { autofocus: true, id: "btn-retry" }) : null,
      skip ? button(t("skip"), skip, { id: "btn-skip" }) : null,
      button(t("home"), home, { id: "btn-home" })));
  return box;
}

// ---- the flow ---------------------------------------------------------------------------------------------
// ---- the business transaction of the chosen service (docs/records.md) --------------------------------------
async function beginService(entry) {
  state.service = entry;
  state.lastError = null;
  try {
    state.record = await sdk.beginTransaction(entry.code); // later sdk.call()s carry its id
  } catch (e) {
    state.record = null; // records disabled or unreachable: the service still runs, unrecorded
  }
  cardStep();
}

async function endService(result, reasonCode) {
  const rec = state.record;
  state.record = null;
  sdk.transaction = null;
  if (!rec) return;
  try { await sdk.endTransaction(rec.id, result, reasonCode); } catch (e) { /* closed as abandoned when idle */ }
}

const serviceName = (entry, lang = state.lang) => (lang === "en" && entry.nameEn ? entry.nameEn : entry.nameZh);

async function loadCatalogue() {
  // fetched afresh for every visitor: a catalogue the fleet platform pushed shows at the next home screen
  try { state.catalogue = await sdk.catalogue(); } catch (e) { if (!state.catalogue) throw e; }
  return state.catalogue;
}

// a kiosk can stay on its home screen for hours: follow a pushed catalogue there too (only when its version changed,
// so the tiles do not flicker under a visitor's finger)
const CATALOGUE_CHECK_MS = Number(params.get("catalogueCheck") || 60_000);
async function followCatalogue() {
  if (state.step !== "home" || !state.catalogue || document.hidden) return;
  try {
    const c = await sdk.catalogue();
    if (state.step === "home" && c.version !== state.catalogue.version) home();
  } catch (e) { /* the service is restarting: the next check tries again */ }
}

async function home() {
  if (state.abort) state.abort.abort(); // stops the operation on the device too (gtsdk.js cancels it)
  state.abort = new AbortController();
  if (state.record) endService("abandoned", state.lastError || "userCancelled");
  state.service = null; state.card = null; state.txn = null;
  light("off", "idcard");
  show("home", h("h2", {}, t("chooseService")), h("div", { class: "services", "aria-busy": "true" }));
  let entries;
  try {
    entries = (await loadCatalogue()).entries.filter((e) => e.onTerminal !== false);
  } catch (e) {
    show("home", errorView("other", e, { retry: home }));
    return;
  }
  if (state.step !== "home") return;
  const list = state.elderly ? entries.filter((e) => e.available).slice(0, 2) : entries;
  show("home", h("h2", {}, t("chooseService")), h("div", { class: "services" }, list.map((s) =>
    button([h("span", { class: "icon", "aria-hidden": "true" }, icon(CATEGORY_ICON[s.category] || "doc")),
      h("span", {}, serviceName(s)), s.available ? null : h("span", { class: "unavailable" }, t("unavailable"))],
    () => beginService(s), { class: "service", "data-service": s.code, disabled: !s.available }))));
}

async function cardStep() {
  show("stepCard", bigIcon("card"), h("h2", {}, t("placeCard")),
    h("p", { class: "hint" }, t("placeCardHint")), h("div", { class: "spinner", role: "status" }, "…"),
    h("div", { class: "actions" }, button(t("home"), home, { id: "btn-home" })));
  speak(t("placeCard"));
  try {
    await ensureOpen("idcard");
    light("flash", "idcard");
    const card = await sdk.call("idcard", "read", { timeout: CARD_TIMEOUT }, { signal: state.abort.signal });
    if (state.step !== "stepCard") return;
    state.card = card;
    light("off", "idcard");
    faceStep();
  } catch (e) {
    light("off", "idcard");
    if (state.step !== "stepCard") return;
    show("stepCard", errorView(["timeOut", "noMedia"].includes(e.code) ? "noCard" : "other", e, { retry: cardStep }));
  }
}

async function reference() {
  if (state.card && state.card.photo) return state.card.photo;
  if (!state.reference) {
    // no licensed WLT decoder on this terminal: the simulated service offers the card holder's photo instead
    state.reference = (await sdk._fetch("GET", "/v1/demo/card-photo")).image;
  }
  return state.reference;
}

function scoreRow(name, value, thr, ok, id) {
  return h("tr", { id }, h("th", { scope: "row" }, name), h("td", {}, value.toFixed(3)), h("td", {}, thr.toFixed(3)),
    h("td", { class: ok ? "ok" : "bad" }, ok ? t("passed") : t("failed")));
}

async function faceStep() {
  const card = state.card;
  const who = () => h("p", { class: "who" }, `${t("cardRead")}: ${card.name} ${maskId(card.idNumber)}`);
  show("stepFace", who(),
    bigIcon("face"), h("h2", {}, t("lookCamera")),
    h("p", { class: "hint" }, t("lookCameraHint")), h("div", { class: "spinner", role: "status" }, "…"));
  speak(t("lookCamera"));
  try {
    await ensureOpen("camera", "init");
    const signal = state.abort.signal;
    const live = await sdk.call("camera", "liveness", {}, { signal });
    const cmp = await sdk.call("camera", "face_compare", { reference: await reference() }, { signal });
    // the application decides (9.4.1 e): here it takes the driver's thresholds as they are
    const liveOk = live.suggestedLive;
    const match = cmp.distance <= cmp.threshold;
    const table = h("table", { class: "scores", id: "scores" },
      h("caption", {}, `${t("liveness")} · ${t("compare")}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), h("th", { scope: "col" }, t("score")),
        h("th", { scope: "col" }, t("threshold")), h("th", { scope: "col" }, ""))),
      h("tbody", {}, live.checks.map((c) => scoreRow(`${t("liveness")}: ${c.name}`, c.score, c.threshold, c.passed)),
        scoreRow(`${t("compare")} (${t("distance")})`, cmp.distance, cmp.threshold, match, "row-compare"),
        h("tr", {}, h("th", { scope: "row" }, t("similarity")), h("td", {}, cmp.similarity.toFixed(3)),
          h("td", {}, ""), h("td", {}, ""))));
    if (!liveOk || !match) {
      show("stepFace", errorView(liveOk ? "face" : "live", null, { retry: faceStep }), table);
      return;
    }
    show("stepFace", who(), h("h2", {}, t("faceOk")), table,
      h("div", { class: "actions" }, button(t("start"), signStep, { autofocus: true, id: "btn-next" })));
    setTimeout(() => { if (state.step === "stepFace") signStep(); }, state.elderly ? 2500 : 1500);
  } catch (e) {
    console.warn("face step", e.code, e.field, e.detail);
    if (state.step !== "stepFace") return;
    show("stepFace", errorView("other", e, { retry: faceStep }));
  }
}

async function signStep() {
  if (state.step === "stepSign") return;
  show("stepSign", bigIcon("pen"), h("h2", {}, t("signNow")),
    h("p", { class: "hint" }, t("signHint")), h("div", { class: "spinner", role: "status" }, "…"));
  speak(t("signNow"));
  try {
    await ensureOpen("signature_pad");
    const sig = await sdk.call("signature_pad", "get_signature", { prompt: state.lang === "en" ? "Please sign" : "请在此签名",
      timeout: 120000 }, { signal: state.abort.signal });
    if (!sig.completed) { state.step = ""; return signStep(); }
    const img = sig.imagePng ? h("img", { src: `data:image/png;base64,${sig.imagePng}`, alt: t("signed"), class: "sig" }) : null;
    if (state.elderly) { show("stepSign", h("h2", {}, t("signed")), img); return printStep(); }
    fingerStep(img);
  } catch (e) {
    if (state.step !== "stepSign") return;
    show("stepSign", errorView("other", e, { retry: () => { state.step = ""; signStep(); } }));
  }
}

function fingerStep(sigImg) {
  show("stepFinger", h("p", { class: "ok-line" }, t("signed")), sigImg, h("h2", {}, t("fingerAsk")),
    h("div", { class: "actions" },
      button(t("fingerDo"), captureFinger, { autofocus: true, id: "btn-finger" }),
      button(t("fingerSkip"), printStep, { id: "btn-finger-skip" })));
}

async function captureFinger() {
  show("stepFinger", bigIcon("finger"), h("h2", {}, t("fingerPlace")),
    h("div", { class: "spinner", role: "status" }, "…"));
  speak(t("fingerPlace"));
  try {
    await ensureOpen("fingerprint");
    await light("flash", "fingerprint");
    const cap = await sdk.call("fingerprint", "capture", { withImage: false, timeout: 30000 },
      { signal: state.abort.signal });
    light("off", "fingerprint");
    show("stepFinger", h("h2", {}, `${t("fingerOk")} (${cap.quality})`));
    printStep();
  } catch (e) {
    light("off", "fingerprint");
    if (state.step !== "stepFinger") return;
    show("stepFinger", errorView("other", e, { retry: captureFinger, skip: printStep }));
  }
}

function newTxn() {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, "0");
  const rnd = (globalThis.crypto && crypto.getRandomValues) ? crypto.getRandomValues(new Uint32Array(1))[0] % 10000
    : Math.floor(Math.random() * 10000);
  return `GT${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}-${p(rnd, 4)}`;
}

async function printStep() {
  state.txn = state.txn || newTxn();
  show("stepPrint", bigIcon("receipt"), h("h2", {}, t("printing")),
    h("p", { class: "txn" }, `${t("txn")}: ${state.txn}`));
  try {
    await ensureOpen("receipt_printer", "init", { chinese: true });
    const now = new Date();
    await sdk.call("receipt_printer", "print", { elements: [
      { type: "text", text: "政务服务自助终端", align: "center", width: 2, height: 2, bold: true },
      { type: "text", text: `业务 Service: ${serviceName(state.service, "zh")}` },
      { type: "text", text: `办理人 Name: ${state.card ? state.card.name : ""}` },
      { type: "text", text: `证件号 ID: ${maskId(state.card ? state.card.idNumber : "")}` },
      { type: "text", text: `时间 Time: ${now.toLocaleString("zh-CN")}` },
      { type: "text", text: `流水号 Txn: ${state.txn}` },
      { type: "qr", data: state.txn, size: 6 },
      { type: "text", text: "咨询电话 12345", align: "center" },
      { type: "feed", lines: 2 },
    ] });
    await sdk.call("receipt_printer", "cut", { partial: false, feedLines: 3 });
    light("flash", "receipt");
    setTimeout(() => light("off", "receipt"), 3000);
    speak(t("printed"));
    rateStep(true);
  } catch (e) {
    show("stepPrint", errorView(e.code === "noMedia" ? "paper" : "other", e, { retry: printStep,
      skip: () => rateStep(false) }));
  }
}

function rateStep(printed) {
  if (state.elderly) return rateOneTap(printed);
  const phone = h("input", { id: "phone", type: "tel", inputmode: "none", maxlength: "11", autocomplete: "off",
    "aria-describedby": "phone-help" });
  phone.addEventListener("focus", () => {
    // the terminal's soft keyboard (8.4 n): the web keyboard draws itself from the keyboard events
    sdk.call("keyboard", "show", { layout: "phone", field: "phone", large: state.elderly })
      .catch(() => window.GtsdkKeyboard && GtsdkKeyboard.show({ layout: "phone", field: "phone", large: state.elderly }));
  });
  let chosen = null;
  const tags = new Set();
  const buttons = RATINGS.map((r) => button(t(`rate${r}`), (ev) => {
    chosen = r;
    for (const b of ev.currentTarget.parentElement.children) b.setAttribute("aria-pressed", String(b === ev.currentTarget));
  }, { class: `rate rate-${r}`, "data-rating": String(r), "aria-pressed": "false" }));
  const tagButtons = TAGS.map((tag) => button(t(`tag_${tag}`), (ev) => {
    if (tags.has(tag)) tags.delete(tag); else tags.add(tag);
    ev.currentTarget.setAttribute("aria-pressed", String(tags.has(tag)));
  }, { class: "tag", "data-tag": tag, "aria-pressed": "false" }));
  const comment = h("textarea", { id: "comment", maxlength: "500", rows: "3", autocomplete: "off" });
  show("stepRate", printed ? h("p", { class: "ok-line", id: "printed" }, t("printed")) : null,
    h("p", { class: "txn" }, `${t("txn")}: ${state.txn}`),
    h("h2", { id: "rate-title" }, t("rateAsk")),
    h("div", { class: "ratings", role: "group", "aria-labelledby": "rate-title" }, buttons),
    h("p", { class: "tags-title", id: "tags-title" }, t("rateTags")),
    h("div", { class: "tags", role: "group", "aria-labelledby": "tags-title" }, tagButtons),
    h("p", { class: "field" }, h("label", { for: "comment" }, t("comment")), comment),
    h("p", { class: "field" }, h("label", { for: "phone" }, t("phone")), phone,
      h("span", { id: "phone-help", class: "sr-only" }, "11")),
    h("div", { class: "actions" }, button(t("submit"), () => {
      if (!chosen) { buttons[0].focus(); return; }
      sdk.call("keyboard", "hide", {}).catch(() => {});
      finish(chosen, printed, [...tags], comment.value.trim());
    }, { id: "btn-submit" })));
}

// Elderly mode (7.2): one tap on a rating is the whole rating — no tags, no typing, no submit button.
function rateOneTap(printed) {
  show("stepRate", printed ? h("p", { class: "ok-line", id: "printed" }, t("printed")) : null,
    h("p", { class: "txn" }, `${t("txn")}: ${state.txn}`),
    h("h2", { id: "rate-title" }, t("rateAsk")),
    h("div", { class: "ratings", role: "group", "aria-labelledby": "rate-title" }, RATINGS.map((r) =>
      button(t(`rate${r}`), () => finish(r, printed, [], ""), { class: `rate rate-${r}`, "data-rating": String(r) }))));
}

async function finish(rating, printed = true, tags = [], comment = "") {
  const rec = state.record;
  if (rec) {
    try {
      const body = { transactionId: rec.id, level: rating, tags };
      if (comment) body.comment = comment;
      await sdk.rate(body);
    } catch (e) { console.warn("rating not stored", e.code); }
    await endService("completed", printed ? undefined : "receiptSkipped");
  }
  speak(t("thanks"));
  show("done", bigIcon("ok"), h("h2", { id: "done" }, t("done")),
    h("p", {}, `${t("thanks")} (${t(`rate${rating}`)})`), h("p", { class: "txn" }, `${t("txn")}: ${state.txn}`),
    h("div", { class: "actions" }, button(t("home"), home, { autofocus: true, id: "btn-home" })));
}

// ---- chrome: language, elderly mode, voice, help ------------------------------------------------------------
function applyChrome() {
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  document.body.classList.toggle("elderly", state.elderly);
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("#btn-lang").setAttribute("aria-pressed", String(state.lang === "en"));
  $("#btn-elderly").textContent = state.elderly ? t("elderlyOff") : t("elderly");
  $("#btn-elderly").setAttribute("aria-pressed", String(state.elderly));
  $("#btn-voice").textContent = state.voice ? t("voiceOn") : t("voiceOff");
  $("#btn-voice").setAttribute("aria-pressed", String(state.voice));
  $("#steps").setAttribute("aria-label", state.lang === "en" ? "Steps" : "办理步骤");
  sdk.lang = state.lang;
  document.title = t("title");
}

$("#btn-lang").addEventListener("click", () => { state.lang = state.lang === "en" ? "zh" : "en"; applyChrome(); home(); });
window.addEventListener("pagehide", () => { if (state.record) endService("abandoned", "pageClosed"); });
$("#btn-elderly").addEventListener("click", () => { state.elderly = !state.elderly; applyChrome(); home(); });
$("#btn-voice").addEventListener("click", () => {
  state.voice = !state.voice;
  if (!state.voice) sdk.call("voice", "stop", {}).catch(() => {});
  applyChrome();
});
$("#btn-help").addEventListener("click", () => {
  $("#help-panel").hidden = false;
  $("#btn-help-close").focus();
  speak(t("helpTitle"));
});
$("#btn-help-close").addEventListener("click", () => { $("#help-panel").hidden = true; $("#btn-help").focus(); });
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("#help-panel").hidden) $("#btn-help-close").click();
});

applyChrome();
if (!token) {
  view.replaceChildren(h("p", { class: "error", role: "alert" }, t("noToken")));
} else {
  const conn = $("#conn");
  const sub = sdk.events({
    modules: ["keyboard"],
    onEvent: (e) => { if (window.GtsdkKeyboard) GtsdkKeyboard.handleEvent(e); },
    onState: (s) => { conn.dataset.state = s; conn.textContent = s === "open" ? t("connected") : t("disconnected"); },
  });
  window.addEventListener("pagehide", () => sub.close());
  home();
  setInterval(followCatalogue, CATALOGUE_CHECK_MS);
}
window.gtsdkDemo = { state, sdk };
