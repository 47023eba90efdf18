// `node tests/js/verify_proof.mjs VKEY_FILE PROOF_FILE`: the page's verifier
// on a registry proof file (SPEC.md §8.2), as tests/registry_proofs.rs
// runs `accord verify --registry-proof` and the Python verifier: prints the
// answer line and exits 0, or prints why it refuses and exits 1.
import { readFileSync } from "node:fs";
import { VerifyError, parseVkey } from "../../src/http/pages/verify.js";
import { verifyRegistryProof } from "../../src/http/pages/verify_registry.js";

const [vkeyFile, proofFile] = process.argv.slice(2);
try {
  const vkey = await parseVkey(readFileSync(vkeyFile, "utf8"));
  const r = await verifyRegistryProof(readFileSync(proofFile, "utf8"), vkey);
  console.log(r.line);
} catch (e) {
  if (!(e instanceof VerifyError)) throw e;
  console.error(`refused: ${e.message}`);
  process.exit(1);
}
