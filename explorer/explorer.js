// The LSTM language model of one run, in the browser: its forward pass, sampling, and the page around them.
// The model and the WebAssembly kernel are embedded in the page (explore.py); nothing is fetched.
//
// window.lstm (documented in docs/explorer.md):
//   lstm.info                          {kind, layers, units, vocabSize, tied, cell, title}
//   lstm.tokenize(text)                the tokens of text, as training cut them (characters, or words + <eos>)
//   lstm.run(text)                     state carried from a zero state over the known tokens of text:
//                                      {tokens, ids, unknown, length, layers: [{h, c, i, f, o}], probs, at(t, l)}
//                                      layers[l].h is a Float32Array of length·units[l] (row t = position t);
//                                      probs a Float32Array of length·vocabSize: P(token t+1 | tokens ≤ t)
//   lstm.sample(prime, n, temperature, seed)   n tokens (1 to 20,000) after prime (from a zero state), as text
"use strict";

(function () {
  const model = JSON.parse(document.getElementById("model").textContent);
  // The kernel with fused multiply-adds where the browser has relaxed SIMD, else with separate ones.
  const kernels = JSON.parse(document.getElementById("kernel").textContent);
  const relaxed = base64Bytes(kernels.relaxed);
  const kernelBytes = WebAssembly.validate(relaxed) ? relaxed : base64Bytes(kernels.plain);

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let k = 0; k < binary.length; k++) bytes[k] = binary.charCodeAt(k);
    return bytes;
  }

  // ---- the weights, in one WebAssembly memory ------------------------------------------------------------------
  const raw = new Float32Array(base64Bytes(model.weights).buffer);
  delete model.weights;
  const array = (name) => {
    const spec = model.arrays[name];
    if (!spec) return null;
    const size = spec.shape.reduce((a, b) => a * b, 1);
    return { data: raw.subarray(spec.offset, spec.offset + size), shape: spec.shape };
  };
  const V = model.tokens.length, L = model.layers, units = model.units;
  const pad4 = (n) => Math.ceil(n / 4) * 4;
  const Vp = pad4(V);
  // The cell's variant (models/cell.py VARIANTS) and the gate blocks of its z, in column order: a gate the variant
  // fixes has no block, so z has G·u columns (G = 4 for the vanilla LSTM).
  const variant = model.variant || "vanilla", blocks = model.gateBlocks || ["i", "f", "c", "o"], G = blocks.length;
  const block = Object.fromEntries(blocks.map((b, k) => [b, k]));
  const zw = (u) => pad4(G * u);  // a row of z, and of a layer's weights in wasm memory: the kernel's SIMD needs 4s

  // Floats each matrix takes in wasm memory: a layer reads [x_t, h_{t-1}] · [W_x; W_h], the logits h · W_out
  // (columns padded to 4). Layer 1's input product is folded into a table of a row per token (one-hot, or
  // embedding · W_x + b) where that is cheap to build; for a large vocabulary it stays a product.
  const embedding = array("embedding"), firstKernel = array("lstm_0/kernel");
  const useTable = !embedding || V * firstKernel.shape[0] * G * units[0] <= 2e7;
  const inputSizes = units.map((u, l) => (l === 0 ? (useTable ? 0 : firstKernel.shape[0]) : units[l - 1]));
  let floats = 0;
  const region = (n) => { const at = floats; floats += pad4(n); return at; };
  const mats = units.map((u, l) => region((inputSizes[l] + u) * zw(u)));
  const outMat = region(units[L - 1] * Vp);
  const vecIn = region(Math.max(...units.map((u, l) => inputSizes[l] + u)));
  const vecZ = region(Math.max(...units.map(zw), Vp));
  const vecC = region(Math.max(...units)), vecH = region(Math.max(...units));
  const memory = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) + 1 });
  let heap = new Float32Array(memory.buffer);  // a new view whenever the memory grows
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(kernelBytes), { env: { memory } }).exports;
  const axpyRows = kernel.axpy_rows;

  const biases = [], tables = [];
  function setRows(data, at, width, stride) {  // rows of `width` floats into heap rows of `stride` (zeros after)
    if (width === stride) { heap.set(data, at); return; }
    for (let r = 0; r < data.length / width; r++) heap.set(data.subarray(r * width, (r + 1) * width), at + r * stride);
  }
  units.forEach((u, l) => {
    const k = array(`lstm_${l}/kernel`), r = array(`lstm_${l}/recurrent`), b = array(`lstm_${l}/bias`);
    const bias = new Float32Array(zw(u));  // padded with zeros to a row of z
    bias.set(b.data);
    biases.push(bias);
    if (l === 0 && useTable) {
      // z's input part for every token: embedding · W_x + b, or (one-hot) W_x's row + b
      const table = new Float32Array(V * G * u), e = embedding, n = k.shape[0];
      for (let t = 0; t < V; t++) {
        const row = table.subarray(t * G * u, (t + 1) * G * u);
        row.set(b.data);
        if (e) {
          for (let j = 0; j < n; j++) {
            const a = e.data[t * n + j];
            for (let m = 0; m < G * u; m++) row[m] += a * k.data[j * G * u + m];
          }
        } else {
          for (let m = 0; m < G * u; m++) row[m] += k.data[t * G * u + m];
        }
      }
      tables.push(table);
      setRows(r.data, mats[0], G * u, zw(u));
    } else {  // [W_x; W_h]
      setRows(k.data, mats[l], G * u, zw(u));
      setRows(r.data, mats[l] + k.shape[0] * zw(u), G * u, zw(u));
    }
  });
  const outBias = array("logits/bias").data;
  {
    const u = units[L - 1], kernel = array("logits/kernel"), e = array("embedding");
    for (let j = 0; j < u; j++)
      for (let v = 0; v < V; v++)  // tied: W_out = Eᵀ
        heap[outMat + j * Vp + v] = kernel ? kernel.data[j * V + v] : e.data[v * u + j];
  }

  const sigmoid = (z) => 1 / (1 + Math.exp(-z));
  const peepholes = units.map((u, l) => (array(`lstm_${l}/peephole`) || { data: null }).data);  // rows i, f, o
  const tanh = (z) => (z > 20 ? 1 : z < -20 ? -1 : 1 - 2 / (1 + Math.exp(2 * z)));  // one exp: faster than Math.tanh

  function zeroState() {
    return units.map((u) => ({ h: new Float32Array(u), c: new Float32Array(u) }));
  }

  // The gates of layer l at one position from its pre-activations z = heap[zAt .. zAt + G·u) (the vanilla LSTM's
  // overwritten by i, f, C̃, o); h and c (Float32Arrays of u) are updated in place; with `out` (run's layers) the
  // gates and the state are also written at row t.
  function gatesAt(zAt, h, c, l, out, t) {
    const u = units[l];
    if (variant !== "vanilla") return variantGates(zAt, h, c, l, out, t);
    if (u % 4 === 0) {  // in WebAssembly, four units at a time
      heap.set(c, vecC);
      kernel.gates(4 * zAt, 4 * vecC, 4 * vecH, u);
      c.set(heap.subarray(vecC, vecC + u));
      h.set(heap.subarray(vecH, vecH + u));
      if (out) {
        const k = t * u;
        out.i.set(heap.subarray(zAt, zAt + u), k); out.f.set(heap.subarray(zAt + u, zAt + 2 * u), k);
        out.o.set(heap.subarray(zAt + 3 * u, zAt + 4 * u), k); out.c.set(c, k); out.h.set(h, k);
      }
      return;
    }
    const z = heap.subarray(zAt, zAt + 4 * u);
    for (let j = 0; j < u; j++) {
      const i = sigmoid(z[j]), f = sigmoid(z[u + j]), g = tanh(z[2 * u + j]), o = sigmoid(z[3 * u + j]);
      c[j] = f * c[j] + i * g;
      h[j] = o * tanh(c[j]);
      if (out) { const k = t * u + j; out.i[k] = i; out.f[k] = f; out.o[k] = o; out.c[k] = c[j]; out.h[k] = h[j]; }
    }
  }

  // The gates of an LSTM variant, unit by unit (models/cell.py lstm_update): a fixed gate is 1 (i = 1 − f when
  // coupled), peepholes add p_i·C_{t−1}, p_f·C_{t−1} and p_o·C_t.
  function variantGates(zAt, h, c, l, out, t) {
    const u = units[l], z = heap.subarray(zAt, zAt + G * u), p = peepholes[l];
    const has = (b) => b in block, pre = (b, j) => z[block[b] * u + j];
    for (let j = 0; j < u; j++) {
      const cPrev = c[j];
      const f = has("f") ? sigmoid(pre("f", j) + (p ? p[u + j] * cPrev : 0)) : 1;
      const i = has("i") ? sigmoid(pre("i", j) + (p ? p[j] * cPrev : 0)) : variant === "coupled" ? 1 - f : 1;
      const g = variant === "no-input-activation" ? pre("c", j) : tanh(pre("c", j));
      c[j] = f * cPrev + i * g;
      const o = has("o") ? sigmoid(pre("o", j) + (p ? p[2 * u + j] * c[j] : 0)) : 1;
      h[j] = o * (variant === "no-output-activation" ? c[j] : tanh(c[j]));
      if (out) { const k = t * u + j; out.i[k] = i; out.f[k] = f; out.o[k] = o; out.c[k] = c[j]; out.h[k] = h[j]; }
    }
  }

  // One token through every layer, the state updated in place (sampling). Returns a view of the logits.
  function advance(state, id) {
    let below = null;
    for (let l = 0; l < L; l++) {
      const u = units[l], n = inputSizes[l], z = heap.subarray(vecZ, vecZ + zw(u));
      if (l === 0 && useTable) z.set(tables[0].subarray(id * G * u, (id + 1) * G * u));
      else { z.set(biases[l]); heap.set(l === 0 ? embedding.data.subarray(id * n, (id + 1) * n) : below, vecIn); }
      heap.set(state[l].h, vecIn + n);
      axpyRows(4 * mats[l], 4 * vecIn, 4 * vecZ, n + u, zw(u));
      gatesAt(vecZ, state[l].h, state[l].c, l);
      below = state[l].h;
    }
    const logits = heap.subarray(vecZ, vecZ + Vp);
    logits.fill(0);
    logits.set(outBias);
    heap.set(below, vecIn);
    axpyRows(4 * outMat, 4 * vecIn, 4 * vecZ, units[L - 1], Vp);
    return logits.subarray(0, V);
  }

  // ---- tokens ----------------------------------------------------------------------------------------------------
  const index = new Map(model.tokens.map((t, k) => [t, k]));
  const EOS = "<eos>", UNK = "<unk>";
  const SPACE = /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;  // Python's

  function tokenize(text, closeLastLine = true) {
    if (model.kind === "chars") return Array.from(text);
    const tokens = [];
    const lines = text.split("\n");
    lines.forEach((line, k) => {
      const words = line.split(SPACE).filter((w) => w);
      const last = k === lines.length - 1;
      if (last && !line) return;  // the text ended with a line end
      tokens.push(...words);
      if (!last || (closeLastLine && words.length)) tokens.push(EOS);
    });
    return tokens;
  }

  // Ids of the tokens the model knows; a word outside the vocabulary is <unk> where the vocabulary has it.
  function encode(tokens) {
    const ids = [], known = [], unknown = [];
    tokens.forEach((token, k) => {
      let key = model.lowerCase && !index.has(token) ? token.toLowerCase() : token;  // as Vocabulary.read_cased
      if (!index.has(key) && model.kind === "words" && index.has(UNK)) key = UNK;
      if (index.has(key)) { ids.push(index.get(key)); known.push(k); }
      else if (!unknown.includes(token)) unknown.push(token);
    });
    return { ids, known, unknown };
  }

  function softmaxInto(logits, out, temperature = 1) {
    let max = -Infinity;
    for (let v = 0; v < logits.length; v++) max = Math.max(max, logits[v] / temperature);
    let sum = 0;
    for (let v = 0; v < logits.length; v++) { const e = Math.exp(logits[v] / temperature - max); out[v] = e; sum += e; }
    for (let v = 0; v < logits.length; v++) out[v] /= sum;
    return out;
  }

  // Y[P × m] += X[P × n] · W[n × m] (float offsets into heap): four positions per pass, the rest one by one.
  function gemm(W, X, Y, P, n, m) {
    let p = 0;
    for (; p + 4 <= P; p += 4) kernel.gemm4(4 * W, 4 * (X + p * n), 4 * (Y + p * m), n, m);
    for (; p < P; p++) axpyRows(4 * W, 4 * (X + p * n), 4 * (Y + p * m), n, m);
  }

  function fillRows(at, rows, row) {  // every row of heap[at ..] of row.length floats set to `row`
    for (let p = 0; p < rows; p++) heap.set(row, at + p * row.length);
  }

  let scratch = floats;  // run's buffers lie after the weights; the memory grows to the longest text
  function ensure(total) {
    const need = (total * 4) - memory.buffer.byteLength;
    if (need > 0) { memory.grow(Math.ceil(need / 65536)); heap = new Float32Array(memory.buffer); }
  }

  // Layer by layer over the whole text: layer 1 from its token table, every higher layer's input product and the
  // logits as matrix products over all positions (each weight read once per four positions), then the recurrence.
  function run(text) {
    const tokens = tokenize(text);
    const { ids, known, unknown } = encode(tokens);
    const T = ids.length, uMax = Math.max(...units, inputSizes[0]), zMax = Math.max(...units.map(zw), Vp);
    const bufZ = scratch, bufX = [bufZ + T * zMax, bufZ + T * zMax + T * uMax];
    ensure(bufX[1] + T * uMax);
    const layers = units.map((u) => ({ h: new Float32Array(T * u), c: new Float32Array(T * u),
      i: new Float32Array(T * u), f: new Float32Array(T * u), o: new Float32Array(T * u) }));
    units.forEach((u, l) => {
      const n = inputSizes[l], h = new Float32Array(u), c = new Float32Array(u), X = bufX[l % 2];
      if (l === 0 && useTable) {
        ids.forEach((id, t) => heap.set(tables[0].subarray(id * G * u, (id + 1) * G * u), bufZ + t * zw(u)));
      } else {
        if (l === 0) ids.forEach((id, t) => heap.set(embedding.data.subarray(id * n, (id + 1) * n), bufX[1] + t * n));
        fillRows(bufZ, T, biases[l]);
        gemm(mats[l], bufX[(l + 1) % 2], bufZ, T, n, zw(u));
      }
      const Wh = mats[l] + n * zw(u), out = layers[l];
      if (variant === "vanilla" && u % 4 === 0) {  // the state stays in the memory: h_t is written straight into row t of X, C_t at vecC
        heap.fill(0, vecC, vecC + u);
        for (let t = 0; t < T; t++) {
          const zAt = bufZ + t * 4 * u, hAt = X + t * u;
          if (t) axpyRows(4 * Wh, 4 * (hAt - u), 4 * zAt, u, 4 * u);
          kernel.gates(4 * zAt, 4 * vecC, 4 * hAt, u);
          out.c.set(heap.subarray(vecC, vecC + u), t * u);
        }
        for (let t = 0; t < T; t++) {  // the gates i, f, o left in the z rows
          const zAt = bufZ + t * 4 * u;
          out.i.set(heap.subarray(zAt, zAt + u), t * u); out.f.set(heap.subarray(zAt + u, zAt + 2 * u), t * u);
          out.o.set(heap.subarray(zAt + 3 * u, zAt + 4 * u), t * u);
        }
        out.h.set(heap.subarray(X, X + T * u));
      } else {
        for (let t = 0; t < T; t++) {
          const zAt = bufZ + t * zw(u);
          heap.set(h, vecIn);
          axpyRows(4 * Wh, 4 * vecIn, 4 * zAt, u, zw(u));
          gatesAt(zAt, h, c, l, out, t);
          heap.set(h, X + t * u);
        }
      }
    });
    const probs = new Float32Array(T * V), padded = new Float32Array(Vp);
    padded.set(outBias);
    fillRows(bufZ, T, padded);
    gemm(outMat, bufX[(L - 1) % 2], bufZ, T, units[L - 1], Vp);
    for (let t = 0; t < T; t++)
      softmaxInto(heap.subarray(bufZ + t * Vp, bufZ + t * Vp + V), probs.subarray(t * V, (t + 1) * V));
    const at = (p, l) => {
      const u = units[l], s = layers[l], row = (a) => a.subarray(p * u, (p + 1) * u);
      return { h: row(s.h), c: row(s.c), i: row(s.i), f: row(s.f), o: row(s.o) };
    };
    return { tokens, ids, known, unknown, length: T, layers, probs, at };
  }

  function random(seed) {  // mulberry32: the same numbers for the same seed in every browser
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let r = Math.imul(a ^ (a >>> 15), 1 | a);
      r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
      return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
    };
  }

  function decode(ids) {
    if (model.kind === "chars") return ids.map((k) => model.tokens[k]).join("");
    let out = "";
    for (const k of ids) {
      const word = model.tokens[k];
      if (word === EOS) out += "\n";
      else out += (out && !out.endsWith("\n") ? " " : "") + word;
    }
    return out;
  }

  function lineStart() {
    const key = model.kind === "chars" ? "\n" : EOS;
    return index.has(key) ? index.get(key) : 0;
  }

  const MAX_SAMPLE = 20000;  // tokens of one sample: a few seconds in a browser; more would freeze the tab

  function sample(prime = "", n = 200, temperature = 1, seed = 0) {
    if (!(Number.isInteger(n) && n >= 1 && n <= MAX_SAMPLE)) {
      throw new Error(`length must be a whole number from 1 to ${MAX_SAMPLE.toLocaleString("en")} tokens; got ${n}`);
    }
    if (!(temperature > 0)) throw new Error(`temperature must be above 0; got ${temperature}`);
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295)) {
      throw new Error(`seed must be a whole number from 0 to 4294967295; got ${seed}`);
    }
    const { ids, unknown } = encode(tokenize(prime, false));
    if (unknown.length) throw new Error(`the prime holds tokens the model never saw: ${unknown.slice(0, 20).map((u) => JSON.stringify(u)).join(", ")}`);
    const rand = random(seed), state = zeroState(), p = new Float64Array(V);
    let logits = null;
    for (const id of ids.length ? ids : [lineStart()]) logits = advance(state, id);
    const out = [];
    for (let k = 0; k < n; k++) {
      softmaxInto(logits, p, temperature);
      let r = rand(), next = V - 1;
      for (let v = 0; v < V; v++) { r -= p[v]; if (r < 0) { next = v; break; } }
      out.push(next);
      logits = advance(state, next);
    }
    const text = decode(out);
    return model.kind === "words" && ids.length && !text.startsWith("\n") ? " " + text : text;
  }

  window.lstm = {
    info: { kind: model.kind, layers: L, units: units.slice(), vocabSize: V, tied: model.tied, cell: model.cell,
            variant, title: model.title, fusedMultiplyAdd: kernelBytes === relaxed },
    tokenize, run, sample,
  };

  // ---- the page --------------------------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const QUANTITIES = { tanhc: "tanh(C_t)", h: "h_t", i: "input gate i_t", f: "forget gate f_t", o: "output gate o_t" };
  const view = { layer: L - 1, unit: 0, quantity: "tanhc", result: null, spans: [] };

  function values(result, layer, unit, quantity) {  // the selected unit's value at every position, in [-1, 1] scale
    const u = units[layer], s = result.layers[layer], T = result.length, out = new Float32Array(T);
    for (let t = 0; t < T; t++) {
      const k = t * u + unit;
      out[t] = quantity === "tanhc" ? Math.tanh(s.c[k]) : quantity === "h" ? s.h[k] : s[quantity][k];
    }
    return out;
  }

  function colour(v, gate) {  // Karpathy's scale: blue below, red above; gates (0..1) around 0.5
    const x = gate ? 2 * v - 1 : v;
    return x >= 0 ? `rgba(232, 72, 48, ${x.toFixed(3)})` : `rgba(48, 112, 232, ${(-x).toFixed(3)})`;
  }

  function shown(token) {
    if (model.kind === "chars") return token === "\n" ? "↵\n" : token;
    return token === EOS ? "↵\n" : token + " ";
  }

  function render() {
    const box = $("text"), result = view.result;
    box.textContent = "";
    view.spans = [];
    if (!result) return;
    const knownAt = new Map(result.known.map((k, p) => [k, p]));
    const frag = document.createDocumentFragment();
    result.tokens.forEach((token, k) => {
      const span = document.createElement("span");
      span.textContent = shown(token);
      if (knownAt.has(k)) { span.dataset.p = knownAt.get(k); view.spans.push(span); }
      else { span.className = "unknown"; span.title = "the model never saw this; skipped"; }
      frag.appendChild(span);
    });
    box.appendChild(frag);
    recolour();
  }

  function recolour() {
    if (!view.result) return;
    const v = values(view.result, view.layer, view.unit, view.quantity), gate = "ifo".includes(view.quantity);
    view.spans.forEach((span, p) => { span.style.backgroundColor = colour(v[p], gate); });
    $("selected").textContent = `layer ${view.layer + 1}, unit ${view.unit}: ${QUANTITIES[view.quantity]}`;
    $("layer").value = view.layer; $("unit").value = view.unit; $("quantity").value = view.quantity;
  }

  function select(layer, unit) {
    view.layer = layer; view.unit = unit;
    recolour();
  }

  // ---- signals the units may track, and the units that track them best --------------------------------------------
  function signals(result) {
    const tokens = result.known.map((k) => result.tokens[k]), T = tokens.length, out = {};
    const line = new Float32Array(T), toEnd = new Float32Array(T), quote = new Float32Array(T);
    const bracket = new Float32Array(T), word = new Float32Array(T), speaker = new Float32Array(T);
    const upper = new Float32Array(T);
    const newline = model.kind === "chars" ? "\n" : EOS;
    let column = 0, inQuote = 0, depth = 0;
    for (let t = 0; t < T; t++) {
      const x = tokens[t];
      line[t] = column; column = x === newline ? 0 : column + 1;
      if (x === '"' || x === "``" || x === "''") inQuote = x === "''" ? 0 : x === "``" ? 1 : 1 - inQuote;
      quote[t] = inQuote;
      if ("([{".includes(x) && x.length === 1 || x === "-lrb-") depth++;
      bracket[t] = depth > 0 ? 1 : 0;
      if (")]}".includes(x) && x.length === 1 || x === "-rrb-") depth = Math.max(0, depth - 1);
      word[t] = /\p{L}/u.test(x) ? 1 : 0;
      upper[t] = x !== x.toLowerCase() ? 1 : 0;
    }
    for (let t = T - 1, left = 0; t >= 0; t--) { left = tokens[t] === newline ? 0 : left + 1; toEnd[t] = left; }
    for (let start = 0; start < T;) {  // a line such as "ROMEO:" names the speaker
      let end = start;
      while (end < T && tokens[end] !== newline) end++;
      const text = tokens.slice(start, end).join(model.kind === "chars" ? "" : " ");
      const isName = /^[A-Z][A-Za-z' ]*:$/.test(text.trim());
      for (let t = start; t <= Math.min(end, T - 1); t++) speaker[t] = isName ? 1 : 0;
      start = end + 1;
    }
    out["position in the line"] = line;
    out["tokens to the line's end"] = toEnd;
    out["inside quotes"] = quote;
    out["inside brackets"] = bracket;
    if (model.kind === "chars") {
      out["inside a word"] = word;
      out["upper case"] = upper;
      out["a speaker's name"] = speaker;
    }
    return out;
  }

  function correlation(a, b) {
    const n = a.length;
    let ma = 0, mb = 0;
    for (let t = 0; t < n; t++) { ma += a[t]; mb += b[t]; }
    ma /= n; mb /= n;
    let sab = 0, saa = 0, sbb = 0;
    for (let t = 0; t < n; t++) { const x = a[t] - ma, y = b[t] - mb; sab += x * y; saa += x * x; sbb += y * y; }
    return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
  }

  function rankUnits(result, quantity, top = 4) {
    const ranked = [], all = units.map((u, l) => Array.from({ length: u }, (_, j) => values(result, l, j, quantity)));
    for (const [name, signal] of Object.entries(signals(result))) {
      if (correlation(signal, signal) === 0) continue;  // constant in this text: nothing to track
      const scores = [];
      units.forEach((u, l) => {
        for (let j = 0; j < u; j++) scores.push({ layer: l, unit: j, r: correlation(all[l][j], signal) });
      });
      scores.sort((a, b) => Math.abs(b.r) - Math.abs(a.r));
      ranked.push({ signal: name, units: scores.slice(0, top) });
    }
    return ranked;
  }

  function unitButton(entry, label) {
    const button = document.createElement("button");
    button.className = "unit";
    button.dataset.layer = entry.layer; button.dataset.unit = entry.unit;
    button.textContent = label;
    button.addEventListener("click", () => select(entry.layer, entry.unit));
    return button;
  }

  function showRanking() {
    const box = $("ranking");
    box.textContent = "";
    if (!view.result || view.result.length < 3) return;
    for (const { signal, units: best } of rankUnits(view.result, view.quantity)) {
      const row = document.createElement("div");
      row.className = "signal";
      const name = document.createElement("span");
      name.textContent = signal;
      row.appendChild(name);
      best.forEach((e) => row.appendChild(unitButton(e, `L${e.layer + 1}·${e.unit} r=${e.r.toFixed(2)}`)));
      box.appendChild(row);
    }
  }

  // LSTMVis' select: the units whose value is highest on the selected span compared with the rest of the text.
  function showSpanUnits(first, last) {
    const box = $("span-units"), result = view.result;
    box.textContent = "";
    const T = result.length, scores = [];
    units.forEach((u, l) => {
      for (let j = 0; j < u; j++) {
        const v = values(result, l, j, view.quantity);
        let inside = 0, outside = 0;
        for (let t = 0; t < T; t++) (t >= first && t <= last ? (inside += v[t]) : (outside += v[t]));
        const rest = T - (last - first + 1);
        scores.push({ layer: l, unit: j, d: inside / (last - first + 1) - (rest ? outside / rest : 0) });
      }
    });
    scores.sort((a, b) => b.d - a.d);
    const label = document.createElement("span");
    label.textContent = `positions ${first}–${last}, most active there: `;
    box.appendChild(label);
    scores.slice(0, 8).forEach((e) => box.appendChild(unitButton(e, `L${e.layer + 1}·${e.unit} +${e.d.toFixed(2)}`)));
  }

  // ---- gate saturation: per unit, the fraction of steps its gate is below 0.1 against above 0.9 --------------------
  function drawSaturation() {
    const box = $("saturation");
    box.textContent = "";
    const result = view.result;
    if (!result || !result.length) return;
    const colours = { i: "#2b7bba", f: "#d7301f", o: "#31a354" };
    result.layers.forEach((s, l) => {
      const size = 220, pad = 28, canvas = document.createElement("canvas");
      canvas.width = size + pad; canvas.height = size + pad;
      const g = canvas.getContext("2d"), u = units[l], T = result.length;
      g.strokeStyle = "#999"; g.strokeRect(pad, 0, size, size);
      g.beginPath(); g.moveTo(pad, size); g.lineTo(pad + size, 0); g.stroke();
      g.fillStyle = "#333"; g.font = "11px sans-serif";
      g.fillText("fraction < 0.1 (left-saturated) →", pad, size + 14);
      g.save(); g.translate(10, size); g.rotate(-Math.PI / 2); g.fillText("fraction > 0.9 →", 0, 0); g.restore();
      for (const gate of "ifo") {
        g.fillStyle = colours[gate];
        for (let j = 0; j < u; j++) {
          let low = 0, high = 0;
          for (let t = 0; t < T; t++) { const x = s[gate][t * u + j]; if (x < 0.1) low++; else if (x > 0.9) high++; }
          g.globalAlpha = 0.6;
          g.fillRect(pad + (low / T) * size - 1.5, size - (high / T) * size - 1.5, 3, 3);
        }
      }
      g.globalAlpha = 1;
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.innerHTML = `layer ${l + 1}: <b style="color:${colours.i}">input</b>, ` +
        `<b style="color:${colours.f}">forget</b>, <b style="color:${colours.o}">output</b> gates`;
      figure.appendChild(canvas); figure.appendChild(caption);
      box.appendChild(figure);
    });
  }

  // ---- hover: the next-token guesses and the unit's gates at a position ---------------------------------------------
  function showTip(span, event) {
    const p = +span.dataset.p, result = view.result, tip = $("tip");
    const probs = result.probs.subarray(p * V, (p + 1) * V);
    const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, 5);
    const s = result.at(p, view.layer), j = view.unit;
    const rows = order.map((k) => {
      const name = model.tokens[k] === "\n" ? "↵" : model.tokens[k] === " " ? "␣" : model.tokens[k];
      return `<tr><td class="guess">${escape(name)}</td><td><div class="bar" style="width:${(probs[k] * 100).toFixed(0)}px">` +
        `</div></td><td>${(probs[k] * 100).toFixed(1)}%</td></tr>`;
    });
    tip.innerHTML = `<div>next token after position ${p}:</div><table>${rows.join("")}</table>` +
      `<div>L${view.layer + 1}·${j}: i ${s.i[j].toFixed(2)} f ${s.f[j].toFixed(2)} o ${s.o[j].toFixed(2)} ` +
      `C ${s.c[j].toFixed(2)} h ${s.h[j].toFixed(2)}</div>`;
    tip.style.display = "block";
    tip.style.left = `${event.pageX + 12}px`;
    tip.style.top = `${event.pageY + 14}px`;
  }

  function escape(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  function update() {
    const text = $("input").value, message = $("message");
    if (!text.trim()) {
      view.result = null;
      render(); showRanking(); drawSaturation();
      message.textContent = "The box is empty: type or paste some text to see the model read it.";
      return;
    }
    const start = performance.now();
    view.result = run(text);
    const ms = performance.now() - start;
    render(); showRanking(); drawSaturation();
    timings.update = { run: ms, total: performance.now() - start };
    const unknown = view.result.unknown;
    message.textContent = `${view.result.length.toLocaleString()} ${model.kind === "chars" ? "characters" : "words"} read in ${ms.toFixed(0)} ms.` +
      (unknown.length ? ` Skipped, the model never saw them: ${unknown.slice(0, 20).map((u) => JSON.stringify(u)).join(" ")}` +
        (unknown.length > 20 ? " …" : "") + "." : "");
    message.className = unknown.length ? "warn" : "";
  }

  const timings = { loaded: performance.now() };  // ms since the page began to load; see benchmarks/explorer_speed.py
  window.lstm.timings = timings;

  function setUp() {
    $("title").textContent = model.title;
    const layerSelect = $("layer");
    units.forEach((u, l) => { const o = document.createElement("option"); o.value = l; o.textContent = `layer ${l + 1} (${u} units)`; layerSelect.appendChild(o); });
    for (const [key, name] of Object.entries(QUANTITIES)) { const o = document.createElement("option"); o.value = key; o.textContent = name; $("quantity").appendChild(o); }
    layerSelect.addEventListener("change", () => { view.layer = +layerSelect.value; view.unit = Math.min(view.unit, units[view.layer] - 1); $("unit").max = units[view.layer] - 1; recolour(); });
    $("unit").max = units[view.layer] - 1;
    $("unit").addEventListener("input", () => { const j = +$("unit").value; if (j >= 0 && j < units[view.layer]) { view.unit = j; recolour(); } });
    $("quantity").addEventListener("change", () => { view.quantity = $("quantity").value; recolour(); showRanking(); });
    let timer = null;
    $("input").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 150); });
    $("text").addEventListener("mouseover", (e) => { if (e.target.dataset && e.target.dataset.p !== undefined) showTip(e.target, e); });
    $("text").addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
    $("text").addEventListener("mouseup", () => {
      const sel = window.getSelection();
      if (!sel || sel.isCollapsed) return;
      const inSpan = (node) => (node.nodeType === 3 ? node.parentElement : node);
      const a = inSpan(sel.anchorNode), b = inSpan(sel.focusNode);
      if (!a || !b || a.dataset.p === undefined || b.dataset.p === undefined) return;
      const [first, last] = [+a.dataset.p, +b.dataset.p].sort((x, y) => x - y);
      showSpanUnits(first, last);
    });
    $("sample-button").addEventListener("click", () => {
      const out = $("sample-output");
      try {
        const prime = $("prime").value;
        const number = (id) => ($(id).value.trim() === "" ? NaN : +$(id).value);  // an empty box is no number
        out.textContent = prime + sample(prime, number("length"), number("temperature"), number("seed"));
        out.className = "";
      } catch (error) {
        out.textContent = error.message; out.className = "warn";
      }
    });
    $("input").value = model.passage;
    update();
    const ranked = view.result ? rankUnits(view.result, view.quantity, 1) : [];
    if (ranked.length) select(ranked[0].units[0].layer, ranked[0].units[0].unit);  // a unit that tracks something
    timings.ready = performance.now();
    document.body.dataset.ready = "1";
  }

  setUp();
})();
