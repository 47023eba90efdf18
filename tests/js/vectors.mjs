// The page's JavaScript verifier (src/http/pages/verify*.js) against
// SPEC.md's vectors, ../shared/vectors (when given) and map-proof cases
// written by the Rust test. Run by tests/js_verifier.rs:
//   node tests/js/vectors.mjs SPEC.md [shared/vectors|-] [cases.json|-] [proofs.json|-]
// Prints one line per group of checks and "ALL AGREE" at the end; exits 1
// at the first disagreement.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import * as v from "../../src/http/pages/verify.js";
import { parseEntry, verifyEntry } from "../../src/http/pages/verify_entry.js";
import * as reg from "../../src/http/pages/verify_registry.js";

const [specPath, sharedDir = "-", casesPath = "-", proofsPath = "-"] = process.argv.slice(2);
const spec = readFileSync(specPath, "utf8");
const vec = {};
for (const m of spec.matchAll(/```vector ([a-z0-9.-]+)\n([\s\S]*?)```/g)) vec[m[1]] = m[2];
const hexv = (name) => v.fromHex(vec[name].replace(/\s/g, ""), name);

function check(cond, what) {
  if (!cond) {
    console.error(`DISAGREE: ${what}`);
    process.exit(1);
  }
}
async function refuses(promise, what) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof v.VerifyError) return e.message;
    throw e;
  }
  check(false, `accepted ${what}`);
}
const done = (what) => console.log(`ok: ${what}`);

// Checkpoints (§7) and the log key.
const vkey = await v.parseVkey(vec["log-vkey"].trim());
const cp2 = await v.verifyCheckpoint(vec.checkpoint, vkey);
const cp7 = await v.verifyCheckpoint(vec["log-checkpoint"], vkey);
check(cp2.size === 2n && cp7.size === 7n, "checkpoint sizes");
await refuses(v.verifyCheckpoint(vec.checkpoint.replace("\n2\n", "\n3\n"), vkey), "a changed checkpoint");
await refuses(v.parseVkey(vec["log-vkey"].trim().replace("+4e6779e3+", "+4e6779e4+")), "a wrong key ID");
done("checkpoints and vkey");

// Hashes (§6).
check(v.hex(await v.sha256(new Uint8Array())) === vec["empty-root"].trim(), "empty-root");
const lh = await v.leafHash(hexv("leaf"));
check(v.hex(lh) === vec["leaf-hash"].trim(), "leaf-hash");
check(v.hex(await v.nodeHash(lh, lh)) === vec["node-hash"].trim(), "node-hash");
done("RFC 6962 hashes");

// The vector log (§5): every leaf parses and verifies, the chain holds, the
// leaf hashes are the tile's, and the tree of them is log-checkpoint's.
const names = ["commitment-leaf", "leaf", "withdrawal-leaf", "key-rotation-leaf", "verification-leaf", "revocation-leaf", "map-head-leaf"];
const tile = vec["tile-0-000.p-7"].trim().split("\n");
let prev = new Uint8Array(32);
const hashes = [];
for (const [i, name] of names.entries()) {
  const leaf = hexv(name);
  const e = await verifyEntry(leaf);
  check(e.index === BigInt(i) && v.equal(e.prevLeafHash, prev), `${name}: index and chain`);
  prev = await v.leafHash(leaf);
  check(v.hex(prev) === tile[i], `${name}: leaf hash`);
  hashes.push(prev);
  const bad = leaf.slice();
  bad[bad.length - 1] ^= 1;
  if (e.kind !== 7) await refuses(verifyEntry(bad), `${name} with a changed signature`);
  await refuses(verifyEntry(leaf.slice(0, -1)), `${name} truncated`);
}
const mth = async (hs) => {
  if (hs.length === 1) return hs[0];
  let k = 1;
  while (k * 2 < hs.length) k *= 2;
  return v.nodeHash(await mth(hs.slice(0, k)), await mth(hs.slice(k)));
};
check(v.equal(await mth(hashes), cp7.root), "the vector log's root");
const endorsement = parseEntry(hexv("leaf"));
const tag = new TextEncoder().encode("accord/v1/endorsement\0");
check(v.hex(v.concat(tag, endorsement.body)) === v.hex(hexv("signed-message")), "signed-message");
check(v.hex(endorsement.signatures[0]) === v.hex(hexv("signature")), "signature");
check(v.hex(endorsement.fields.public_key) === vec["org-public-key"].trim(), "org-public-key");
const orgId = await v.sha256(v.concat(new TextEncoder().encode("accord/v1/organization-id\0"), endorsement.fields.public_key));
check(v.hex(orgId) === vec["organization-id"].trim(), "organization-id");
done("the vector log's seven entries");

