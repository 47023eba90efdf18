// Accord's verifier in JavaScript, written from SPEC.md: strict Ed25519
// (§4), entries (§5), the registry map (§5.8), RFC 6962 proofs (§6),
// checkpoints (§7), registry proofs (§8.2) and witness policies (§13).
// It trusts nothing but the log key it is given: every answer of the
// server is checked here, with WebCrypto for SHA-256 and Ed25519. The
// same file runs in the page (served as /assets/verify.js) and under
// node ≥ 20 (tests/js_verifier.rs checks it against SPEC.md's vectors).
// It checks signatures and proofs; the content rules of statements (name
// rule, country codes…) are the auditor's (`accord audit`), who also checks
// the registry rules over the whole log.

export class VerifyError extends Error {}
const fail = (why) => {
  throw new VerifyError(why);
};

const enc = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text, kept as the Rust and Python decoders keep it.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const subtle = globalThis.crypto.subtle;

// --- bytes ----------------------------------------------------------------
export const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
export const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

export function fromHex(s, what) {
  if (!/^([0-9a-f]{2})*$/.test(s)) fail(`${what}: not lowercase hex`);
  return Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
}

export function b64(b) {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

/** Base64 as SPEC.md writes it: standard, padded, one spelling per value. */
export function fromB64(s, what, n) {
  let raw;
  try {
    raw = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    fail(`${what}: not base64`);
  }
  if (b64(raw) !== s) fail(`${what}: not canonical base64`);
  if (n !== undefined && raw.length !== n) fail(`${what}: not ${n} bytes`);
  return raw;
}

/** A canonical decimal (no sign, no leading zeros) as a BigInt. */
export function decimal(s, what) {
  if (!/^(0|[1-9][0-9]*)$/.test(s)) fail(`${what}: not a canonical decimal`);
  return BigInt(s);
}

export const sha256 = async (b) => new Uint8Array(await subtle.digest("SHA-256", b));

/** SPEC §1: big-endian integers, `str` with a u16 length, no trailing bytes. */
export class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.at = 0;
  }
  take(n) {
    if (this.at + n > this.b.length) fail("truncated");
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8() {
    return this.take(1)[0];
  }
  int(n) {
    let x = 0n;
    for (const v of this.take(n)) x = (x << 8n) | BigInt(v);
    return x;
  }
  str() {
    try {
      return utf8.decode(this.take(Number(this.int(2))));
    } catch (e) {
      if (e instanceof VerifyError) throw e;
      fail("invalid UTF-8");
    }
  }
  /** `idx?` of §5.8: u8 0, or u8 1 ‖ u64. */
  flagged() {
    const f = this.u8();
    if (f > 1) fail("a flag must be 0 or 1");
    return f ? this.int(8) : null;
  }
  done() {
    if (this.at !== this.b.length) fail("trailing bytes");
  }
}

