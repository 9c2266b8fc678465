// The LSTM (or GRU) language model of one run, in the browser: its forward pass, sampling, and the page around them.
// The model and the WebAssembly kernel are embedded in the page (explore.py); nothing is fetched.
//
// window.lstm (documented in docs/explorer.md):
//   lstm.info                          {kind, layers, units, vocabSize, tied, cell, title}
//   lstm.tokenize(text)                the tokens of text, as training cut them (characters, or words + <eos>)
//   lstm.run(text)                     state carried from a zero state over the known tokens of text:
//                                      {tokens, ids, unknown, length, layers: [{h, c, i, f, g, o}], probs, at(t, l)}
//                                      (g: the candidate C̃_t; a GRU's layers: {h, z, r, g}, g the candidate h̃_t)
//                                      layers[l].h is a Float32Array of length·units[l] (row t = position t);
//                                      probs a Float32Array of length·vocabSize: P(token t+1 | tokens ≤ t)
//   lstm.sample(prime, n, temperature, seed)   n tokens (1 to 20,000) after prime (from a zero state), as text
//   lstm.page                          the page: state(), cell() (the diagram's numbers), tours(), takeStop(k),
//                                      select(layer, unit, quantity), setPosition(p), dots(layer), heatRows()
"use strict";

// The model: its forward pass and sampling, built from the payload (explorer/export.py) and the kernel's bytes.
// It touches no page, so the Web Worker builds the same function from its source (see `startWorker`).
function makeModel(model, kernels) {
  // The kernel with fused multiply-adds where the browser has relaxed SIMD, else with separate ones.
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
  // A GRU (models/gru.py, Keras' reset_after form) has blocks z, r, h̃ and two biases: the input's, folded into the
  // input product as an LSTM's is, and the recurrent one, added to h_{t−1}·U, which its reset gate scales.
  const gru = model.family === "GRU";
  const KEYS = gru ? ["h", "z", "r", "g"] : ["h", "c", "i", "f", "g", "o"];  // what run() keeps per layer (g: the candidate)
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
  const vecR = region(Math.max(...units.map(zw)));  // a GRU's recurrent product h_{t−1}·U + b′
  const memory = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) + 1 });
  let heap = new Float32Array(memory.buffer);  // a new view whenever the memory grows
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(kernelBytes), { env: { memory } }).exports;
  const axpyRows = kernel.axpy_rows;

  const biases = [], recurrentBiases = [], tables = [];
  function setRows(data, at, width, stride) {  // rows of `width` floats into heap rows of `stride` (zeros after)
    if (width === stride) { heap.set(data, at); return; }
    for (let r = 0; r < data.length / width; r++) heap.set(data.subarray(r * width, (r + 1) * width), at + r * stride);
  }
  units.forEach((u, l) => {
    const k = array(`lstm_${l}/kernel`), r = array(`lstm_${l}/recurrent`), b = array(`lstm_${l}/bias`);
    const inputBias = gru ? b.data.subarray(0, G * u) : b.data;  // a GRU's bias is (2, 3u): input, recurrent
    const bias = new Float32Array(zw(u));  // padded with zeros to a row of z
    bias.set(inputBias);
    biases.push(bias);
    if (gru) { const rb = new Float32Array(zw(u)); rb.set(b.data.subarray(G * u, 2 * G * u)); recurrentBiases.push(rb); }
    if (l === 0 && useTable) {
      // z's input part for every token: embedding · W_x + b, or (one-hot) W_x's row + b
      const table = new Float32Array(V * G * u), e = embedding, n = k.shape[0];
      for (let t = 0; t < V; t++) {
        const row = table.subarray(t * G * u, (t + 1) * G * u);
        row.set(inputBias);
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
    return units.map((u) => ({ h: new Float32Array(u), c: new Float32Array(u) }));  // a GRU leaves c at 0
  }

  // The gates of layer l at one position from its pre-activations z = heap[zAt .. zAt + G·u) (the vanilla LSTM's
  // overwritten by i, f, C̃, o); h and c (Float32Arrays of u) are updated in place; with `out` (run's layers) the
  // gates and the state are also written at row t.
  function gatesAt(zAt, h, c, l, out, t) {
    const u = units[l];
    if (gru) return gruGates(zAt, h, l, out, t);
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
        out.g.set(heap.subarray(zAt + 2 * u, zAt + 3 * u), k);
      }
      return;
    }
    const z = heap.subarray(zAt, zAt + 4 * u);
    for (let j = 0; j < u; j++) {
      const i = sigmoid(z[j]), f = sigmoid(z[u + j]), g = tanh(z[2 * u + j]), o = sigmoid(z[3 * u + j]);
      c[j] = f * c[j] + i * g;
      h[j] = o * tanh(c[j]);
      if (out) { const k = t * u + j; out.i[k] = i; out.f[k] = f; out.g[k] = g; out.o[k] = o; out.c[k] = c[j]; out.h[k] = h[j]; }
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
      if (out) { const k = t * u + j; out.i[k] = i; out.f[k] = f; out.g[k] = g; out.o[k] = o; out.c[k] = c[j]; out.h[k] = h[j]; }
    }
  }

  // One GRU step of layer l: a = heap[zAt ..] the input product x_t·W + b, h_{t−1} = h (updated in place); the
  // recurrent product m = h_{t−1}·U + b′ is made here, at vecR.
  function gruGates(zAt, h, l, out, t) {
    const u = units[l], a = heap.subarray(zAt, zAt + G * u), m = heap.subarray(vecR, vecR + G * u);
    m.set(recurrentBiases[l].subarray(0, G * u));
    heap.set(h, vecH);
    axpyRows(4 * (mats[l] + inputSizes[l] * zw(u)), 4 * vecH, 4 * vecR, u, zw(u));
    for (let j = 0; j < u; j++) {
      const z = sigmoid(a[j] + m[j]), r = sigmoid(a[u + j] + m[u + j]), g = tanh(a[2 * u + j] + r * m[2 * u + j]);
      h[j] = z * h[j] + (1 - z) * g;
      if (out) { const k = t * u + j; out.z[k] = z; out.r[k] = r; out.g[k] = g; out.h[k] = h[j]; }
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
      axpyRows(4 * mats[l], 4 * vecIn, 4 * vecZ, gru ? n : n + u, zw(u));
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
    const layers = units.map((u) => Object.fromEntries(KEYS.map((key) => [key, new Float32Array(T * u)])));
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
      if (!gru && variant === "vanilla" && u % 4 === 0) {  // the state stays in the memory: h_t is written straight into row t of X, C_t at vecC
        heap.fill(0, vecC, vecC + u);
        for (let t = 0; t < T; t++) {
          const zAt = bufZ + t * 4 * u, hAt = X + t * u;
          if (t) axpyRows(4 * Wh, 4 * (hAt - u), 4 * zAt, u, 4 * u);
          kernel.gates(4 * zAt, 4 * vecC, 4 * hAt, u);
          out.c.set(heap.subarray(vecC, vecC + u), t * u);
        }
        for (let t = 0; t < T; t++) {  // the gates i, f, C̃, o left in the z rows
          const zAt = bufZ + t * 4 * u;
          out.i.set(heap.subarray(zAt, zAt + u), t * u); out.f.set(heap.subarray(zAt + u, zAt + 2 * u), t * u);
          out.g.set(heap.subarray(zAt + 2 * u, zAt + 3 * u), t * u);
          out.o.set(heap.subarray(zAt + 3 * u, zAt + 4 * u), t * u);
        }
        out.h.set(heap.subarray(X, X + T * u));
      } else {
        for (let t = 0; t < T; t++) {
          const zAt = bufZ + t * zw(u);
          if (!gru) { heap.set(h, vecIn); axpyRows(4 * Wh, 4 * vecIn, 4 * zAt, u, zw(u)); }
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
    return withAt({ tokens, ids, known, unknown, length: T, layers, probs });
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


  return {
    info: { kind: model.kind, layers: L, units: units.slice(), vocabSize: V, tied: model.tied, cell: model.cell,
            family: gru ? "GRU" : "LSTM", task: model.task || null,
            variant, gateBlocks: blocks.slice(), title: model.title, fusedMultiplyAdd: kernelBytes === relaxed },
    tokenize, encode, run, sample, tokens: model.tokens, EOS,
  };
}

// result.at(p, l): {h, c, i, f, g, o} (a GRU: {h, z, r, g}) of layer l at position p (g: the candidate C̃ or h̃).
function withAt(result) {
  result.at = (p, l) => {
    const s = result.layers[l], u = s.h.length / Math.max(result.length, 1);
    return Object.fromEntries(Object.entries(s).map(([key, a]) => [key, a.subarray(p * u, (p + 1) * u)]));
  };
  return result;
}

// ---- the Web Worker: the same model in a second thread, so that a long text never blocks the typing ------------
// Its source is makeModel's and withAt's own text; a page from file:// may start a worker from a Blob URL.
function workerSource() {
  return `"use strict";\n${makeModel}\n${withAt}\n` + `
let model = null;
self.onmessage = (event) => {
  const job = event.data;
  if (job.payload) { model = makeModel(job.payload, job.kernels); return; }
  const start = performance.now();
  try {
    const r = model.run(job.text), ms = performance.now() - start;
    const result = { tokens: r.tokens, ids: r.ids, known: r.known, unknown: r.unknown, length: r.length,
                     layers: r.layers, probs: r.probs };
    const buffers = [r.probs.buffer];
    r.layers.forEach((s) => { for (const a of Object.values(s)) buffers.push(a.buffer); });
    self.postMessage({ id: job.id, result, ms }, buffers);
  } catch (error) {
    self.postMessage({ id: job.id, error: String(error && error.message || error) });
  }
};`;
}

// ---- the page --------------------------------------------------------------------------------------------------
(function () {
  const payload = JSON.parse(document.getElementById("model").textContent);
  const kernels = JSON.parse(document.getElementById("kernel").textContent);
  const weights = payload.weights;  // makeModel drops it from the payload; the worker needs it
  const engine = makeModel(payload, kernels);
  const info = engine.info, units = info.units, L = info.layers, V = info.vocabSize, EOS = engine.EOS;
  const chars = info.kind === "chars", tokenNames = engine.tokens;
  const variant = info.variant, blocks = info.gateBlocks, gru = info.family === "GRU";
  const timings = { loaded: performance.now() };  // ms since the page began to load; see benchmarks/explorer_speed.py

  const $ = (id) => document.getElementById(id);
  const SURPRISAL = "surprise: −log p of the token that came (all units)";
  const QUANTITIES = gru ? {
    h: "h_t: the output, the GRU's only state", z: "update gate z_t", r: "reset gate r_t", g: "candidate h̃_t",
    surprisal: SURPRISAL,
  } : {
    tanhc: "tanh(C_t): the cell state, squashed", h: "h_t: the output", f: "forget gate f_t", i: "input gate i_t",
    g: "candidate C̃_t", o: "output gate o_t", surprisal: SURPRISAL,
  };
  const GATES = gru ? ["z", "r"] : ["i", "f", "o"];
  const GATE_NAMES = { i: "input gate", f: "forget gate", o: "output gate", z: "update gate", r: "reset gate" };
  // The state the ranking, the heat map and the tours compare units on: a GRU has no cell state, only h_t.
  const STATE = gru ? "h" : "tanhc", STATE_NAME = gru ? "h_t" : "tanh(C_t)";
  const view = { layer: L - 1, unit: 0, quantity: STATE, position: 0, result: null, spans: [], span: null,
                 highlight: null, heatSignal: null, tours: [], worker: false, busy: false };

  // ---- what is shown at each position ------------------------------------------------------------------------
  // The quantity that ranks and compares units: surprise belongs to the whole model, so units are then compared on
  // the state.
  const unitQuantity = () => (view.quantity === "surprisal" ? STATE : view.quantity);
  const isGate = (q) => GATES.includes(q);

  // The ranking, the span, the heat map and the tours read at most the first ANALYSED positions: every unit's values
  // over a 200,000-character paste would take gigabytes (the colouring and the diagram read the whole text).
  const ANALYSED = 20000;
  const analysed = (result) => Math.min(result.length, ANALYSED);

  function values(result, layer, unit, quantity, T = result.length) {  // the unit's value at every position
    const u = units[layer], s = result.layers[layer], out = new Float32Array(T);
    for (let t = 0; t < T; t++) {
      const k = t * u + unit;
      out[t] = quantity === "tanhc" ? Math.tanh(s.c[k]) : s[quantity][k];
    }
    return out;
  }

  // −ln p(token t | tokens < t) in nats; the first token has no prediction (NaN).
  function surprisals(result) {
    if (result.surprisal) return result.surprisal;
    const T = result.length, out = new Float32Array(T);
    out[0] = NaN;
    for (let t = 1; t < T; t++) out[t] = -Math.log(Math.max(result.probs[(t - 1) * V + result.ids[t]], 1e-30));
    result.surprisal = out;
    return out;
  }

  const SURPRISE_FULL = 6;  // nats at which the surprise colour is full (p ≈ 0.25%)

  function colour(v, quantity) {  // Karpathy's scale: blue below, red above; gates (0..1) around 0.5
    if (quantity === "surprisal") {
      return Number.isNaN(v) ? "transparent" : `rgba(140, 60, 200, ${Math.min(v / SURPRISE_FULL, 1).toFixed(3)})`;
    }
    const x = isGate(quantity) ? 2 * v - 1 : Math.max(-1, Math.min(1, v));
    return x >= 0 ? `rgba(232, 72, 48, ${x.toFixed(3)})` : `rgba(48, 112, 232, ${(-x).toFixed(3)})`;
  }

  function shown(token) {  // a token as it stands in the coloured text
    if (chars) return token === "\n" ? "↵\n" : token;
    return token === EOS ? "↵\n" : token + " ";
  }

  function named(token) {  // a token in a sentence: quoted, white space named
    if (token === "\n" || token === EOS) return "↵ (line end)";
    if (token === " ") return "␣ (space)";
    if (token === "\t") return "⇥ (tab)";
    return `“${token}”`;
  }

  const fixed = (x, digits = 2) => (x < 0 ? "−" : "") + Math.abs(x).toFixed(digits);
  const percent = (x) => `${x < 0.001 ? (100 * x).toPrecision(2) : (100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
  const unitName = (l, j) => `layer ${l + 1}, unit ${j}`;

  // ---- the coloured text -----------------------------------------------------------------------------------------
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
    const result = view.result;
    $("selected").textContent = view.quantity === "surprisal" ? QUANTITIES.surprisal
      : `${unitName(view.layer, view.unit)}: ${QUANTITIES[view.quantity]}`;
    $("layer").value = view.layer; $("unit").value = view.unit; $("quantity").value = view.quantity;
    $("legend").innerHTML = view.quantity === "surprisal"
      ? `<span class="scale surprise"></span> 0 … ${SURPRISE_FULL}+ nats (p = 1 … 0.25%)`
      : isGate(view.quantity) ? `<span class="scale"></span> 0 (lets nothing through) … 1 (lets everything through)`
        : `<span class="scale"></span> −1 … +1`;
    if (!result) return;
    const v = view.quantity === "surprisal" ? surprisals(result) : values(result, view.layer, view.unit, view.quantity);
    view.spans.forEach((span, p) => { span.style.backgroundColor = colour(v[p], view.quantity); });
    markPosition();
  }

  function markPosition() {
    document.querySelectorAll("#text span.current").forEach((s) => s.classList.remove("current"));
    const span = view.spans[view.position];
    if (span) span.classList.add("current");
    drawCell();
    drawHeat();
  }

  function select(layer, unit, quantity) {
    view.layer = layer; view.unit = unit;
    if (quantity) view.quantity = quantity;
    $("unit").max = units[layer] - 1;
    $("unit").classList.remove("warn"); $("unit-note").textContent = "";
    recolour();
    if (quantity) { showRanking(); showSpanUnits(); }
  }

  function setPosition(p, scroll = true) {
    if (!view.result || !view.result.length) return;
    view.position = Math.max(0, Math.min(view.result.length - 1, p));
    markPosition();
    const span = view.spans[view.position];
    if (scroll && span) {  // keep the selected position in view inside the text box, not the whole page
      const box = $("text"), top = span.offsetTop - box.offsetTop;
      if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - 20) box.scrollTop = top - box.clientHeight / 2;
    }
  }

  // ---- one step of the cell, drawn as the introductions draw it (colah's "Understanding LSTM Networks") -----------
  const SVG = "http://www.w3.org/2000/svg";
  function el(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The numbers of the selected unit at the selected position: what the diagram and the equations show.
  function cellValues() {
    const r = view.result, p = view.position, l = view.layer, j = view.unit;
    if (!r || !r.length) return null;
    const now = r.at(p, l), before = p > 0 ? r.at(p - 1, l) : null;
    if (gru) {
      const z = now.z[j], hPrev = before ? before.h[j] : 0;
      return { position: p, layer: l, unit: j, token: r.tokens[r.known[p]], z, r: now.r[j], g: now.g[j], h: now.h[j],
               hPrev, kept: z * hPrev, added: (1 - z) * now.g[j] };
    }
    const c = now.c[j];
    return { position: p, layer: l, unit: j, token: r.tokens[r.known[p]],
             f: now.f[j], i: now.i[j], g: now.g[j], o: now.o[j], c, h: now.h[j],
             cPrev: before ? before.c[j] : 0, hPrev: before ? before.h[j] : 0,
             squashed: variant === "no-output-activation" ? c : Math.tanh(c) };
  }

  function drawCell() {
    const figure = $("cell-figure"), equations = $("equations"), v = cellValues();
    figure.textContent = ""; equations.textContent = "";
    if (!v) { $("cell-title").textContent = "Type some text above: the step of the selected position is drawn here."; return; }
    const r = view.result, p = v.position;
    const before = p > 0 ? named(r.tokens[r.known[p - 1]]) : "the start (a zero state)";
    $("cell-title").textContent = `Step ${p}: ${unitName(v.layer, v.unit)} reads ${named(v.token)} after ${before}`;
    $("position").textContent = `position ${p} of ${r.length}`;
    const has = (gate) => blocks.includes(gate);
    const svg = el("svg", { viewBox: "0 0 540 300", role: "img", id: "cell-svg",
                            "aria-label": `the ${gru ? "GRU" : "LSTM"} cell at the selected position` });
    const defs = el("defs", {});
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6,
                                  orient: "auto-start-reverse" });
    marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#444" }));
    defs.appendChild(marker); svg.appendChild(defs);
    const line = (points, extra = {}) => svg.appendChild(el("polyline", { points, fill: "none", stroke: "#444",
      "stroke-width": 1.6, "marker-end": "url(#arrow)", ...extra }));
    const op = (x, y, sign) => {  // a pointwise operation: × or +
      svg.appendChild(el("circle", { cx: x, cy: y, r: 11, fill: "#fde4ea", stroke: "#c45", "stroke-width": 1.4 }));
      svg.appendChild(el("text", { x, y: y + 5, "text-anchor": "middle", class: "op" }, sign));
    };
    // one of the four layers: a box coloured by its value; greyed with a note where the variant fixes it
    const layerBox = (x, label, value, quantity, missing, note) => {
      svg.appendChild(el("rect", { x: x - 22, y: 150, width: 44, height: 28, rx: 4,
        fill: missing ? "#eee" : colour(value, quantity), stroke: missing ? "#aaa" : "#b8860b",
        "stroke-dasharray": missing ? "4 3" : "none", "stroke-width": 1.5, "data-box": quantity }));
      svg.appendChild(el("text", { x, y: 169, "text-anchor": "middle", class: missing ? "box missing" : "box" }, label));
      if (note) svg.appendChild(el("text", { x, y: 192, "text-anchor": "middle", class: "note" }, note));
    };
    // a value: its name and number, and a bar (gates fill from the left, 0 … 1; other values from the middle)
    const tag = (x, y, name, value, quantity, anchor = "start", missing = false) => {
      const group = el("g", { "data-quantity": quantity, "data-value": String(value), class: missing ? "missing" : "" });
      group.appendChild(el("text", { x, y, "text-anchor": anchor, class: "value" }, `${name} ${fixed(value)}`));
      const w = 44, left = anchor === "end" ? x - w : anchor === "middle" ? x - w / 2 : x;
      group.appendChild(el("rect", { x: left, y: y + 3, width: w, height: 5, fill: "#e6e6e6" }));
      const gate = isGate(quantity), amount = gate ? Math.max(0, Math.min(1, value)) : Math.max(-1, Math.min(1, value));
      const from = gate ? left : left + w / 2 + Math.min(0, amount) * w / 2;
      group.appendChild(el("rect", { x: from, y: y + 3, width: Math.abs(amount) * (gate ? w : w / 2), height: 5,
        fill: gate ? "#2e8b57" : amount >= 0 ? "#e84830" : "#3070e8" }));
      svg.appendChild(group);
    };
    svg.appendChild(el("rect", { x: 40, y: 25, width: 420, height: 230, rx: 14, fill: "#eef3f8", stroke: "#9ab" }));
    if (gru) {
      drawGRU(svg, v, line, op, layerBox, tag);
      figure.appendChild(svg);
      equations.appendChild(gruEquations(v));
      return;
    }
    // the conveyor belt C along the top, and h along the bottom
    line("0,60 129,60"); line("151,60 269,60"); line("291,60 538,60", { "stroke-width": 2.6 });
    svg.appendChild(el("text", { x: 300, y: 20, class: "note" }, "the cell state C: the conveyor belt"));
    line("0,232 372,232", { "marker-end": "none" });
    line("80,300 80,232", { "marker-end": "none" });
    for (const x of [140, 210, 280, 372]) line(`${x},232 ${x},180`);
    // forget: f × C_{t−1}; input: i × C̃ added; output: o × tanh(C_t)
    line("140,150 140,72"); op(140, 60, "×");
    line("210,150 210,110 268,110"); line("280,150 280,122"); op(280, 110, "×"); line("280,99 280,72"); op(280, 60, "+");
    line("440,60 440,92"); svg.appendChild(el("ellipse", { cx: 440, cy: 105, rx: 24, ry: 12,
      fill: variant === "no-output-activation" ? "#eee" : "#fde4ea", stroke: variant === "no-output-activation" ? "#aaa" : "#c45",
      "stroke-dasharray": variant === "no-output-activation" ? "4 3" : "none" }));
    svg.appendChild(el("text", { x: 440, y: 109, "text-anchor": "middle", class: "small" },
      variant === "no-output-activation" ? "none" : "tanh"));
    line("440,117 440,152"); line("394,164 428,164"); op(440, 164, "×");
    line("440,175 440,232 538,232", { "stroke-width": 2.6 });
    if (variant === "peephole") {  // the gates also look at the cell state
      for (const x of [150, 220]) line(`${x},62 ${x},148`, { "stroke-dasharray": "3 3", stroke: "#888" });
      line("452,62 452,90 400,90 384,148", { "stroke-dasharray": "3 3", stroke: "#888" });
      svg.appendChild(el("text", { x: 154, y: 142, class: "note" }, "peepholes"));
    }
    layerBox(140, has("f") ? "σ" : "1", v.f, "f", !has("f"), has("f") ? "" : "no forget gate");
    layerBox(210, has("i") ? "σ" : variant === "coupled" ? "1−f" : "1", v.i, "i", !has("i"),
             has("i") ? "" : variant === "coupled" ? "coupled" : "no input gate");
    layerBox(280, variant === "no-input-activation" ? "z" : "tanh", v.g, "g", false,
             variant === "no-input-activation" ? "no tanh" : "");
    layerBox(372, has("o") ? "σ" : "1", v.o, "o", !has("o"), has("o") ? "" : "no output gate");
    tag(4, 48, "Cₜ₋₁", v.cPrev, "cPrev");
    tag(536, 48, "Cₜ", v.c, "c", "end");
    tag(148, 122, "fₜ", v.f, "f", "start", !has("f"));
    tag(150, 84, "fₜ·Cₜ₋₁", v.f * v.cPrev, "kept");
    tag(216, 140, "iₜ", v.i, "i", "start", !has("i"));
    tag(288, 140, "C̃ₜ", v.g, "g");
    tag(292, 92, "iₜ·C̃ₜ", v.i * v.g, "added");
    tag(378, 204, "oₜ", v.o, "o", "start", !has("o"));
    tag(470, 103, variant === "no-output-activation" ? "Cₜ" : "tanh", v.squashed, "tanhc");
    tag(536, 250, "hₜ", v.h, "h", "end");
    tag(4, 250, "hₜ₋₁", v.hPrev, "hPrev");
    svg.appendChild(el("text", { x: 88, y: 290, class: "value" },
      `xₜ = ${v.layer === 0 ? named(v.token) : `hₜ of layer ${v.layer} (${units[v.layer - 1]} numbers)`}`));
    figure.appendChild(svg);
    equations.appendChild(equationList(v));
  }

  // The GRU's step (colah's GRU figure, in Keras' reset_after form): h_{t−1} runs along the top, kept at z_t; the
  // candidate h̃_t, whose recurrent product the reset gate scales, comes in at 1 − z_t. There is no cell state.
  function drawGRU(svg, v, line, op, layerBox, tag) {
    line("0,60 218,60"); line("242,60 360,60"); line("384,60 538,60", { "stroke-width": 2.6 });
    svg.appendChild(el("text", { x: 250, y: 20, class: "note" }, "no cell state: h is all a GRU carries"));
    line("60,60 60,232", { "marker-end": "none" }); line("60,232 372,232", { "marker-end": "none" });
    line("90,300 90,232", { "marker-end": "none" });
    for (const x of [130, 230, 372]) line(`${x},232 ${x},180`);
    line("300,232 300,176");  // h_{t−1}·U_h + b′_h, scaled by r_t
    line("130,150 130,130 300,130 300,152"); op(300, 164, "×"); line("311,164 348,164");
    line("230,150 230,72"); op(230, 60, "×");
    line("230,110 283,110"); svg.appendChild(el("ellipse", { cx: 300, cy: 110, rx: 16, ry: 10, fill: "#fde4ea", stroke: "#c45" }));
    svg.appendChild(el("text", { x: 300, y: 114, "text-anchor": "middle", class: "small" }, "1−"));
    line("316,110 359,110"); line("372,150 372,122"); op(372, 110, "×"); line("372,99 372,72"); op(372, 60, "+");
    layerBox(130, "σ", v.r, "r", false, "");
    layerBox(230, "σ", v.z, "z", false, "");
    layerBox(372, "tanh", v.g, "g", false, "");
    tag(4, 48, "hₜ₋₁", v.hPrev, "hPrev");
    tag(536, 48, "hₜ", v.h, "h", "end");
    tag(136, 205, "rₜ", v.r, "r");
    tag(236, 205, "zₜ", v.z, "z");
    tag(378, 205, "h̃ₜ", v.g, "g");
    tag(240, 86, "zₜ·hₜ₋₁", v.kept, "kept");
    tag(382, 90, "(1−zₜ)·h̃ₜ", v.added, "added");
    svg.appendChild(el("text", { x: 98, y: 290, class: "value" },
      `xₜ = ${v.layer === 0 ? named(v.token) : `hₜ of layer ${v.layer} (${units[v.layer - 1]} numbers)`}`));
  }

  function gruEquations(v) {
    const list = document.createElement("div");
    const row = (key, html) => { const d = document.createElement("div"); d.dataset.eq = key; d.innerHTML = html; list.appendChild(d); };
    const n = (x) => (x < 0 ? `(<b>${fixed(x, 3)}</b>)` : `<b>${fixed(x, 3)}</b>`);
    const a = (g) => `W<sub>${g}</sub>·x<sub>t</sub> + b<sub>${g}</sub>`, m = (g) => `U<sub>${g}</sub>·h<sub>t−1</sub> + b′<sub>${g}</sub>`;
    row("z", `z<sub>t</sub> = σ(${a("z")} + ${m("z")}) = ${n(v.z)}`);
    row("r", `r<sub>t</sub> = σ(${a("r")} + ${m("r")}) = ${n(v.r)}`);
    row("g", `h̃<sub>t</sub> = tanh(${a("h")} + r<sub>t</sub>·(${m("h")})) = ${n(v.g)}`);
    row("h", `h<sub>t</sub> = z<sub>t</sub>·h<sub>t−1</sub> + (1 − z<sub>t</sub>)·h̃<sub>t</sub> = ${n(v.z)}·${n(v.hPrev)} + ` +
      `${n(1 - v.z)}·${n(v.g)} = ${n(v.h)}`);
    const words = document.createElement("p");
    words.className = "words";
    words.textContent = `A GRU has no cell state: h_t is all it carries from step to step. The update gate keeps ` +
      `${percent(v.z)} of the old h (${fixed(v.hPrev)} → ${fixed(v.kept)}) and takes ${percent(1 - v.z)} of the candidate ` +
      `${fixed(v.g)} (${fixed(v.added)}); so h_t = ${fixed(v.h)}. The reset gate let ${percent(v.r)} of the old h's ` +
      `product into the candidate.`;
    list.appendChild(words);
    return list;
  }

  function equationList(v) {
    const list = document.createElement("div");
    const row = (key, html) => { const d = document.createElement("div"); d.dataset.eq = key; d.innerHTML = html; list.appendChild(d); };
    const n = (x) => (x < 0 ? `(<b>${fixed(x, 3)}</b>)` : `<b>${fixed(x, 3)}</b>`), z = (g) => `W<sub>${g}</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>${g}</sub>`;
    const peep = (g, c) => (variant === "peephole" ? ` + p<sub>${g}</sub>·${c}` : "");
    const gate = (key, name, value) => {
      if (blocks.includes(key)) return `${name} = σ(${z(key)}${peep(key, key === "o" ? "C<sub>t</sub>" : "C<sub>t−1</sub>")}) = ${n(value)}`;
      if (key === "i" && variant === "coupled") return `${name} = 1 − f<sub>t</sub> = ${n(value)} <span class="missing">(coupled: no input gate of its own)</span>`;
      return `${name} = 1 <span class="missing">(this variant has no ${GATE_NAMES[key]})</span>`;
    };
    row("f", gate("f", "f<sub>t</sub>", v.f));
    row("i", gate("i", "i<sub>t</sub>", v.i));
    row("g", variant === "no-input-activation" ? `C̃<sub>t</sub> = ${z("C")} = ${n(v.g)}` : `C̃<sub>t</sub> = tanh(${z("C")}) = ${n(v.g)}`);
    row("c", `C<sub>t</sub> = f<sub>t</sub>·C<sub>t−1</sub> + i<sub>t</sub>·C̃<sub>t</sub> = ${n(v.f)}·${n(v.cPrev)} + ${n(v.i)}·${n(v.g)} = ${n(v.c)}`);
    row("o", gate("o", "o<sub>t</sub>", v.o));
    row("h", variant === "no-output-activation" ? `h<sub>t</sub> = o<sub>t</sub>·C<sub>t</sub> = ${n(v.o)}·${n(v.c)} = ${n(v.h)}`
      : `h<sub>t</sub> = o<sub>t</sub>·tanh(C<sub>t</sub>) = ${n(v.o)}·${n(v.squashed)} = ${n(v.h)}`);
    const words = document.createElement("p");
    words.className = "words";
    words.textContent = `The forget gate keeps ${percent(v.f)} of the old cell state (${fixed(v.cPrev)} → ${fixed(v.f * v.cPrev)}); ` +
      `the input gate lets in ${percent(v.i)} of the candidate ${fixed(v.g)} (${fixed(v.i * v.g)}); so C_t = ${fixed(v.c)}. ` +
      `The output gate passes ${percent(v.o)} of ${variant === "no-output-activation" ? "C_t" : `tanh(C_t) = ${fixed(v.squashed)}`}: h_t = ${fixed(v.h)}.`;
    list.appendChild(words);
    return list;
  }

  // ---- signals the units may track, and the units that track them best --------------------------------------------
  function signals(result) {
    if (result.signals) return result.signals;
    const tokens = result.known.slice(0, analysed(result)).map((k) => result.tokens[k]), T = tokens.length, out = {};
    result.signals = out;
    const line = new Float32Array(T), toEnd = new Float32Array(T), quote = new Float32Array(T);
    const bracket = new Float32Array(T), word = new Float32Array(T), speaker = new Float32Array(T);
    const upper = new Float32Array(T), lineEnd = new Float32Array(T);
    const newline = chars ? "\n" : EOS;
    let column = 0, inQuote = 0, depth = 0;
    for (let t = 0; t < T; t++) {
      const x = tokens[t];
      line[t] = column; column = x === newline ? 0 : column + 1;
      lineEnd[t] = x === newline ? 1 : 0;
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
      const text = tokens.slice(start, end).join(chars ? "" : " ");
      const isName = /^[A-Z][A-Za-z' ]*:$/.test(text.trim());
      for (let t = start; t <= Math.min(end, T - 1); t++) speaker[t] = isName ? 1 : 0;
      start = end + 1;
    }
    out["position in the line"] = line;
    out["tokens to the line's end"] = toEnd;
    out["inside quotes"] = quote;
    out["inside brackets"] = bracket;
    if (chars) {
      out["inside a word"] = word;
      out["upper case"] = upper;
      out["a speaker's name"] = speaker;
    } else {
      out["a sentence's end (<eos>)"] = lineEnd;
    }
    if (info.task === "parity") {  // a state-tracking run (experiments/state_tracking.py): its answer at each step
      const odd = new Float32Array(T);
      for (let t = 0, n = 0; t < T; t++) { n += tokens[t] === "1"; odd[t] = n % 2; }
      out[PARITY] = odd;
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

  // Every unit's values of one quantity, cached on the result (the ranking, the tours and the heat map share them).
  function allValues(result, quantity) {
    result.cache = result.cache || {};
    if (!result.cache[quantity]) {
      result.cache[quantity] = units.map((u, l) => Array.from({ length: u }, (_, j) => values(result, l, j, quantity, analysed(result))));
    }
    return result.cache[quantity];
  }

  function unitsBy(result, signal, quantity) {  // every unit with its r against `signal`, largest |r| first
    const all = allValues(result, quantity), scores = [];
    units.forEach((u, l) => { for (let j = 0; j < u; j++) scores.push({ layer: l, unit: j, r: correlation(all[l][j], signal) }); });
    return scores.sort((a, b) => Math.abs(b.r) - Math.abs(a.r));
  }

  function rankUnits(result, quantity, top = 4) {
    const ranked = [];
    for (const [name, signal] of Object.entries(signals(result))) {
      if (correlation(signal, signal) === 0) continue;  // constant in this text: nothing to track
      ranked.push({ signal: name, units: unitsBy(result, signal, quantity).slice(0, top) });
    }
    return ranked;
  }

  function unitButton(entry, label, quantity) {
    const button = document.createElement("button");
    button.className = "unit";
    button.dataset.layer = entry.layer; button.dataset.unit = entry.unit;
    button.textContent = label;
    button.title = `select ${unitName(entry.layer, entry.unit)}`;
    button.addEventListener("click", () => select(entry.layer, entry.unit, quantity));
    return button;
  }

  const MIN_TOKENS = 3;  // a correlation over fewer positions says nothing

  function showRanking() {
    const box = $("ranking"), result = view.result;
    box.textContent = "";
    if (!result) return;
    if (result.length < MIN_TOKENS) {
      box.textContent = `The ranking needs at least ${MIN_TOKENS} ${chars ? "characters" : "words"} the model knows; ` +
        `this text has ${result.length}. Type some more.`;
      return;
    }
    const ranked = rankUnits(result, unitQuantity());
    if (!ranked.length) { box.textContent = "Every signal is constant in this text (no line ends, no quotes, …): nothing to rank."; return; }
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = `r: how closely the unit's ${QUANTITIES[unitQuantity()].split(":")[0]} follows the signal over this text ` +
      "(Pearson correlation; 1 or −1 in lockstep, 0 unrelated).";
    box.appendChild(note);
    for (const { signal, units: best } of ranked) {
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
  // Recomputed when the quantity changes; cleared when the text changes (its positions then mean other tokens).
  function showSpanUnits() {
    const box = $("span-units"), result = view.result;
    box.textContent = "";
    if (!view.span || !result) { box.textContent = "Select some text above."; return; }
    const [first, last] = view.span, T = analysed(result), scores = [], all = allValues(result, unitQuantity());
    if (last >= T) { box.textContent = `The span lies past the first ${ANALYSED.toLocaleString("en")} positions, which are all the page compares.`; return; }
    units.forEach((u, l) => {
      for (let j = 0; j < u; j++) {
        const v = all[l][j];
        let inside = 0, outside = 0;
        for (let t = 0; t < T; t++) (t >= first && t <= last ? (inside += v[t]) : (outside += v[t]));
        const rest = T - (last - first + 1);
        scores.push({ layer: l, unit: j, d: inside / (last - first + 1) - (rest ? outside / rest : 0) });
      }
    });
    scores.sort((a, b) => b.d - a.d);
    const label = document.createElement("span");
    label.textContent = `positions ${first}–${last}, most active there (${QUANTITIES[unitQuantity()].split(":")[0]}, mean inside − mean outside): `;
    box.appendChild(label);
    scores.slice(0, 8).forEach((e) => box.appendChild(unitButton(e, `L${e.layer + 1}·${e.unit} ${e.d >= 0 ? "+" : "−"}${Math.abs(e.d).toFixed(2)}`)));
  }

  // ---- gate saturation: per unit, the fraction of steps its gate is below 0.1 against above 0.9 --------------------
  const GATE_COLOURS = { i: "#2b7bba", f: "#d7301f", o: "#31a354", z: "#d7301f", r: "#2b7bba" };
  const SAT = { size: 220, pad: 30 };

  function saturationDots(result, l) {
    const s = result.layers[l], u = units[l], T = analysed(result), dots = [];
    for (const gate of GATES) {
      if (!gru && !blocks.includes(gate)) continue;  // a fixed gate is always 1: nothing to plot
      for (let j = 0; j < u; j++) {
        let low = 0, high = 0;
        for (let t = 0; t < T; t++) { const x = s[gate][t * u + j]; if (x < 0.1) low++; else if (x > 0.9) high++; }
        dots.push({ layer: l, gate, unit: j, low: low / T, high: high / T,
                    x: SAT.pad + (low / T) * SAT.size, y: (1 - high / T) * SAT.size + 4 });
      }
    }
    return dots;
  }

  function drawSaturation() {
    const box = $("saturation");
    box.textContent = "";
    const result = view.result;
    view.dots = [];
    if (!result || !result.length) return;
    const { size, pad } = SAT;
    result.layers.forEach((s, l) => {
      const canvas = document.createElement("canvas");
      canvas.width = size + pad + 8; canvas.height = size + pad + 8;
      const g = canvas.getContext("2d"), dots = saturationDots(result, l);
      view.dots[l] = dots;
      g.strokeStyle = "#999"; g.strokeRect(pad, 4, size, size);
      g.beginPath(); g.moveTo(pad, size + 4); g.lineTo(pad + size, 4); g.stroke();
      g.fillStyle = "#333"; g.font = "11px sans-serif";
      g.fillText("0", pad - 3, size + 16); g.fillText("1", pad + size - 4, size + 16);
      g.fillText("shut (< 0.1) how often →", pad + 40, size + 16);
      g.save(); g.translate(12, size + 4); g.rotate(-Math.PI / 2); g.fillText("open (> 0.9) how often →", 40, 0); g.restore();
      g.globalAlpha = 0.6;
      for (const d of dots) { g.fillStyle = GATE_COLOURS[d.gate]; g.fillRect(d.x - 1.5, d.y - 1.5, 3, 3); }
      g.globalAlpha = 1;
      const h = view.highlight;
      if (h && h.layer === l) {  // the dot a tour or a click picked: ringed
        const d = dots.find((e) => e.gate === h.gate && e.unit === h.unit);
        if (d) { g.strokeStyle = "#000"; g.lineWidth = 2; g.beginPath(); g.arc(d.x, d.y, 7, 0, 2 * Math.PI); g.stroke(); }
      }
      canvas.dataset.layer = l;
      canvas.addEventListener("mousemove", (e) => {
        const d = nearestDot(l, e);
        canvas.style.cursor = d ? "pointer" : "default";
        $("saturation-info").textContent = d ? dotText(d) + " Click to select it." : "";
      });
      canvas.addEventListener("click", (e) => {
        const d = nearestDot(l, e);
        if (!d) return;
        view.highlight = { layer: l, gate: d.gate, unit: d.unit };
        select(d.layer, d.unit, d.gate);
        drawSaturation();
        $("saturation-info").textContent = dotText(d);
      });
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.innerHTML = `layer ${l + 1}: ` + GATES.map((g) => `<b style="color:${GATE_COLOURS[g]}">${GATE_NAMES[g].split(" ")[0]}</b>`)
        .join(", ") + " gates";
      figure.appendChild(canvas); figure.appendChild(caption);
      box.appendChild(figure);
    });
  }

  function nearestDot(l, event) {
    const canvas = event.target, rect = canvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) * canvas.width / rect.width, y = (event.clientY - rect.top) * canvas.height / rect.height;
    let best = null, distance = 36;  // within 6 px
    for (const d of view.dots[l] || []) {
      const e = (d.x - x) ** 2 + (d.y - y) ** 2;
      if (e < distance) { distance = e; best = d; }
    }
    return best;
  }

  function dotText(d) {
    return `${unitName(d.layer, d.unit)}, ${GATE_NAMES[d.gate]}: shut (< 0.1) at ${percent(d.low)}, open (> 0.9) at ` +
      `${percent(d.high)} of the positions.`;
  }

  // ---- the heat map: the 20 units that follow a signal most closely, position by position --------------------------
  const HEAT = { rows: 20, label: 92, rowHeight: 11 };

  function drawHeat() {
    const canvas = $("heat"), result = view.result, select_ = $("heat-signal");
    const g = canvas.getContext("2d");
    view.heat = null;
    if (!result || result.length < MIN_TOKENS) { canvas.height = 0; return; }
    const all = signals(result), names = Object.keys(all).filter((k) => correlation(all[k], all[k]) > 0);
    if (!names.length) { canvas.height = 0; return; }
    if (select_.dataset.names !== names.join("|")) {  // the signals of this text as options
      select_.textContent = "";
      for (const k of names) { const o = document.createElement("option"); o.value = k; o.textContent = k; select_.appendChild(o); }
      select_.dataset.names = names.join("|");
    }
    if (!names.includes(view.heatSignal)) view.heatSignal = names[0];
    select_.value = view.heatSignal;
    const signal = all[view.heatSignal], quantity = unitQuantity();
    const key = `${view.heatSignal}|${quantity}`;
    result.heatRows = result.heatRows || {};
    const rows = result.heatRows[key] || (result.heatRows[key] = unitsBy(result, signal, quantity).slice(0, HEAT.rows));
    const width = Math.max(240, Math.min(canvas.parentElement.clientWidth, 640));
    const columns = Math.min(analysed(result), Math.floor((width - HEAT.label) / 2));
    const start = Math.max(0, Math.min(analysed(result) - columns, view.position - (columns >> 1)));
    const cell = (width - HEAT.label) / columns;
    canvas.width = width; canvas.height = (rows.length + 1) * HEAT.rowHeight + 4;
    g.font = "10px ui-monospace, monospace"; g.fillStyle = "#333";
    g.fillText("signal", 2, HEAT.rowHeight - 2);
    let lo = Infinity, hi = -Infinity;
    for (let t = start; t < start + columns; t++) { lo = Math.min(lo, signal[t]); hi = Math.max(hi, signal[t]); }
    for (let t = 0; t < columns; t++) {
      const x = (signal[start + t] - lo) / ((hi - lo) || 1);
      g.fillStyle = `rgba(0, 0, 0, ${(0.8 * x).toFixed(3)})`;
      g.fillRect(HEAT.label + t * cell, 1, Math.ceil(cell), HEAT.rowHeight - 2);
    }
    const cached = allValues(result, quantity);
    rows.forEach((e, k) => {
      const y = (k + 1) * HEAT.rowHeight + 2, v = cached[e.layer][e.unit];
      const selected = e.layer === view.layer && e.unit === view.unit;
      g.fillStyle = selected ? "#b3261e" : "#333";
      g.fillText(`L${e.layer + 1}·${e.unit} ${e.r >= 0 ? " " : "−"}${Math.abs(e.r).toFixed(2)}`, 2, y + HEAT.rowHeight - 2);
      for (let t = 0; t < columns; t++) {
        g.fillStyle = colour(v[start + t], quantity);
        g.fillRect(HEAT.label + t * cell, y, Math.ceil(cell), HEAT.rowHeight - 1);
      }
    });
    const px = HEAT.label + (view.position - start) * cell;  // the selected position
    g.strokeStyle = "#000"; g.lineWidth = 1; g.strokeRect(px, 0, Math.max(cell, 1), canvas.height);
    view.heat = { rows, start, columns, cell };
  }

  function heatClick(event) {
    const heat = view.heat, canvas = $("heat");
    if (!heat) return;
    const rect = canvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) * canvas.width / rect.width, y = (event.clientY - rect.top) * canvas.height / rect.height;
    const row = Math.floor((y - 2) / HEAT.rowHeight) - 1;
    if (x >= HEAT.label) setPosition(heat.start + Math.floor((x - HEAT.label) / heat.cell));
    if (row >= 0 && row < heat.rows.length) select(heat.rows[row].layer, heat.rows[row].unit);
  }

  // ---- guided tours: stops the page finds on this model and this text ----------------------------------------------
  function mean(v, where) {
    let sum = 0, n = 0;
    for (let t = 0; t < v.length; t++) if (where(t)) { sum += v[t]; n++; }
    return n ? sum / n : NaN;
  }

  const OPEN_MEANS = {
    i: "it lets (almost) everything through.", f: "it lets (almost) everything through.",
    o: "it lets (almost) everything through.",
    z: "the unit keeps (almost) all of its old h_t and takes (almost) nothing of the candidate: a slow memory.",
    r: "the candidate sees (almost) all of h_{t−1}'s product: this unit's reset gate rarely resets.",
  };

  const PARITY = "an odd number of 1s so far (parity)";

  function findTours(result) {
    const stops = [], T = analysed(result);
    if (T < MIN_TOKENS) return stops;
    const tokens = result.known.map((k) => result.tokens[k]), all = signals(result);
    const newline = chars ? "\n" : EOS, isEnd = (t) => tokens[t] === newline;
    const lineWord = chars ? "line" : "sentence";
    // 1. the unit that counts along the line, and the gate that keeps its state (f_t; a GRU's z_t) where it resets:
    // at the line ends, or one step later (the gate reads h_{t−1}, so many units reset on the line's first token)
    if (correlation(all["position in the line"], all["position in the line"]) > 0 && tokens.slice(1, T).includes(newline)) {
      const best = unitsBy(result, all["position in the line"], STATE)[0], keep = gru ? "z" : "f";
      const f = values(result, best.layer, best.unit, keep, T);
      const after = (t) => t > 0 && isEnd(t - 1) && !isEnd(t);
      const atEnd = mean(f, isEnd), atNext = mean(f, after), next = atNext < atEnd;
      const where = next ? after : isEnd, there = where === isEnd ? `at the ${lineWord} ends (↵)`
        : `on the first ${chars ? "character" : "word"} after a ${lineWord} end`;
      const at = next ? atNext : atEnd, elsewhere = mean(f, (t) => !where(t));
      const places = []; for (let t = 1; t < T; t++) if (where(t)) places.push(t);
      const reset = at < elsewhere - 0.2;
      const follows = `${unitName(best.layer, best.unit)} follows the position in the ${lineWord} (r = ${best.r.toFixed(2)} with its ${STATE_NAME}). `;
      stops.push({ title: `counting along the ${lineWord}`, layer: best.layer, unit: best.unit, quantity: keep,
        position: places[Math.min(1, places.length - 1)] ?? 0,
        text: gru
          ? follows + "A GRU has no cell state: the count lives in h_t itself, and the update gate z_t decides how much " +
            `of it to keep (h_t = z_t·h_{t−1} + (1 − z_t)·h̃_t). Shown: its z_t, which averages ${fixed(at)} ${there} ` +
            `against ${fixed(elsewhere)} elsewhere` +
            (reset ? ": there it drops the old h for the candidate h̃_t and the count starts again. "
                   : ": it does not drop its h there; watch h̃_t and h_t in the diagram instead. ") +
            "Step across a ↵ with ← → and watch z_t and h_t in the diagram."
          : follows + `Shown: its forget gate f_t, which averages ${fixed(at)} ${there} against ${fixed(elsewhere)} elsewhere` +
            (reset ? `: there it ${at < 0.3 ? "empties" : "lets go of much of"} the conveyor belt and the count starts again. `
                   : ": it does not empty the belt there; watch C_t in the diagram instead. ") +
            "Step across a ↵ with ← → and watch f_t and C_t in the diagram." });
    }
    // 2. a unit that is on inside a speaker's name (or a word); for words: after "the"
    if (chars) {
      const name = correlation(all["a speaker's name"], all["a speaker's name"]) > 0 ? "a speaker's name" : "inside a word";
      if (correlation(all[name], all[name]) > 0) {
        const best = unitsBy(result, all[name], STATE)[0], inside = all[name].findIndex((x, t) => x && t > 0 && tokens[t] !== newline);
        stops.push({ title: name === "inside a word" ? "inside a word" : "a speaker's name", layer: best.layer, unit: best.unit,
          quantity: STATE, position: Math.max(0, inside),
          text: `${unitName(best.layer, best.unit)} is ${best.r > 0 ? "on (red)" : "off (blue)"} ${name === "inside a word" ? "inside words" : "on the lines that name a speaker, such as “ROMEO:”"} ` +
            `(r = ${best.r.toFixed(2)}): its ${STATE_NAME} colours the text. Look at where the colour switches.` });
      }
    } else {
      const the = new Float32Array(T); for (let t = 0; t < T; t++) the[t] = tokens[t] === "the" ? 1 : 0;
      if (correlation(the, the) > 0) {
        const best = unitsBy(result, the, "h")[0], first = the.indexOf(1);
        const probs = result.probs.subarray(first * V, (first + 1) * V);
        const guesses = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, 3).map((k) => named(tokenNames[k]));
        stops.push({ title: "after “the”", layer: best.layer, unit: best.unit, quantity: "h", position: first,
          text: `Right after reading “the” the model waits for a noun: its top guesses here are ${guesses.join(", ")}. ` +
            `${unitName(best.layer, best.unit)} is ${best.r > 0 ? "on (red)" : "off (blue)"} after every “the” (r = ${best.r.toFixed(2)} with its h_t).` });
      }
      const end = all["a sentence's end (<eos>)"];
      if (correlation(end, end) > 0) {
        const best = unitsBy(result, end, "h")[0];
        stops.push({ title: "sentence ends", layer: best.layer, unit: best.unit, quantity: "h", position: end.indexOf(1),
          text: `${unitName(best.layer, best.unit)} marks the end of a sentence (<eos>, shown ↵; r = ${best.r.toFixed(2)} with its h_t).` });
      }
    }
    // a parity run: the unit that flips on every 1
    if (all[PARITY] && correlation(all[PARITY], all[PARITY]) > 0) {
      const best = unitsBy(result, all[PARITY], STATE)[0], first = tokens.indexOf("1");
      stops.push({ title: "the parity unit", layer: best.layer, unit: best.unit, quantity: STATE, position: Math.max(0, first),
        text: `${unitName(best.layer, best.unit)} flips on every 1: its ${STATE_NAME} follows the parity of the 1s read so far ` +
          `(r = ${best.r.toFixed(2)}), ${best.r > 0 ? "red" : "blue"} while the count is odd. The model's answer at each ` +
          "position, its guess under the mouse, is that parity (“1”: odd). Step across a 1 with ← → and watch the state flip." });
    }
    // 3. where the model is most surprised (a task run predicts its answer, not the next token: no surprise there)
    if (!info.task) {
      const surprise = surprisals(result);
      let most = 1;
      for (let t = 2; t < T; t++) if (surprise[t] > surprise[most]) most = t;
      const before = result.probs.subarray((most - 1) * V, most * V), expected = Array.from(before.keys()).reduce((a, b) => (before[b] > before[a] ? b : a), 0);
      stops.push({ title: "the biggest surprise", layer: view.layer, unit: view.unit, quantity: "surprisal", position: most,
        text: `The text is coloured by surprise, −log p of the token that came. The model is most surprised at position ${most}: ` +
          `${named(tokens[most])} came with p = ${percent(Math.exp(-surprise[most]))} (${fixed(surprise[most])} nats); ` +
          `it expected ${named(tokenNames[expected])} (${percent(before[expected])}).` });
    }
    // 4. a gate that is almost always open, in the saturation plot
    let open = null;
    units.forEach((u, l) => { for (const d of saturationDots(result, l)) if (!open || d.high > open.high) open = d; });
    if (open && open.high >= 0.5) {
      stops.push({ title: "a gate always open", layer: open.layer, unit: open.unit, quantity: open.gate, position: view.position,
        highlight: { layer: open.layer, gate: open.gate, unit: open.unit },
        text: `The ${GATE_NAMES[open.gate]} of ${unitName(open.layer, open.unit)} is above 0.9 at ${percent(open.high)} of the positions: ` +
          `${OPEN_MEANS[open.gate]} In the gate saturation plot its dot is ringed, at the top: the plot puts each ` +
          `unit's gate by how often it is shut (→) and how often open (↑).` });
    }
    return stops;
  }

  function showTours() {
    const box = $("tour-stops");
    box.textContent = "";
    view.tours = view.result ? findTours(view.result) : [];
    if (!view.tours.length) { box.textContent = " (none in this text: type a few lines)"; $("tour-text").textContent = ""; }
    view.tours.forEach((stop, k) => {
      const button = document.createElement("button");
      button.className = "tour"; button.dataset.stop = k;
      button.textContent = `${k + 1}. ${stop.title}`;
      button.addEventListener("click", () => takeStop(k));
      box.appendChild(button);
    });
  }

  function takeStop(k) {
    const stop = view.tours[k];
    view.highlight = stop.highlight || null;
    select(stop.layer, stop.unit, stop.quantity);
    setPosition(stop.position);
    drawSaturation();
    $("tour-text").textContent = stop.text;
    document.querySelectorAll("#tour-stops button").forEach((b) => b.classList.toggle("active", +b.dataset.stop === k));
  }

  // ---- hover (or tap): the next-token guesses and the unit's gates at a position -----------------------------------
  function showTip(span) {
    const p = +span.dataset.p, result = view.result, tip = $("tip");
    const probs = result.probs.subarray(p * V, (p + 1) * V);
    const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, 5);
    const s = result.at(p, view.layer), j = view.unit;
    const rows = order.map((k) => {
      const name = tokenNames[k] === "\n" || tokenNames[k] === EOS ? "↵" : tokenNames[k] === " " ? "␣" : tokenNames[k];
      return `<tr><td class="guess">${escape(name)}</td><td><div class="bar" style="width:${(probs[k] * 100).toFixed(0)}px">` +
        `</div></td><td>${(probs[k] * 100).toFixed(1)}%</td></tr>`;
    });
    const surprise = surprisals(result)[p];
    tip.innerHTML = `<div>after ${escape(named(result.tokens[result.known[p]]))} (position ${p}) the model guesses:</div>` +
      `<table>${rows.join("")}</table>` +
      (p > 0 ? `<div>${escape(named(result.tokens[result.known[p]]))} itself came with p = ${percent(Math.exp(-surprise))} (surprise ${fixed(surprise)} nats)</div>` : "") +
      (gru ? `<div>L${view.layer + 1}·${j}: z ${fixed(s.z[j])} r ${fixed(s.r[j])} h̃ ${fixed(s.g[j])}; h ${fixed(s.h[j])}</div>`
        : `<div>L${view.layer + 1}·${j}: f ${fixed(s.f[j])} i ${fixed(s.i[j])} C̃ ${fixed(s.g[j])} o ${fixed(s.o[j])}; ` +
          `C ${fixed(s.c[j])}, tanh(C) ${fixed(Math.tanh(s.c[j]))}; h ${fixed(s.h[j])}</div>`);
    tip.style.display = "block";
    // above the hovered line, so that the lines below stay readable; below it where there is no room above
    const rect = span.getBoundingClientRect();
    const left = Math.max(4, Math.min(rect.left + window.scrollX, document.documentElement.clientWidth - tip.offsetWidth - 4));
    let top = rect.top + window.scrollY - tip.offsetHeight - 6;
    if (rect.top - tip.offsetHeight - 6 < 0) top = rect.bottom + window.scrollY + 6;
    tip.style.left = `${left}px`; tip.style.top = `${top}px`;
  }

  function hideTip() { $("tip").style.display = "none"; }

  function escape(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  // ---- reading the text: in the worker where there is one, the last text wins --------------------------------------
  let worker = null, workerBusy = false, requested = 0, useWorker = false;

  function startWorker() {
    try {
      const url = URL.createObjectURL(new Blob([workerSource()], { type: "text/javascript" }));
      const w = new Worker(url);
      w.onmessage = (event) => {
        workerBusy = false;
        const { id, result, ms, error } = event.data;
        if (id !== requested) return;  // a newer text is on its way
        if (error) { showError(error); return; }
        show(withAt(result), ms);
      };
      w.onerror = () => { worker = null; workerBusy = false; useWorker = false; update(); };  // on this thread, then
      w.postMessage({ payload: { ...payload, weights }, kernels });
      return w;
    } catch (error) {
      return null;  // a browser without workers for this page: it reads on its own thread
    }
  }

  function update() {
    const text = $("input").value, id = ++requested;
    hideTip();
    view.span = null;  // the selected span's positions belonged to the old text
    if (!text.trim()) {
      view.result = null; view.busy = false; document.body.dataset.busy = "0";
      render(); showRanking(); showSpanUnits(); drawSaturation(); drawCell(); drawHeat(); showTours();
      $("message").textContent = "The box is empty: type or paste some text to see the model read it.";
      $("message").className = "";
      return;
    }
    view.busy = true; document.body.dataset.busy = "1";
    if (useWorker && !worker) { worker = startWorker(); useWorker = !!worker; }
    if (worker) {
      if (workerBusy) { worker.terminate(); worker = startWorker(); }  // drop the old text's reading: the last wins
      workerBusy = true;
      $("message").textContent = `reading ${text.length.toLocaleString("en")} characters…`;
      $("message").className = "";
      worker.postMessage({ id, text });
      return;
    }
    const start = performance.now();
    try { show(engine.run(text), performance.now() - start); } catch (error) { showError(String(error.message || error)); }
  }

  function showError(text) {
    view.busy = false; document.body.dataset.busy = "0";
    $("message").textContent = `The page could not read this text: ${text}`; $("message").className = "warn";
  }

  function show(result, ms) {
    const start = performance.now();
    view.result = result;
    view.position = Math.min(view.position, Math.max(result.length - 1, 0));
    render(); showRanking(); showSpanUnits(); drawSaturation(); showTours();
    timings.update = { run: ms, total: ms + performance.now() - start };
    const unknown = result.unknown;
    $("message").textContent = `${result.length.toLocaleString("en")} ${chars ? "characters" : "words"} read in ${ms.toFixed(0)} ms.` +
      (unknown.length ? ` Skipped, the model never saw them: ${unknown.slice(0, 20).map(named).join(" ")}` +
        (unknown.length > 20 ? " …" : "") + "." : "");
    $("message").className = unknown.length ? "warn" : "";
    view.busy = false; document.body.dataset.busy = "0";
  }

  // ---- window.lstm -------------------------------------------------------------------------------------------------
  window.lstm = {
    info, tokenize: engine.tokenize, run: engine.run, sample: engine.sample, timings,
    page: {  // the page's state, for tests and for your own code
      state: () => ({ layer: view.layer, unit: view.unit, quantity: view.quantity, position: view.position,
                      span: view.span, busy: view.busy, worker: !!worker, length: view.result ? view.result.length : 0 }),
      cell: cellValues, tours: () => view.tours.map(({ highlight, ...stop }) => stop), takeStop,
      select, setPosition, dots: (l) => (view.dots[l] || []).map((d) => ({ ...d })),
      heatRows: () => (view.heat ? view.heat.rows.map((e) => ({ ...e })) : []),
    },
  };

  function setUp() {
    $("title").textContent = info.title;
    const layerSelect = $("layer");
    units.forEach((u, l) => { const o = document.createElement("option"); o.value = l; o.textContent = `layer ${l + 1} (${u} units)`; layerSelect.appendChild(o); });
    for (const [key, name] of Object.entries(QUANTITIES)) { const o = document.createElement("option"); o.value = key; o.textContent = name; $("quantity").appendChild(o); }
    layerSelect.addEventListener("change", () => select(+layerSelect.value, Math.min(view.unit, units[+layerSelect.value] - 1)));
    $("unit").max = units[view.layer] - 1;
    const unitBox = $("unit");
    unitBox.addEventListener("input", () => {  // a unit of this layer selects it at once; anything else is marked
      const j = Number(unitBox.value), ok = unitBox.value.trim() !== "" && Number.isInteger(j) && j >= 0 && j < units[view.layer];
      unitBox.classList.toggle("warn", !ok);
      $("unit-note").textContent = ok ? "" : `layer ${view.layer + 1} has units 0 to ${units[view.layer] - 1}`;
      if (ok && j !== view.unit) select(view.layer, j);
    });
    unitBox.addEventListener("change", () => {  // on Enter or leaving the box: the nearest unit there is
      const j = Number(unitBox.value), u = units[view.layer];
      if (unitBox.value.trim() !== "" && Number.isInteger(j) && j >= 0 && j < u) return;
      const nearest = Number.isFinite(j) ? Math.max(0, Math.min(u - 1, Math.round(j))) : view.unit;
      select(view.layer, nearest);
      $("unit-note").textContent = `layer ${view.layer + 1} has units 0 to ${u - 1}: “${unitBox.dataset.typed || j}” became ${nearest}`;
    });
    unitBox.addEventListener("keyup", () => { unitBox.dataset.typed = unitBox.value; });
    $("quantity").addEventListener("change", () => { view.quantity = $("quantity").value; recolour(); showRanking(); showSpanUnits(); drawHeat(); });
    $("heat-signal").addEventListener("change", () => { view.heatSignal = $("heat-signal").value; drawHeat(); });
    $("heat").addEventListener("click", heatClick);
    let timer = null;
    $("input").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 150); });
    const textBox = $("text");
    const spanOf = (node) => (node && node.dataset && node.dataset.p !== undefined ? node : null);
    textBox.addEventListener("mouseover", (e) => { const span = spanOf(e.target); if (span) showTip(span); });
    textBox.addEventListener("mouseout", (e) => { if (!spanOf(e.relatedTarget)) hideTip(); });
    textBox.addEventListener("mouseleave", hideTip);
    textBox.addEventListener("click", (e) => {  // click (or tap) a token: the diagram shows that step
      const span = spanOf(e.target), sel = window.getSelection();
      if (!span || (sel && !sel.isCollapsed)) return;
      setPosition(+span.dataset.p, false);
      showTip(span);
    });
    textBox.addEventListener("mouseup", () => {
      const sel = window.getSelection();
      if (!sel || sel.isCollapsed) return;
      const inSpan = (node) => (node.nodeType === 3 ? node.parentElement : node);
      const a = inSpan(sel.anchorNode), b = inSpan(sel.focusNode);
      if (!a || !b || a.dataset.p === undefined || b.dataset.p === undefined) return;
      view.span = [+a.dataset.p, +b.dataset.p].sort((x, y) => x - y);
      showSpanUnits();
    });
    $("previous").addEventListener("click", () => setPosition(view.position - 1));
    $("next").addEventListener("click", () => setPosition(view.position + 1));
    document.addEventListener("keydown", (e) => {  // ← → step through the text, unless a box is being typed in
      if (e.target.closest && e.target.closest("input, textarea, select") || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        e.preventDefault();
        setPosition(view.position + (e.key === "ArrowLeft" ? -1 : 1));
      }
    });
    $("sample-button").addEventListener("click", () => {
      const out = $("sample-output");
      try {
        const prime = $("prime").value;
        const number = (id) => ($(id).value.trim() === "" ? NaN : +$(id).value);  // an empty box is no number
        out.textContent = prime + engine.sample(prime, number("length"), number("temperature"), number("seed"));
        out.className = "";
      } catch (error) {
        out.textContent = error.message; out.className = "warn";
      }
    });
    $("input").value = payload.passage;
    update();  // the first text on this thread: the page is ready with it
    const ranked = view.result && view.result.length >= MIN_TOKENS ? rankUnits(view.result, view.quantity, 1) : [];
    if (ranked.length) select(ranked[0].units[0].layer, ranked[0].units[0].unit);  // a unit that tracks something
    timings.ready = performance.now();
    document.body.dataset.ready = "1";
    // the worker starts with the first edit: a reader who only looks pays nothing for it, and `lstm.run` called
    // right after the page opens (benchmarks/explorer_speed.py) has the CPU to itself
    useWorker = true;
  }

  setUp();
})();
