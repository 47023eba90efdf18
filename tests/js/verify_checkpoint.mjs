// `node tests/js/verify_checkpoint.mjs VKEY_FILE POLICY_FILE NOTE_FILE`: the
// page's verifier on a checkpoint under a witness policy (SPEC.md §13), as
// the browser checks the checkpoint of every answer. Prints the size and
// the witnesses whose cosignatures verified, or why it refuses (exit 1).
import { readFileSync } from "node:fs";
import { VerifyError, parsePolicy, parseVkey, verifyCheckpoint } from "../../src/http/pages/verify.js";

const [vkeyFile, policyFile, noteFile] = process.argv.slice(2);
try {
  const vkey = await parseVkey(readFileSync(vkeyFile, "utf8"));
  const policy = await parsePolicy(readFileSync(policyFile, "utf8"));
  const cp = await verifyCheckpoint(readFileSync(noteFile, "utf8"), vkey, policy);
  console.log(`size ${cp.size} cosigned by ${cp.cosigners.join(", ")}`);
} catch (e) {
  if (!(e instanceof VerifyError)) throw e;
  console.error(`refused: ${e.message}`);
  process.exit(1);
}
