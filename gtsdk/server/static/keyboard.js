/* gtsdk reference on-screen keyboard (clause 8.4 n 软键盘; 7.2 a large keys for elderly users).
 *
 * A classic script (works from <script src="/sdk/keyboard.js">) that defines the custom
 * element <gtsdk-keyboard> and the global GtsdkKeyboard:
 *
 *   GtsdkKeyboard.handleEvent(e)        // feed it the service's keyboard events
 *   GtsdkKeyboard.connect(sdk)          // or let it subscribe: sdk.events({modules:["keyboard"], ...})
 *   GtsdkKeyboard.show({layout, field, large}); GtsdkKeyboard.hide(); GtsdkKeyboard.state()
 *   GtsdkKeyboard.setPinyinDictionary({"zhang": "张章长", ...})   // a real IME dictionary
 *
 * Events: {module: "keyboard", event|type: "keyboardShown", data: {layout, field, large}} and
 * "keyboardHidden".  Layouts: numeric, idNumber (digits + X, GB 11643 check character), phone,
 * full, pinyin, large (= full with large keys).  Keys are pressed with pointerdown and
 * preventDefault, so the focused input keeps its focus; text goes into the field named by the
 * event, else into the focused <input>/<textarea>, and fires "input" like real typing.
 * "Done" hides the keyboard and fires "change".  The element fires "gtsdk-keyboard" events
 * ({detail: {action: "shown"|"hidden"|"key"|"done", key}}) for the page's own logic.
 */
