// Log entries (SPEC.md §5): parsed exactly (every field, no trailing
// bytes, valid UTF-8), and each signature checked strictly (§4) over the
// kind's tag ‖ body. The statement's content rules and the registry rules
// are checked by auditors over the whole log (§9), not here.
import { Reader, VerifyError, concat, verifyStrict } from "./verify.js";

const enc = new TextEncoder();
const TAGS = {
  1: "accord/v1/endorsement\0",
  2: "accord/v1/withdrawal\0",
  3: "accord/v1/key-rotation\0",
  4: "accord/v1/commitment\0",
  5: "accord/v1/verification\0",
  6: "accord/v1/verification-revocation\0",
};

/** Each kind's body fields in order (§3.1, §5.1–§5.7): [name, type]. */
const BODIES = {
  1: [
    ["commitment_id", "str"],
    ["commitment_sha256", 32],
    ["organization_name", "str"],
    ["stakeholder_group", "u8"],
    ["region", "u8"],
    ["country", "str"],
    ["domain", "str"],
    ["statement", "str"],
    ["signed_at", "u64"],
    ["public_key", 32],
  ],
  2: [
    ["organization_id", 32],
    ["commitment_id", "str"],
    ["signed_at", "u64"],
    ["public_key", 32],
  ],
  3: [
    ["organization_id", 32],
    ["old_public_key", 32],
    ["new_public_key", 32],
    ["signed_at", "u64"],
  ],
  4: [
    ["commitment_id", "str"],
    ["version", "str"],
    ["title", "str"],
    ["text_sha256", 32],
    ["url", "str"],
    ["signed_at", "u64"],
    ["public_key", 32],
  ],
  5: [
    ["organization_id", 32],
    ["name", "str"],
    ["stakeholder_group", "u8"],
    ["country", "str"],
    ["domain", "str"],
    ["method", "u8"],
    ["evidence_sha256", 32],
    ["signed_at", "u64"],
    ["public_key", 32],
  ],
  6: [
    ["organization_id", 32],
    ["reason", "str"],
    ["signed_at", "u64"],
    ["public_key", 32],
  ],
  7: [
    ["size", "u64"],
    ["root", 32],
  ],
};

/** The keys whose signatures a kind carries, in order (§5 table). */
const signers = (kind, f) =>
  kind === 7 ? [] : kind === 3 ? [f.old_public_key, f.new_public_key] : [f.public_key];

/** Parses a leaf: {kind, index, integratedAt, prevLeafHash, body, fields, signatures}. */
export function parseEntry(leaf) {
  const r = new Reader(leaf);
  const version = r.u8();
  const kind = r.u8();
  if (version !== 1 || !BODIES[kind]) {
    throw new VerifyError(`unsupported leaf version ${version} or kind ${kind}`);
  }
  const index = r.int(8);
  const integratedAt = r.int(8);
  const prevLeafHash = r.take(32);
  const body = r.take(Number(r.int(4)));
  const count = r.u8();
  const signatures = Array.from({ length: count }, () => r.take(64));
  r.done();
  const b = new Reader(body);
  const fields = {};
  for (const [name, type] of BODIES[kind]) {
    fields[name] = type === "str" ? b.str() : type === "u8" ? b.u8() : type === "u64" ? b.int(8) : b.take(type);
  }
  b.done();
  const want = signers(kind, fields).length;
  if (count !== want) throw new VerifyError(`kind ${kind} carries ${want} signature(s), found ${count}`);
  if (kind === 7 && fields.size !== index) {
    throw new VerifyError(`a map head reflects the entries before it: size ${fields.size} at index ${index}`);
  }
  return { kind, index, integratedAt, prevLeafHash, body, fields, signatures };
}

/** Parses a leaf and verifies each of its signatures; returns the parsed entry. */
export async function verifyEntry(leaf) {
  const e = parseEntry(leaf);
  const message = concat(enc.encode(TAGS[e.kind] || ""), e.body);
  for (const [i, key] of signers(e.kind, e.fields).entries()) {
    try {
      await verifyStrict(key, message, e.signatures[i]);
    } catch (err) {
      throw new VerifyError(`signature ${i + 1} of entry ${e.index}: ${err.message}`);
    }
  }
  return e;
}
