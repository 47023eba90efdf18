// Verification on Accord's pages. The pages work without this script; it
// adds "Verify" buttons that check, in the reader's browser, every answer
// the page shows against the log key (and witness policy): the checkpoint's
// signature and cosignatures, the entry's inclusion proof, the
// organization's signature and the registry proof (verify*.js, SPEC.md).
// The reader can pin the key (and policy) in local storage; a later visit
// that presents others shows a warning and keeps verifying with the pinned
// ones. Every text from the server is put in the page with textContent.
import { VerifyError, fromB64, fromHex, hex, leafHash, parsePolicy, parseVkey, verifyCheckpoint, verifyInclusion } from "./verify.js";
import { verifyEntry } from "./verify_entry.js";
import { parseRegistryProof, verifyRegistryProof } from "./verify_registry.js";

const cfg = JSON.parse(document.getElementById("accord-config").textContent);
const T = (key, vars = {}) => (cfg.text[key] || key).replace(/\{(\w+)\}/g, (_, n) => vars[n] ?? "");
const PIN = "accord.pinned-log-key";
const shown = { vkey: cfg.vkey, policy: cfg.policy || null };
const CONCURRENCY = 4; // requests in flight while verifying all: well under the rate limit's burst

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function pinned() {
  try {
    return JSON.parse(localStorage.getItem(PIN) || "null");
  } catch {
    return null;
  }
}

/** The key and policy to verify with: the pinned ones, else the page's. */
let trustPromise = null;
function trust() {
  trustPromise ||= (async () => {
    const t = pinned() || shown;
    return { vkey: await parseVkey(t.vkey), policy: t.policy ? await parsePolicy(t.policy) : null };
  })();
  return trustPromise;
}

/** GET a JSON answer; waits out 429s (Retry-After) a few times. */
async function api(path) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, { headers: { Accept: "application/json" } });
    if (r.status === 429 && attempt < 5) {
      const wait = Math.min(Number(r.headers.get("Retry-After")) || 1, 10);
      await new Promise((ok) => setTimeout(ok, wait * 1000));
      continue;
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new VerifyError(`${path}: HTTP ${r.status} ${body.detail || ""}`);
    return body;
  }
}

const checkpoints = new Map();
function checkpoint(note, vkey, policy) {
  // Keyed by the key and policy too: a pin or unpin changes the verdict.
  const key = JSON.stringify([vkey.text, policy ? policy.source : null, note]);
  if (!checkpoints.has(key)) checkpoints.set(key, verifyCheckpoint(note, vkey, policy));
  return checkpoints.get(key);
}

/** Runs named checks in order, stopping at the first failure. */
async function run(steps) {
  const results = [];
  for (const [label, step] of steps) {
    try {
      results.push({ label, ok: true, info: (await step()) || "" });
    } catch (e) {
      results.push({ label, ok: false, info: e instanceof VerifyError ? e.message : String(e) });
      break;
    }
  }
  return results;
}

/** `f`, called at most once. */
function once(f) {
  let p = null;
  return () => (p ||= f());
}

/** The checkpoint steps: the log's signature, then the policy's quorum.
 * `note` fetches (once) the answer that carries the checkpoint. */
function checkpointSteps(note, t, out) {
  const steps = [
    [
      T("checkpoint"),
      async () => {
        out.cp = await checkpoint(await note(), t.vkey, null);
        return T("against", { size: out.cp.size, root: hex(out.cp.root) });
      },
    ],
  ];
  if (t.policy) {
    steps.push([T("quorum"), async () => (await checkpoint(await note(), t.vkey, t.policy)).cosigners.join(", ")]);
  }
  return steps;
}

/** A signatory: its endorsement entry, and the registry proof of its status. */
async function verifySignatory(d) {
  const t = await trust();
  const index = BigInt(d.entry);
  const s = {};
  let entry;
  const note = once(async () => {
    entry = await api(`/api/v1/entries/${index}`);
    return entry.checkpoint;
  });
  return run([
    ...checkpointSteps(note, t, s),
    [
      T("inclusion"),
      async () => {
        const proof = entry.inclusion_proof.map((h) => fromB64(h, "inclusion proof hash", 32));
        await verifyInclusion(index, s.cp.size, await leafHash(fromB64(entry.leaf, "leaf")), proof, s.cp.root);
        return `${index} / ${s.cp.size}`;
      },
    ],
    [
      T("signature"),
      async () => {
        const e = await verifyEntry(fromB64(entry.leaf, "leaf"));
        if (e.index !== index) throw new VerifyError(`the leaf says index ${e.index}, not ${index}`);
        if (e.kind !== 1) throw new VerifyError(`entry ${index} is not an endorsement (kind ${e.kind})`);
        if (e.fields.commitment_id !== d.commitment) {
          throw new VerifyError(`entry ${index} endorses ${e.fields.commitment_id}, not ${d.commitment}`);
        }
        return `${e.fields.organization_name} — ${hex(e.fields.public_key)}`;
      },
    ],
    [
      T("registry"),
      async () => {
        const q = `organization_id=${d.org}&commitment=${encodeURIComponent(d.commitment)}`;
        const r = await verifyRegistryProof((await api(`/api/v1/registry-proof?${q}`)).proof, t.vkey, t.policy);
        if (r.kind !== "organization" || r.subject !== d.org || r.commitment !== d.commitment) {
          throw new VerifyError(`the server sent a proof about something else: ${r.line}`);
        }
        if (r.status !== d.status) throw new VerifyError(`the registry proof says ${r.status}, the page ${d.status}: ${r.line}`);
        if (r.endorsedIndex !== index) throw new VerifyError(`the registry proof names entry ${r.endorsedIndex}: ${r.line}`);
        return r.line;
      },
    ],
  ]);
}

