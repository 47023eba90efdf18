// Registry proofs (`accord-registry-proof/v1`, SPEC.md §8.2) over the
// registry map (§5.8): the map head is the checkpoint's last entry, its
// inclusion proof leads to the checkpoint's root, and each map item's path
// leads to the map head's root. Returns what the proof establishes and the
// same answer line as `accord verify` and the Python verifier.
import {
  Reader,
  VerifyError,
  b64,
  concat,
  decimal,
  equal,
  fromB64,
  fromHex,
  hex,
  leafHash,
  sha256,
  verifyCheckpoint,
  verifyInclusion,
} from "./verify.js";
import { parseEntry } from "./verify_entry.js";

const enc = new TextEncoder();
const fail = (why) => {
  throw new VerifyError(why);
};
const HEADER = "accord-registry-proof/v1";
const tagged = (tag, ...parts) => sha256(concat(enc.encode(`accord/v1/${tag}\0`), ...parts));
export const mapEmptyHash = () => tagged("map-empty");
export const mapKeyHash = (keyBytes) => tagged("map-key", keyBytes);
const mapLeafHash = (k, vh) => tagged("map-leaf", k, vh);
const mapNodeHash = (l, r) => tagged("map-node", l, r);
const bit = (k, i) => (k[i >> 3] >> (7 - (i & 7))) & 1;

/** Map key bytes (§5.8): type, then its fields. */
export function mapKey(type, id, commitment) {
  if (commitment === undefined || commitment === null) return concat(Uint8Array.of(type), id);
  const c = enc.encode(commitment);
  return concat(Uint8Array.of(type), id, Uint8Array.of(c.length >> 8, c.length & 255), c);
}

/** §5.8 "Proofs": the value hash if present, null if provably absent. */
export async function verifyMapProof(root, keyHash, siblings, terminal) {
  const depth = siblings.length;
  if (depth > 256) fail("map proof: longer than 256 levels");
  let h;
  let found = null;
  if (terminal === null) {
    h = await mapEmptyHash();
  } else {
    const [leafKey, valueHash] = terminal;
    for (let i = 0; i < depth; i++) {
      if (bit(leafKey, i) !== bit(keyHash, i)) fail("map proof: the leaf found is not on the key's path");
    }
    if (equal(leafKey, keyHash)) found = valueHash;
    h = await mapLeafHash(leafKey, valueHash);
  }
  for (const [i, s] of siblings.entries()) {
    h = bit(keyHash, depth - 1 - i) ? await mapNodeHash(s, h) : await mapNodeHash(h, s);
  }
  if (!equal(h, root)) fail("map proof: does not lead to the map root");
  return found;
}

/** Parses the file; it must be exactly the canonical form of what it parses to. */
export function parseRegistryProof(text) {
  const cut = text.indexOf("\n\n");
  if (cut < 0) fail("no blank line before the checkpoint");
  const lines = text.slice(0, cut).split("\n");
  const note = text.slice(cut + 2);
  if (lines[0] !== HEADER) fail(`the first line must be ${HEADER}`);
  const words = (lines[1] || "").split(" ");
  if (![3, 5].includes(words.length) || words[0] !== "query" || !["organization", "key"].includes(words[1])) {
    fail("the second line must be the query");
  }
  const subject = fromHex(words[2], "query");
  if (subject.length !== 32) fail("query: not 64 hex digits");
  let commitment = null;
  if (words.length === 5) {
    if (words[3] !== "commitment" || !/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/.test(words[4])) {
      fail("query: expected `commitment ID`");
    }
    commitment = words[4];
  }
  if (!(lines[2] || "").startsWith("index ")) fail("the third line must be `index N`");
  const index = decimal(lines[2].slice(6), "index");
  const rest = lines.slice(3);
  const inclusion = [];
  while (rest.length && !rest[0].startsWith("map-head ")) inclusion.push(fromB64(rest.shift(), "proof hash", 32));
  if (!rest.length) fail("no map-head line");
  const leaf = fromB64(rest.shift().slice(9), "map-head");
  const items = [];
  for (const line of rest) {
    const w = line.split(" ");
    if (w[0] === "present" && w.length === 2) items.push({ value: fromB64(w[1], "value"), siblings: [] });
    else if (line === "absent") items.push({ terminal: null, siblings: [] });
    else if (w[0] === "absent" && w.length === 3) {
      items.push({ terminal: [fromB64(w[1], "key hash", 32), fromB64(w[2], "value hash", 32)], siblings: [] });
    } else if (items.length && w.length === 1) items[items.length - 1].siblings.push(fromB64(line, "sibling", 32));
    else fail(`expected a map item, found ${JSON.stringify(line)}`);
  }
  // Canonical form: rebuild the text and compare.
  const out = [HEADER, words.join(" "), `index ${index}`, ...inclusion.map(b64), `map-head ${b64(leaf)}`];
  for (const it of items) {
    if (it.value) out.push(`present ${b64(it.value)}`);
    else if (!it.terminal) out.push("absent");
    else out.push(`absent ${b64(it.terminal[0])} ${b64(it.terminal[1])}`);
    out.push(...it.siblings.map(b64));
  }
  if (`${out.join("\n")}\n\n${note}` !== text) fail("not in canonical form");
  return { kind: words[1], subject, commitment, index, inclusion, leaf, items, note };
}