(function () {
  "use strict";
  if (typeof window === "undefined" || window.GtsdkKeyboard) return;

  var BACK = "\u232b", SHIFT = "\u21e7", DONE = "done", SPACE = " ", CLEAR = "clear";
  var DIGITS = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]];
  var LAYOUTS = {
    numeric: DIGITS.concat([[CLEAR, "0", BACK], [DONE]]),
    idNumber: DIGITS.concat([["X", "0", BACK], [CLEAR, DONE]]),
    phone: DIGITS.concat([[CLEAR, "0", BACK], [DONE]]),
    full: [
      ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"],
      ["q", "w", "e", "r", "t", "y", "u", "i", "o", "p"],
      ["a", "s", "d", "f", "g", "h", "j", "k", "l", "@"],
      [SHIFT, "z", "x", "c", "v", "b", "n", "m", ".", BACK],
      ["-", "_", SPACE, DONE],
    ],
  };
  LAYOUTS.pinyin = LAYOUTS.full;
  LAYOUTS.large = LAYOUTS.full;
  var ALLOWED = { numeric: /^[0-9]$/, idNumber: /^[0-9X]$/, phone: /^[0-9]$/ };
  var LABELS = { done: "完成 Done", clear: "清空", " ": "空格 Space" };

  // A small built-in table for the reference pinyin layout; a terminal plugs in a full one.
  var PINYIN = {
    zhang: "张章长", wang: "王网往", li: "李理里力", liu: "刘六流", chen: "陈晨", yang: "杨阳洋",
    zhao: "赵照", huang: "黄皇", zhou: "周州", wu: "吴五武", xu: "徐许", sun: "孙", ma: "马",
    zhu: "朱住", hu: "胡户", guo: "郭国", he: "何和", gao: "高", lin: "林", luo: "罗",
    san: "三", si: "四", yi: "一", er: "二", shen: "身申", fen: "份分", zheng: "证正政",
    ban: "办", li3: "理", bei: "北", jing: "京", shang: "上", hai: "海", min: "民", sheng: "省生",
    shi: "市是事", qu: "区", lu: "路", hao: "号好", dian: "电", hua: "话华", zhu4: "住",
    jia: "家", ting: "庭", di: "地", zhi: "址", fu: "服", wu4: "务",
  };

  var CSS = [
    ":host{position:fixed;left:0;right:0;bottom:0;z-index:2147483000;display:none;",
    "background:#e9edf2;border-top:2px solid #9aa7b5;padding:8px;box-sizing:border-box;",
    "font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;user-select:none;-webkit-user-select:none}",
    ":host([data-visible]){display:block}",
    ".row{display:flex;justify-content:center;gap:6px;margin:6px 0}",
    "button{flex:1 1 0;max-width:120px;min-height:52px;font-size:22px;border:1px solid #8894a3;",
    "border-radius:8px;background:#fff;color:#111;touch-action:manipulation}",
    "button:active{background:#cfe2ff}",
    "button[data-k='done']{background:#1d6fd6;color:#fff;max-width:260px}",
    "button[data-k=' ']{max-width:360px}",
    ".cands{display:none;gap:6px;margin:4px 0;min-height:48px;align-items:center}",
    ":host([data-layout='pinyin']) .cands{display:flex}",
    ".comp{min-width:90px;font-size:22px;color:#555}",
    ".cands button{flex:0 0 auto;min-width:56px}",
    ":host([data-large]) button{min-height:88px;font-size:36px;max-width:180px}",
    ":host([data-large]) button[data-k='done']{max-width:360px}",
    ":host([data-large]) .row{gap:10px;margin:10px 0}",
  ].join("");

  function isTextField(el) {
    if (!el) return false;
    if (el.tagName === "TEXTAREA") return true;
    if (el.tagName !== "INPUT") return false;
    return /^(text|search|tel|url|email|password|number|)$/i.test(el.type || "");
  }

  class GtsdkKeyboardElement extends HTMLElement {
    constructor() {
      super();
      this._layout = null;
      this._field = null;
      this._shift = false;
      this._comp = "";
      this._root = this.attachShadow({ mode: "open" });
      this._root.innerHTML = "<style>" + CSS + "</style><div class='cands' part='candidates'>" +
        "<span class='comp'></span></div><div class='keys' part='keys'></div>";
      var self = this;
      // pointerdown + preventDefault: the page's input keeps the focus and the caret
      this._root.addEventListener("pointerdown", function (ev) { self._press(ev); });
      this._root.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
    }

    get visible() { return this.hasAttribute("data-visible"); }

    show(opts) {
      opts = opts || {};
      var layout = opts.layout || "full";
      if (!LAYOUTS[layout]) throw new Error("unknown keyboard layout: " + layout);
      this._layout = layout;
      this._field = opts.field || null;
      this._shift = false;
      this._comp = "";
      this.setAttribute("data-layout", layout);
      if (opts.large || layout === "large") this.setAttribute("data-large", ""); else this.removeAttribute("data-large");
      this._render();
      this.setAttribute("data-visible", "");
      var target = this._target();
      if (target && document.activeElement !== target) target.focus();
      this._notify("shown");
    }

    hide() {
      this.removeAttribute("data-visible");
      this._comp = "";
      this._notify("hidden");
    }

    state() {
      return { visible: this.visible, layout: this.visible ? this._layout : null, field: this._field,
               large: this.hasAttribute("data-large") };
    }

    _notify(action, key) {
      this.dispatchEvent(new CustomEvent("gtsdk-keyboard", { bubbles: true, composed: true,
        detail: { action: action, key: key, layout: this._layout, field: this._field } }));
    }

    _target() {
      var el = this._field ? document.getElementById(this._field) : null;
      if (!isTextField(el)) el = isTextField(document.activeElement) ? document.activeElement : null;
      return el;
    }

    _render() {
      var keys = this._root.querySelector(".keys");
      keys.textContent = "";
      var rows = LAYOUTS[this._layout];
      for (var r = 0; r < rows.length; r++) {
        var row = document.createElement("div");
        row.className = "row";
        for (var i = 0; i < rows[r].length; i++) {
          var k = rows[r][i];
          var b = document.createElement("button");
          b.type = "button";
          b.tabIndex = -1;
          b.setAttribute("data-k", k);
          b.setAttribute("aria-label", k === BACK ? "backspace" : k === SHIFT ? "shift" : k);
          var label = LABELS[k] || k;
          if (this._shift && k.length === 1 && /[a-z]/.test(k)) label = k.toUpperCase();
          b.textContent = label;
          row.appendChild(b);
        }
        keys.appendChild(row);
      }
      this._renderCandidates();
    }

    _renderCandidates() {
      var bar = this._root.querySelector(".cands");
      bar.querySelectorAll("button").forEach(function (b) { b.remove(); });
      bar.querySelector(".comp").textContent = this._comp;
      if (this._layout !== "pinyin" || !this._comp) return;
      var dict = window.GtsdkKeyboard._pinyin;
      var seen = "";
      Object.keys(dict).forEach(function (syl) {
        if (syl.replace(/[0-9]/g, "") === this._comp) seen += dict[syl];
      }, this);
      if (!seen) {
        Object.keys(dict).forEach(function (syl) {
          if (syl.indexOf(this._comp) === 0) seen += dict[syl];
        }, this);
      }
      var chars = Array.from(new Set(Array.from(seen))).slice(0, 9);
      for (var i = 0; i < chars.length; i++) {
        var b = document.createElement("button");
        b.type = "button";
        b.tabIndex = -1;
        b.setAttribute("data-cand", chars[i]);
        b.textContent = chars[i];
        bar.appendChild(b);
      }
    }

    _press(ev) {
      var btn = ev.target && ev.target.closest ? ev.target.closest("button") : null;
      if (!btn) return;
      ev.preventDefault();
      var cand = btn.getAttribute("data-cand");
      if (cand) {
        this._insert(cand);
        this._comp = "";
        this._renderCandidates();
        return;
      }
      this._key(btn.getAttribute("data-k"));
    }

    _key(k) {
      if (k === SHIFT) { this._shift = !this._shift; this._render(); return; }
      if (k === DONE) {
        var t = this._target();
        if (this._comp) { this._insert(this._comp); this._comp = ""; }
        if (t) t.dispatchEvent(new Event("change", { bubbles: true }));
        this._notify("done");
        this.hide();
        return;
      }
      if (k === CLEAR) { this._setValue(""); this._comp = ""; this._renderCandidates(); return; }
      if (k === BACK) {
        if (this._comp) { this._comp = this._comp.slice(0, -1); this._renderCandidates(); return; }
        this._backspace();
        return;
      }
      var ch = this._shift && /^[a-z]$/.test(k) ? k.toUpperCase() : k;
      if (this._layout === "pinyin" && /^[a-z]$/.test(k)) {
        this._comp += k;
        this._renderCandidates();
        this._notify("key", k);
        return;
      }
      this._insert(ch);
      if (this._shift) { this._shift = false; this._render(); }
    }

    _insert(text) {
      var t = this._target();
      if (!t) return;
      var rule = ALLOWED[this._layout];
      if (rule && !rule.test(text)) return;
      var max = t.maxLength > 0 ? t.maxLength : Infinity;
      var start = t.selectionStart != null ? t.selectionStart : t.value.length;
      var end = t.selectionEnd != null ? t.selectionEnd : t.value.length;
      if (t.value.length - (end - start) + text.length > max) return;
      try {
        t.setRangeText(text, start, end, "end");
      } catch (e) {  // type=number/email have no selection API
        t.value = t.value + text;
      }
      t.dispatchEvent(new InputEvent("input", { bubbles: true, data: text, inputType: "insertText" }));
      this._notify("key", text);
    }

    _backspace() {
      var t = this._target();
      if (!t || !t.value) return;
      var start = t.selectionStart, end = t.selectionEnd;
      try {
        if (start === end) start = Math.max(0, start - 1);
        t.setRangeText("", start, end, "end");
      } catch (e) {
        t.value = t.value.slice(0, -1);
      }
      t.dispatchEvent(new InputEvent("input", { bubbles: true, inputType: "deleteContentBackward" }));
      this._notify("key", "backspace");
    }

    _setValue(v) {
      var t = this._target();
      if (!t) return;
      t.value = v;
      t.dispatchEvent(new InputEvent("input", { bubbles: true, inputType: "deleteContent" }));
    }
  }

  customElements.define("gtsdk-keyboard", GtsdkKeyboardElement);

  function element() {
    var el = document.querySelector("gtsdk-keyboard");
    if (!el) {
      el = document.createElement("gtsdk-keyboard");
      (document.body || document.documentElement).appendChild(el);
    }
    return el;
  }

  window.GtsdkKeyboard = {
    layouts: Object.keys(LAYOUTS),
    _pinyin: PINYIN,
    element: element,
    show: function (opts) { element().show(opts); },
    hide: function () { element().hide(); },
    state: function () { return element().state(); },
    setPinyinDictionary: function (dict) { this._pinyin = dict || {}; },
    /** Apply one service event ({module, event|type, data}); returns true when it was a keyboard event. */
    handleEvent: function (e) {
      if (!e || (e.module && e.module !== "keyboard")) return false;
      var kind = e.event || e.type;
      if (kind === "keyboardShown") { element().show(e.data || {}); return true; }
      if (kind === "keyboardHidden") { element().hide(); return true; }
      return false;
    },
    /** Subscribe through the gtsdk.js client: GtsdkKeyboard.connect(sdk). Returns the subscription. */
    connect: function (sdk) {
      var self = this;
      return sdk.events({ modules: ["keyboard"], onEvent: function (e) { self.handleEvent(e); } });
    },
  };
})();