/** An organization: the registry proof of its record and current key. */
async function verifyOrganization(d) {
  const t = await trust();
  const s = {};
  let answer;
  const note = once(async () => {
    answer = await api(`/api/v1/registry-proof?organization_id=${d.org}`);
    return parseRegistryProof(answer.proof).note;
  });
  return run([
    ...checkpointSteps(note, t, s),
    [
      T("record"),
      async () => {
        const r = await verifyRegistryProof(answer.proof, t.vkey, t.policy);
        if (r.kind !== "organization" || r.subject !== d.org || r.commitment !== null) {
          throw new VerifyError(`the server sent a proof about something else: ${r.line}`);
        }
        if (r.status !== "current" || hex(r.record.currentKey) !== d.key) {
          throw new VerifyError(`the page shows key ${d.key}: ${r.line}`);
        }
        return r.line;
      },
    ],
  ]);
}

/** Verifies one item and shows its checks next to its button. */
async function verifyItem(item) {
  const box = item.classList.contains("proof") ? item : item.querySelector(".proof");
  const old = box.querySelector("details");
  if (old) old.remove();
  item.dataset.result = "running";
  const status = el("span", { role: "status" }, T("verifying"));
  box.append(status);
  const results = await (item.dataset.verify === "organization" ? verifyOrganization : verifySignatory)(item.dataset).catch(
    (e) => [{ label: T("failed"), ok: false, info: String(e) }],
  );
  const ok = results.every((r) => r.ok) && results.length > 0;
  const failed = results.find((r) => !r.ok);
  const summary = ok ? `✓ ${T("ok")}` : `✗ ${T("failed")}: ${failed.label}`;
  const list = el("ul");
  for (const r of results) list.append(el("li", { class: r.ok ? "ok" : "bad" }, `${r.ok ? "✓" : "✗"} ${r.label}`, r.info ? el("br") : "", r.info ? el("small", {}, r.info) : ""));
  const details = el("details", { class: ok ? "ok" : "bad" }, el("summary", {}, summary), list);
  if (!ok) details.open = true;
  status.replaceWith(details);
  item.dataset.result = ok ? "ok" : "failed";
  return ok;
}

async function verifyAll(items, status) {
  let next = 0;
  let good = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      if (await verifyItem(item)) good += 1;
      status.textContent = `${good} ✓ · ${next - good} ✗ / ${items.length}`;
    }
  };
  status.textContent = T("verifying");
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  document.body.dataset.verified = `${good}/${items.length}`;
}

/** The pin control in the footer, and the warning when the pin differs. */
function showPin() {
  const box = document.getElementById("pin");
  box.replaceChildren();
  const p = pinned();
  const same = p && p.vkey === shown.vkey && (p.policy || null) === shown.policy;
  const button = (label, f) => {
    const b = el("button", { type: "button" }, label);
    b.addEventListener("click", () => {
      f();
      trustPromise = null;
      showPin();
    });
    return b;
  };
  document.getElementById("key-alarm")?.remove();
  if (!p) {
    box.append(button(T("pin"), () => localStorage.setItem(PIN, JSON.stringify({ ...shown, at: new Date().toISOString() }))));
    return;
  }
  if (!same) {
    const alarm = el("p", { id: "key-alarm", role: "alert", class: "alarm" }, T("key_changed", { pinned: p.vkey }));
    document.querySelector("main").prepend(alarm);
  }
  box.append(same ? T("pinned") + " " : "", button(T("unpin"), () => localStorage.removeItem(PIN)));
}

async function ed25519Works() {
  try {
    // SPEC.md's vector org-public-key: any valid key would do.
    const key = fromHex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8", "test key");
    await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

async function start() {
  if (location.hash === "#pin" && !pinned()) localStorage.setItem(PIN, JSON.stringify({ ...shown, at: new Date().toISOString() }));
  showPin();
  const items = [...document.querySelectorAll("[data-verify]")];
  if (!items.length) return;
  if (!(await ed25519Works())) {
    document.querySelector("main").prepend(el("p", { class: "alarm" }, T("no_crypto")));
    return;
  }
  for (const item of items) {
    const b = el("button", { type: "button", class: "verify" }, T("verify"));
    b.addEventListener("click", () => verifyItem(item));
    (item.classList.contains("proof") ? item : item.querySelector(".proof")).append(b);
  }
  const status = el("span", { role: "status" });
  const all = el("button", { type: "button", id: "verify-all-button" }, T("verify_all"));
  all.addEventListener("click", () => verifyAll(items, status));
  const bar = el("p", { class: "verify-bar" }, all, " ", status, el("br"), el("small", {}, T("note")));
  const first = document.getElementById("signatories") || items[0];
  first.before(bar);
  if (location.hash === "#verify-all") await verifyAll(items, status);
}

start();