/** An organization record (§5.8), parsed exactly. */
export function parseOrganization(value) {
  const r = new Reader(value);
  const rec = { currentKey: r.take(32), name: r.str(), group: r.u8(), region: r.u8() };
  Object.assign(rec, { country: r.str(), domain: r.str(), firstIndex: r.int(8), latestIndex: r.int(8) });
  Object.assign(rec, { latestStatement: r.take(32), lastSignedAt: r.int(8), verified: null });
  const op = r.u8();
  if (op > 1) fail("malformed organization record");
  if (op) {
    r.int(8);
    r.take(32);
    r.int(8);
    const v = r.u8();
    if (v > 1) fail("malformed organization record");
    if (v) {
      rec.verified = { index: r.int(8), name: r.str(), group: r.u8(), country: r.str(), domain: r.str() };
      Object.assign(rec.verified, { method: r.u8(), evidence: r.take(32), signedAt: r.int(8) });
    }
  }
  r.done();
  return rec;
}

/** Verifies a registry proof (§8.2) with the log key (and policy): {line, …facts}. */
export async function verifyRegistryProof(text, vkey, policy = null) {
  const p = parseRegistryProof(text);
  const cp = await verifyCheckpoint(p.note, vkey, policy);
  if (cp.size === 0n || p.index !== cp.size - 1n) {
    fail(`the map head must be the last entry of the checkpoint (of size ${cp.size}), not entry ${p.index}`);
  }
  await verifyInclusion(p.index, cp.size, await leafHash(p.leaf), p.inclusion, cp.root);
  const head = parseEntry(p.leaf);
  if (head.kind !== 7 || head.index !== p.index) fail("the map-head line is not the kind-7 entry at index");
  const mapRoot = head.fields.root;
  const about = (org) => (p.commitment !== null ? mapKey(2, org, p.commitment) : mapKey(1, org));
  const expected = [p.kind === "organization" ? about(p.subject) : mapKey(3, p.subject)];
  const values = [];
  let org = p.kind === "organization" ? p.subject : null;
  let retired = null;
  for (const it of p.items) {
    if (!expected.length) fail("more map items than the query needs");
    const keyHash = await mapKeyHash(expected.shift());
    if (it.value) {
      await verifyMapProof(mapRoot, keyHash, it.siblings, [keyHash, await sha256(it.value)]);
      values.push(it.value);
    } else {
      if ((await verifyMapProof(mapRoot, keyHash, it.siblings, it.terminal)) !== null) {
        fail("a path said absent leads to the key's own leaf");
      }
      values.push(null);
    }
    if (p.kind === "key" && values.length === 1 && values[0]) {
      const r = new Reader(values[0]);
      org = r.take(32);
      retired = r.flagged();
      r.done();
      expected.push(about(org));
    }
  }
  if (expected.length) fail("fewer map items than the query needs");
  const at = `at tree size ${cp.size} of ${vkey.name}`;
  // What the proof is about (its query line): callers must check it is what
  // they asked, or a valid proof about something else would pass.
  const facts = {
    checkpoint: cp,
    mapHeadIndex: p.index,
    kind: p.kind,
    subject: hex(p.subject),
    commitment: p.commitment,
    organization: org && hex(org),
  };
  let keyNote = "";
  if (p.kind === "key") {
    if (!values[0]) {
      const what = p.commitment ? `, so it endorses nothing, commitment ${p.commitment} included` : "";
      return { ...facts, status: "absent", line: `absent: key ${hex(p.subject)} belongs to no organization${what}, ${at}` };
    }
    facts.keyRetiredAt = retired;
    keyNote = retired === null ? `; key ${hex(p.subject)} is its current key` : `; key ${hex(p.subject)} was rotated out at entry ${retired}`;
  }
  const value = values[values.length - 1];
  const o = hex(org);
  if (p.commitment === null) {
    if (!value) return { ...facts, status: "absent", line: `absent: no organization ${o}, ${at}` };
    const rec = parseOrganization(value);
    const line = `current: organization ${o} (${JSON.stringify(rec.name)}) is registered with key ${hex(rec.currentKey)}, ${at}${keyNote}`;
    return { ...facts, status: "current", record: rec, line };
  }
  if (!value) {
    return { ...facts, status: "absent", line: `absent: organization ${o} has never endorsed commitment ${p.commitment}, ${at}${keyNote}` };
  }
  const r = new Reader(value);
  const [status, , endorsed, withdrawn, textSha] = [r.u8(), r.int(8), r.int(8), r.flagged(), r.take(32)];
  r.done();
  if (![1, 2].includes(status) || (status === 2) !== (withdrawn !== null)) fail("malformed signatory value");
  const signatory = { endorsedIndex: endorsed, withdrawnIndex: withdrawn, textSha256: hex(textSha) };
  if (withdrawn === null) {
    const line = `current: organization ${o} endorses commitment ${p.commitment} (entry ${endorsed}, text sha256 ${hex(textSha)}), ${at}${keyNote}`;
    return { ...facts, ...signatory, status: "current", line };
  }
  const line = `withdrawn: organization ${o} withdrew from commitment ${p.commitment} at entry ${withdrawn} (endorsed at entry ${endorsed}), ${at}${keyNote}`;
  return { ...facts, ...signatory, status: "withdrawn", line };
}