// --- strict Ed25519 (SPEC §4) ----------------------------------------------
// WebCrypto checks the cofactorless equation; SPEC §4 also refuses
// non-canonical or small-order keys, small-order R and S ≥ ℓ, which WebCrypto
// implementations do not all check. RFC 8032 curve arithmetic, in BigInt.
const P = 2n ** 255n - 19n;
const ELL = 2n ** 252n + 27742317777372353535851937790883648493n;
const m = (a) => ((a % P) + P) % P;
function pow(b, e) {
  let r = 1n;
  b = m(b);
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}
const D = m(-121665n * pow(121666n, P - 2n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);
const le = (b) => b.reduceRight((x, v) => (x << 8n) | BigInt(v), 0n);

/** RFC 8032 §5.1.3 decoding, refusing non-canonical encodings; null if invalid. */
function decodePoint(b) {
  const y = le(b) & ((1n << 255n) - 1n);
  const sign = BigInt(b[31] >> 7);
  if (y >= P) return null;
  const x2 = m((y * y - 1n) * pow(D * y * y + 1n, P - 2n));
  if (x2 === 0n) return sign ? null : [0n, y, 1n, 0n];
  let x = pow(x2, (P + 3n) / 8n);
  if (m(x * x - x2) !== 0n) x = m(x * SQRT_M1);
  if (m(x * x - x2) !== 0n) return null;
  if ((x & 1n) !== sign) x = P - x;
  return [x, y, 1n, m(x * y)];
}

function add(p, q) {
  const a = m((p[1] - p[0]) * (q[1] - q[0]));
  const b = m((p[1] + p[0]) * (q[1] + q[0]));
  const c = m(2n * p[3] * q[3] * D);
  const d = m(2n * p[2] * q[2]);
  const [e, f, g, h] = [b - a, d - c, d + c, b + a];
  return [m(e * f), m(g * h), m(f * g), m(e * h)];
}

function smallOrder(pt) {
  for (let i = 0; i < 3; i++) pt = add(pt, pt); // [8]P
  return pt[0] === 0n && pt[1] === pt[2];
}

/** SPEC §4 rule 1: a canonical key that is not of small order. */
export function checkPublicKey(k) {
  if (k.length !== 32) fail("public key must be 32 bytes");
  const pt = decodePoint(k);
  if (!pt) fail("public key is not a canonical curve point");
  if (smallOrder(pt)) fail("public key is a weak (small-order) key");
}

export async function verifyStrict(publicKey, message, signature) {
  checkPublicKey(publicKey);
  if (signature.length !== 64) fail("signature must be 64 bytes");
  const r = decodePoint(signature.subarray(0, 32));
  if (!r || smallOrder(r)) fail("signature R is invalid or of small order");
  if (le(signature.subarray(32)) >= ELL) fail("signature S is not canonical");
  const key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  if (!(await subtle.verify({ name: "Ed25519" }, key, signature, message))) {
    fail("Ed25519 signature does not verify");
  }
}

// --- signed notes, checkpoints and cosignatures (SPEC §7, §13) ---------------
const WHITE_SPACE = /[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const validName = (n) => n.length > 0 && !WHITE_SPACE.test(n) && !n.includes("+");
export const ALG_CHECKPOINT = 1;
export const ALG_COSIGNATURE = 4;

/** `name+keyid+base64(alg ‖ key)`; returns {name, id, key, alg, text}. */
export async function parseVkey(s, alg = ALG_CHECKPOINT, what = "log key") {
  s = s.replace(/[\s]+$/u, "");
  const parts = s.split("+");
  if (parts.length < 3) fail(`${what}: expected name+keyid+key`);
  const [name, id] = parts;
  const keyB64 = parts.slice(2).join("+");
  if (!validName(name)) fail(`${what}: invalid key name`);
  if (!/^[0-9a-f]{8}$/.test(id)) fail(`${what}: key ID must be 8 lowercase hex digits`);
  const raw = fromB64(keyB64, `${what}: the key`);
  if (raw.length !== 33 || raw[0] !== alg) fail(`${what}: not an Ed25519 key of type ${alg}`);
  checkPublicKey(raw.subarray(1));
  const want = (await sha256(concat(enc.encode(name + "\n"), raw))).subarray(0, 4);
  if (id !== hex(want)) fail(`${what}: key ID does not match name and key`);
  return { name, id: want, key: raw.subarray(1), alg, text: s };
}

/** The note's text and its signature lines, checked as core::note does. */
export function splitNote(note) {
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) fail("note has no blank line before its signatures");
  const text = note.slice(0, cut + 1);
  const sigs = note.slice(cut + 2);
  if (!sigs.endsWith("\n")) fail("note signatures must end with a newline");
  const lines = sigs.slice(0, -1).split("\n");
  if (lines.length > 100) fail("note has more than 100 signature lines");
  const out = lines.map((line) => {
    if (!line.startsWith("\u2014 ")) fail("malformed signature line");
    const rest = line.slice(2);
    const sp = rest.indexOf(" ");
    const name = rest.slice(0, sp);
    const blob64 = rest.slice(sp + 1);
    if (sp < 0 || !validName(name) || blob64.includes(" ")) fail("malformed signature line");
    const blob = fromB64(blob64, `the signature by ${name}`);
    if (blob.length < 4) fail(`the signature by ${name} is shorter than its key ID`);
    return { name, blob };
  });
  return { text, lines: out };
}

/** The note text, if a line by `vkey` verifies (lines by other keys are skipped). */
export async function openNote(note, vkey) {
  const { text, lines } = splitNote(note);
  let ok = false;
  for (const { name, blob } of lines) {
    if (name !== vkey.name || !equal(blob.subarray(0, 4), vkey.id)) continue;
    await verifyStrict(vkey.key, enc.encode(text), blob.subarray(4));
    ok = true;
  }
  if (!ok) fail("no valid signature by the log key");
  return { text, lines };
}

/** A verified checkpoint: {origin, size (BigInt), root, cosigners}. */
export async function verifyCheckpoint(note, vkey, policy = null) {
  const { text, lines } = await openNote(note, vkey);
  const l = text.split("\n");
  if (l.length !== 4 || l[3] !== "") fail("checkpoint must have exactly three lines");
  if (l[0] !== vkey.name) fail("checkpoint origin does not match the log key name");
  const size = decimal(l[1], "checkpoint size");
  const root = fromB64(l[2], "checkpoint root", 32);
  let cosigners = null;
  if (policy) cosigners = await checkQuorum(text, lines, vkey, policy);
  return { origin: l[0], size, root, cosigners };
}

async function checkQuorum(text, lines, vkey, policy) {
  const listed = (k) => k.name === vkey.name && equal(k.id, vkey.id) && equal(k.key, vkey.key);
  if (!policy.logs.some(listed)) fail("the policy does not list this log key");
  const cosigned = new Set();
  for (const { name, blob } of lines) {
    for (const [i, w] of policy.witnesses.entries()) {
      if (name !== w.vkey.name || !equal(blob.subarray(0, 4), w.vkey.id)) continue;
      if (blob.length !== 76) fail(`witness ${w.name}: a cosignature/v1 is 76 bytes`);
      const time = new Reader(blob.subarray(4, 12)).int(8);
      if (time >= 2n ** 63n) fail(`witness ${w.name}: timestamp above 2^63 - 1`);
      const msg = enc.encode(`cosignature/v1\ntime ${time}\n${text}`);
      try {
        await verifyStrict(w.vkey.key, msg, blob.subarray(12));
      } catch (e) {
        fail(`witness ${w.name}: ${e.message}, so the note is invalid`);
      }
      cosigned.add(i);
    }
  }
  const holds = (r) =>
    r.kind === "none" ||
    (r.kind === "witness" ? cosigned.has(r.index) : r.members.filter(holds).length >= r.k);
  const names = [...cosigned].sort((a, b) => a - b).map((i) => policy.witnesses[i].name);
  if (!holds(policy.quorum)) {
    fail(`the cosignatures do not meet the quorum (valid ones by: ${names.join(", ") || "none"})`);
  }
  return names;
}

/** A C2SP tlog-policy, parsed as strictly as core::policy (SPEC §13). */
export async function parsePolicy(source) {
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(source)) fail("policy: control character");
  const logs = [];
  const witnesses = [];
  const names = new Map();
  let groups = 0;
  let quorum = null;
  const define = (name, rule) => {
    if (name === "none" || names.has(name)) fail(`the name ${name} is reserved or already defined`);
    names.set(name, rule);
  };
  for (const [n, line] of source.split("\n").entries()) {
    const words = line.replace(/\t/g, " ").split(" ").filter((w) => w);
    if (!words.length || words[0].startsWith("#")) continue;
    const [kw, ...args] = words;
    try {
      if (kw === "log" && args.length >= 1 && args.length <= 2) {
        const vkey = await parseVkey(args[0], ALG_CHECKPOINT, "log key");
        if (logs.some((k) => equal(k.key, vkey.key))) fail("a duplicate log key");
        logs.push(vkey);
      } else if (kw === "witness" && args.length >= 2 && args.length <= 3) {
        const vkey = await parseVkey(args[1], ALG_COSIGNATURE, "witness key");
        if (witnesses.some((w) => equal(w.vkey.key, vkey.key))) fail("a duplicate witness key");
        define(args[0], { kind: "witness", index: witnesses.length });
        witnesses.push({ name: args[0], vkey });
      } else if (kw === "group" && args.length >= 3) {
        const [name, k, ...members] = args;
        const seen = new Set();
        const rules = members.map((x) => {
          if (x === "none" || seen.has(x)) fail(`member ${x} is none or listed twice`);
          seen.add(x);
          if (!names.has(x)) fail(`${x} is not defined above`);
          return names.get(x);
        });
        let t;
        if (k === "all") t = rules.length;
        else if (k === "any") t = 1;
        else if (/^[1-9][0-9]*$/.test(k) && Number(k) <= rules.length) t = Number(k);
        else fail("the threshold must be all, any or 1 ≤ k ≤ members");
        groups += 1;
        define(name, { kind: "group", name, k: t, members: rules });
      } else if (kw === "quorum" && args.length === 1) {
        if (quorum) fail("a second quorum line");
        if (args[0] === "none") quorum = { kind: "none" };
        else if (names.has(args[0])) quorum = names.get(args[0]);
        else fail(`${args[0]} is not defined above`);
      } else {
        fail("expected log, witness, group or quorum");
      }
      if (logs.length > 64 || witnesses.length > 64 || groups > 64) {
        fail("more than 64 logs, witnesses or groups");
      }
    } catch (e) {
      fail(`policy line ${n + 1}: ${e.message}`);
    }
  }
  if (!quorum) fail("policy: no quorum line");
  return { logs, witnesses, quorum, source };
}

// --- RFC 6962 (SPEC §6) ------------------------------------------------------
export const leafHash = (leaf) => sha256(concat(Uint8Array.of(0), leaf));
export const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

/** RFC 9162 §2.1.3.2; index and size are BigInt. */
export async function verifyInclusion(index, size, leafHashValue, proof, root) {
  if (index >= size) fail("index is beyond the tree size");
  const inner = (index ^ (size - 1n)).toString(2).length - (index ^ (size - 1n) ? 0 : 1);
  const border = [...(index >> BigInt(inner)).toString(2)].filter((c) => c === "1").length;
  if (proof.length !== inner + border) fail("inclusion proof has the wrong length");
  let h = leafHashValue;
  for (const [i, p] of proof.entries()) {
    if (p.length !== 32) fail("proof hashes must be 32 bytes");
    h = i < inner && ((index >> BigInt(i)) & 1n) === 0n ? await nodeHash(h, p) : await nodeHash(p, h);
  }
  if (!equal(h, root)) fail("inclusion proof does not lead to the checkpoint root");
}