// The receipt (§8): its proof leads from the endorsement to `checkpoint`.
const [head, note] = [vec.receipt.split("\n\n")[0], vec.receipt.slice(vec.receipt.indexOf("\n\n") + 2)];
const proof = head.split("\n").slice(2).map((l) => v.fromB64(l, "proof", 32));
const rcp = await v.verifyCheckpoint(note, vkey);
await v.verifyInclusion(1n, rcp.size, lh, proof, rcp.root);
await refuses(v.verifyInclusion(0n, rcp.size, lh, proof, rcp.root), "a receipt at another index");
done("receipt");

// The registry map and registry proof (§5.8, §8.2).
check(v.hex(await reg.mapEmptyHash()) === vec["map-empty-hash"].trim(), "map-empty-hash");
check(v.hex(await reg.mapKeyHash(hexv("signatory-map-key"))) === vec["signatory-key-hash"].trim(), "signatory-key-hash");
const org = reg.parseOrganization(hexv("organization-value"));
check(org.name === "Government of Estonia" && org.verified === null, "organization-value");
const rp = await reg.verifyRegistryProof(vec["registry-proof"], vkey);
const want = `withdrawn: organization ${vec["organization-id"].trim()} withdrew from commitment global-commitment-dts at entry 2 (endorsed at entry 1), at tree size 7 of accord.example/log`;
check(rp.line === want, `registry-proof answer: ${rp.line}`);
check(rp.kind === "organization" && rp.subject === vec["organization-id"].trim() && rp.commitment === "global-commitment-dts", "the proof says what it is about");
const proofLines = vec["registry-proof"].split("\n");
for (const [i, line] of proofLines.entries()) {
  if (i < 1 || line === "" || line.startsWith("\u2014")) continue;
  const changed = [...proofLines];
  changed[i] = line.startsWith("index ") ? "index 5" : line.replace(/[A-Za-z0-9]/, (c) => (c === "A" ? "B" : "A"));
  await refuses(reg.verifyRegistryProof(changed.join("\n"), vkey), `registry proof with line ${i} changed`);
}
await refuses(reg.verifyRegistryProof(vec["registry-proof"].replace("index 6", "index 06"), vkey), "a non-canonical proof");
done("registry map and registry proof");

// Witness cosignatures and policies (§13).
const wkey = "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
const policy = await v.parsePolicy(`# test\nlog ${vec["log-vkey"].trim()}\nwitness w1 ${wkey} http://w.example\nquorum w1\n`);
const cosigned = vec["log-checkpoint"] + vec["cosignature-line"];
const q = await v.verifyCheckpoint(cosigned, vkey, policy);
check(q.cosigners.join() === "w1", "the cosigned checkpoint meets the quorum");
await refuses(v.verifyCheckpoint(vec["log-checkpoint"], vkey, policy), "a checkpoint without cosignatures");
await refuses(v.verifyCheckpoint(cosigned.replace("qkoJ0Q", "qkoJ0R"), vkey, policy), "a bad cosignature");
// The worked example of §13: the tlog-cosignature spec's checkpoint text.
const example = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const line = "qkoJ0QAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw==";
const w = await v.parseVkey(wkey, v.ALG_COSIGNATURE, "witness key");
const blob = v.fromB64(line, "line", 76);
await v.verifyStrict(w.key, new TextEncoder().encode(`cosignature/v1\ntime 1679315147\n${example}`), blob.subarray(12));
for (const bad of ["quorum w1\n", `witness w1 ${wkey}\nwitness w1 ${wkey}\nquorum w1\n`, `group g 2 none\nquorum g\n`]) {
  await refuses(v.parsePolicy(bad), `policy ${JSON.stringify(bad)}`);
}
done("cosignatures and policies");

// Strict Ed25519 (§4): what plain Ed25519 may accept and SPEC refuses.
const msg = new TextEncoder().encode("m");
const identity = v.fromHex("01" + "00".repeat(31), "identity");
await refuses(v.verifyStrict(identity, msg, v.concat(identity, new Uint8Array(32))), "the identity key");
const sig = endorsement.signatures[0];
const signed = v.concat(tag, endorsement.body);
await v.verifyStrict(endorsement.fields.public_key, signed, sig);
// S + ℓ: the same signature with a non-canonical S.
let s = sig.subarray(32).reduceRight((x, b) => (x << 8n) | BigInt(b), 0n) + 2n ** 252n + 27742317777372353535851937790883648493n;
const sPlus = new Uint8Array(32).map(() => {
  const b = Number(s & 255n);
  s >>= 8n;
  return b;
});
await refuses(v.verifyStrict(endorsement.fields.public_key, signed, v.concat(sig.subarray(0, 32), sPlus)), "a non-canonical S");
// Small-order R (the order-4 point of encoding 00…00) and a non-canonical key (y = p).
await refuses(v.verifyStrict(endorsement.fields.public_key, signed, v.concat(new Uint8Array(32), sig.subarray(32))), "a small-order R");
const yIsP = v.fromHex("ed" + "ff".repeat(30) + "7f", "p");
await refuses(v.verifyStrict(yIsP, signed, sig), "a non-canonical key");
for (const order8 of ["c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"]) {
  await refuses(v.verifyStrict(v.fromHex(order8, "k"), signed, sig), "an order-8 key");
}
done("strict Ed25519");

// ../shared/vectors: signed notes and RFC 6962 inclusion proofs.
if (sharedDir === "-") {
  console.log("SKIPPED: ../shared/vectors not found");
} else {
  const sn = JSON.parse(readFileSync(join(sharedDir, "signed-note.json"), "utf8"));
  for (const c of [].concat(sn.valid)) {
    const k = await v.parseVkey(c.verifier_key);
    const { text } = await v.openNote(c.signed_note, k);
    check(text === c.text, `signed note ${c.source}`);
  }
  for (const c of [].concat(sn.invalid_verifier_keys)) await refuses(v.parseVkey(c.key), `verifier key (${c.why})`);
  let n = 0;
  const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  for (const f of walk(join(sharedDir, "merkle/testdata/inclusion")).filter((f) => f.endsWith(".json"))) {
    const c = JSON.parse(readFileSync(f, "utf8"));
    const dec = (s) => Uint8Array.from(atob(s || ""), (x) => x.charCodeAt(0));
    const run = v.verifyInclusion(BigInt(c.leafIdx), BigInt(c.treeSize), dec(c.leafHash), (c.proof || []).map(dec), dec(c.root));
    let err = false;
    try {
      await run;
      if (dec(c.leafHash).length !== 32 || dec(c.root).length !== 32) err = true;
    } catch {
      err = true;
    }
    check(err === c.wantErr, `inclusion vector ${f}`);
    n += 1;
  }
  done(`../shared/vectors: signed notes and ${n} inclusion vectors`);
}

// Map proofs over random keys and registry proofs made by the Rust server.
if (casesPath !== "-") {
  const doc = JSON.parse(readFileSync(casesPath, "utf8"));
  const root = v.fromHex(doc.root, "root");
  for (const [i, c] of doc.cases.entries()) {
    const t = c.terminal && [v.fromHex(c.terminal[0], "k"), v.fromHex(c.terminal[1], "vh")];
    let got;
    try {
      const r = await reg.verifyMapProof(root, v.fromHex(c.key, "key"), c.siblings.map((s) => v.fromHex(s, "s")), t);
      got = r === null ? "absent" : v.hex(r);
    } catch (e) {
      if (!(e instanceof v.VerifyError)) throw e;
      got = "fail";
    }
    check(got === c.expect, `map case ${i}: expected ${c.expect}, got ${got}`);
  }
  done(`${doc.cases.length} map-proof cases`);
}
if (proofsPath !== "-") {
  const doc = JSON.parse(readFileSync(proofsPath, "utf8"));
  const k = await v.parseVkey(doc.vkey);
  for (const c of doc.proofs) {
    const r = await reg.verifyRegistryProof(c.proof, k);
    check(r.line === c.line, `registry proof: JS says ${r.line}, Rust says ${c.line}`);
  }
  done(`${doc.proofs.length} registry proofs from the Rust server`);
}
console.log("ALL AGREE");
