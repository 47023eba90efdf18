#!/usr/bin/env python3
"""Independent verifier for Accord receipts and checkpoints, written from SPEC.md.

Uses only the Python standard library and the `cryptography` package.

    accord_verify.py receipt --vkey VKEY --entry FILE.entry --proof FILE.tlog-proof [--policy POLICY]
    accord_verify.py consistency --vkey VKEY --old OLD_CHECKPOINT --new NEW_CHECKPOINT --proof PROOF [--policy POLICY]
    accord_verify.py registry-proof --vkey VKEY --proof FILE [--policy POLICY]   (accord-registry-proof/v1)

VKEY is the log's verifier key (name+keyid+base64) or a file holding it. A
consistency PROOF file holds one base64 hash per line. POLICY is a C2SP
tlog-policy file (SPEC.md §13) that must list VKEY: with it, the checkpoint
(for consistency, the new one) must also carry witness cosignatures meeting
the policy's quorum. Exit status: 0 if everything verifies, 1 if anything
does not, 2 for bad usage (including an unreadable or invalid POLICY).
"""
import argparse
import base64
import hashlib
import os
import struct
import sys
import unicodedata

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class VerifyError(Exception):
    pass


class UsageError(Exception):
    """Bad usage (exit status 2), e.g. a policy file that does not parse."""


def sha256(data):
    return hashlib.sha256(data).digest()


# --- Strict Ed25519 (SPEC.md §4) --------------------------------------------
# cryptography (OpenSSL) checks S < L and the cofactorless equation, comparing
# R by its encoding. SPEC §4 also requires canonical, non-small-order A and a
# non-small-order R; those checks use the RFC 8032 curve arithmetic below.
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _decode_point(b):
    """RFC 8032 §5.1.3 point decoding; None if not a valid point encoding."""
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        if sign:
            return None
        return (0, y, 1, 0)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _is_small_order(pt):
    for _ in range(3):  # [8]P
        pt = _add(pt, pt)
    return pt[0] % P == 0 and (pt[1] - pt[2]) % P == 0


def parse_public_key(b):
    """A canonical, non-weak Ed25519 key (SPEC §4 rule 1)."""
    if len(b) != 32:
        raise VerifyError("public key must be 32 bytes")
    pt = _decode_point(b)
    if pt is None:
        raise VerifyError("public key is not a canonical curve point")
    if _is_small_order(pt):
        raise VerifyError("public key is a weak (small-order) key")
    return b


def verify_strict(public_key, message, signature):
    parse_public_key(public_key)
    if len(signature) != 64:
        raise VerifyError("signature must be 64 bytes")
    r = _decode_point(signature[:32])
    if r is None or _is_small_order(r):
        raise VerifyError("signature R is invalid or of small order")
    if int.from_bytes(signature[32:], "little") >= L:
        raise VerifyError("signature S is not canonical")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        raise VerifyError("Ed25519 signature does not verify") from None


# --- Signed notes and checkpoints (SPEC.md §7) -------------------------------
def parse_vkey(s):
    parts = s.strip().split("+", 2)
    if len(parts) != 3:
        raise VerifyError("verifier key must be name+keyid+key")
    name, key_id, key_b64 = parts
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise VerifyError("verifier key must be an Ed25519 key (0x01 + 32 bytes)")
    want = sha256(name.encode() + b"\n" + raw)[:4]
    if key_id != want.hex():
        raise VerifyError("verifier key ID does not match name and key")
    return name, want, parse_public_key(raw[1:])


def open_note(note, vkey):
    """Returns the note text if a signature line by vkey verifies."""
    name, key_id, public_key = vkey
    split = note.rfind("\n\n")
    if split < 0:
        raise VerifyError("note has no blank line before its signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs.endswith("\n"):
        raise VerifyError("note signatures must end with a newline")
    verified = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise VerifyError("malformed signature line")
        signer, _, blob_b64 = line[2:].partition(" ")
        blob = base64.b64decode(blob_b64, validate=True)
        if signer != name or blob[:4] != key_id:
            continue  # another key, e.g. a witness
        verify_strict(public_key, text.encode(), blob[4:])
        verified = True
    if not verified:
        raise VerifyError("no valid signature by the log key")
    return text


def parse_checkpoint(text, vkey):
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise VerifyError("checkpoint must have exactly three lines")
    origin, size, root_b64 = lines[:3]
    if origin != vkey[0]:
        raise VerifyError("checkpoint origin does not match the log key name")
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise VerifyError("checkpoint size is not a canonical decimal")
    root = base64.b64decode(root_b64, validate=True)
    if len(root) != 32:
        raise VerifyError("checkpoint root must be 32 bytes")
    return int(size), root


def open_checkpoint(note, vkey):
    return parse_checkpoint(open_note(note, vkey), vkey)


# --- Witness cosignatures and policies (SPEC.md §13) ------------------------
# A witness cosigns a checkpoint only if it is consistent with what it cosigned
# before, so a verifier that requires a quorum of cosignatures cannot be shown
# a history the witnesses did not see (a split view). The rules below follow
# C2SP tlog-cosignature (Ed25519 cosignature/v1) and C2SP tlog-policy, as
# Accord's core::cosignature and core::policy implement them.
ALG_CHECKPOINT = 0x01  # signed-note Ed25519 keys (SPEC §7)
ALG_COSIGNATURE_V1 = 0x04  # cosignature/v1 keys: the type byte is hashed into the key ID
COSIGNATURE_LEN = 4 + 8 + 64  # key ID, timestamp (u64 big-endian), Ed25519 signature
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature's bound on the timestamp
MAX_SIGNATURES = 100  # signature lines per note, as Go's note package and core::note
# Unicode White_Space (what Rust's char::is_whitespace tests): str.isspace()
# differs (it counts U+001C..U+001F), and names must be judged the same way
# by both verifiers.
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# Policies are refused past these (tlog-policy recommends supporting 32 of each).
POLICY_MAX_LOGS = POLICY_MAX_WITNESSES = POLICY_MAX_GROUPS = 64


def _valid_key_name(name):
    """A signed-note key name: non-empty, no white space, no `+`."""
    return bool(name) and not any(c in WHITE_SPACE or c == "+" for c in name)


def _b64_canonical(s, what):
    """Base64 as Accord's Rust decoder takes it: padded, standard alphabet, and
    no stray bits in the last character (so each value has one spelling)."""
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:
        raise VerifyError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != s:
        raise VerifyError(f"{what} is not canonical base64")
    return raw


def _parse_typed_vkey(s, alg, what):
    """A vkey `name+keyid+base64(alg ‖ 32-byte key)`, parsed as core::note /
    core::cosignature do; returns (name, key ID, public key) like parse_vkey."""
    parts = s.rstrip(WHITE_SPACE).split("+", 2)
    if len(parts) != 3:
        raise VerifyError(f"{what}: expected name+keyid+key")
    name, key_id, key_b64 = parts
    if not _valid_key_name(name):
        raise VerifyError(f"{what}: invalid key name {name!r}")
    if len(key_id) != 8 or any(c not in "0123456789abcdef" for c in key_id):
        raise VerifyError(f"{what}: key ID must be 8 lowercase hex digits")
    raw = _b64_canonical(key_b64, f"{what}: the key")
    if len(raw) != 33 or raw[0] != alg:
        raise VerifyError(f"{what}: not an Ed25519 key of type 0x{alg:02x} (0x{alg:02x} + 32 bytes)")
    public_key = parse_public_key(raw[1:])
    want = sha256(name.encode() + b"\n" + raw)[:4]
    if key_id != want.hex():
        raise VerifyError(f"{what}: key ID does not match name and key")
    return name, want, public_key


def parse_cosignature_vkey(s):
    """A witness's vkey `name+keyid+base64(0x04 ‖ key)` (SPEC §13); returns
    (name, key ID, public key). Key ID = SHA-256(name ‖ "\\n" ‖ 0x04 ‖ key)[:4]:
    with the type byte in it, the same key as a checkpoint key (0x01) has
    another key ID, so log signatures never pass for cosignatures."""
    return _parse_typed_vkey(s, ALG_COSIGNATURE_V1, "witness key")


def format_vkey(vkey, alg):
    name, key_id, public_key = vkey
    return f"{name}+{key_id.hex()}+{base64.b64encode(bytes([alg]) + public_key).decode()}"


def cosignature_message(note_text, timestamp):
    """What a cosignature/v1 signs: a header line, the time line, then the
    checkpoint's note text (its lines up to the blank line, each ending in
    a newline; no signature lines)."""
    return f"cosignature/v1\ntime {timestamp}\n{note_text}".encode()


def verify_cosignature_line(note_text, line_payload_bytes, vkey):
    """Verifies the decoded payload of a cosignature line (key ID ‖
    timestamp:u64 big-endian ‖ signature) by witness `vkey` over `note_text`,
    with the same strict Ed25519 rule as log signatures (SPEC §4). Returns the
    timestamp. The caller picks the lines by the witness's name and key ID;
    a payload with another key ID is refused here."""
    name, key_id, public_key = vkey
    if len(line_payload_bytes) != COSIGNATURE_LEN:
        raise VerifyError(f"cosignature by {name}: a cosignature/v1 is 76 bytes "
                          f"(key ID, timestamp, signature), not {len(line_payload_bytes)}")
    if line_payload_bytes[:4] != key_id:
        raise VerifyError(f"cosignature by {name}: key ID {line_payload_bytes[:4].hex()} is not the witness's {key_id.hex()}")
    timestamp = int.from_bytes(line_payload_bytes[4:12], "big")
    if timestamp > MAX_TIMESTAMP:
        raise VerifyError(f"cosignature by {name}: timestamp above 2^63 - 1")
    try:
        verify_strict(public_key, cosignature_message(note_text, timestamp), line_payload_bytes[12:])
    except VerifyError as e:
        raise VerifyError(f"cosignature by {name} does not verify: {e}") from None
    return timestamp


def signature_lines(note):
    """The (key name, decoded payload) of each signature line of a signed
    note, checked as core::note checks them: an em dash and a space, a valid
    key name, one space, canonical base64 of at least a 4-byte key ID, at
    most 100 lines. open_note skips unknown lines more leniently; these checks
    make a note that Accord's own verifier refuses fail here too."""
    split = note.rfind("\n\n")
    if split < 0:
        raise VerifyError("note has no blank line before its signatures")
    sigs = note[split + 2 :]
    if not sigs.endswith("\n"):
        raise VerifyError("note signatures must end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerifyError(f"note has more than {MAX_SIGNATURES} signature lines")
    out = []
    for line in lines:
        if not line.startswith("\u2014 "):
            raise VerifyError("malformed signature line: it must start with an em dash and a space")
        name, sep, blob_b64 = line[2:].partition(" ")
        if not sep or not _valid_key_name(name) or " " in blob_b64:
            raise VerifyError(f"malformed signature line {line!r}")
        blob = _b64_canonical(blob_b64, f"the signature by {name}")
        if len(blob) < 4:
            raise VerifyError(f"the signature by {name} is shorter than its key ID")
        out.append((name, blob))
    return out


class Policy:
    """A parsed C2SP tlog-policy. `logs` holds (vkey, url) pairs, `witnesses`
    (policy name, vkey, url) triples, and `quorum` a rule: ("none",),
    ("witness", index into witnesses) or ("group", name, k, [member rules])."""

    def __init__(self, logs, witnesses, quorum):
        self.logs, self.witnesses, self.quorum = logs, witnesses, quorum


def parse_policy(text):
    """Parses a tlog-policy file strictly, as core::policy does: `log <vkey>
    [url]`, `witness <name> <vkey> [url]`, `group <name> <all|any|k>
    <names…>`, exactly one `quorum <name|none>`; `#` comments and blank lines
    ignored; words split on spaces and tabs only. Names (witnesses and groups
    share one namespace, `none` is reserved) must be defined before use and
    only once; a group lists each member once; k is canonical decimal with
    1 ≤ k ≤ members; no two logs or two witnesses with the same public key.
    Refusing what is odd keeps two verifiers from reading one policy two ways."""
    for c in text:
        if (ord(c) < 0x20 and c not in "\t\n") or ord(c) == 0x7F:
            raise VerifyError(f"policy: control character 0x{ord(c):02x}")
    logs, witnesses, names = [], [], {}
    groups, quorum = 0, None

    def define(name, rule):
        if name == "none" or name in names:
            raise VerifyError(f"the name {name!r} is reserved or already defined")
        names[name] = rule

    for n, line in enumerate(text.split("\n"), 1):
        words = [w for w in line.replace("\t", " ").split(" ") if w]
        if not words or words[0].startswith("#"):
            continue
        keyword, args = words[0], words[1:]
        try:
            if keyword == "log" and 1 <= len(args) <= 2:
                vkey = _parse_typed_vkey(args[0], ALG_CHECKPOINT, "log key")
                if any(log[0][2] == vkey[2] for log in logs):
                    raise VerifyError("a duplicate log key")
                logs.append((vkey, args[1] if len(args) == 2 else None))
            elif keyword == "witness" and 2 <= len(args) <= 3:
                name = args[0]
                vkey = parse_cosignature_vkey(args[1])
                if any(w[1][2] == vkey[2] for w in witnesses):
                    raise VerifyError("a duplicate witness key")
                define(name, ("witness", len(witnesses)))
                # The URL is the submission prefix (tlog-witness); the log POSTs to <url>/add-checkpoint.
                witnesses.append((name, vkey, args[2].rstrip("/") if len(args) == 3 else None))
            elif keyword == "group" and len(args) >= 3:
                name, k, members = args[0], args[1], args[2:]
                rules, seen = [], set()
                for m in members:
                    if m == "none" or m in seen:
                        raise VerifyError(f"member {m!r} is `none` or listed twice")
                    seen.add(m)
                    if m not in names:
                        raise VerifyError(f"{m!r} is not defined above")
                    rules.append(names[m])
                if k == "all":
                    k = len(rules)
                elif k == "any":
                    k = 1
                elif k.isascii() and k.isdigit() and str(int(k)) == k and 1 <= int(k) <= len(rules):
                    k = int(k)
                else:
                    raise VerifyError("the threshold must be all, any or 1 ≤ k ≤ members")
                groups += 1
                define(name, ("group", name, k, rules))
            elif keyword == "quorum" and len(args) == 1:
                if quorum is not None:
                    raise VerifyError("a second quorum line")
                if args[0] == "none":
                    quorum = ("none",)
                elif args[0] in names:
                    quorum = names[args[0]]
                else:
                    raise VerifyError(f"{args[0]!r} is not defined above")
            else:
                raise VerifyError("expected `log <vkey> [url]`, `witness <name> <vkey> [url]`, "
                                  "`group <name> <all|any|k> <names…>` or `quorum <name>`")
            if len(logs) > POLICY_MAX_LOGS or len(witnesses) > POLICY_MAX_WITNESSES or groups > POLICY_MAX_GROUPS:
                raise VerifyError("more than 64 logs, witnesses or groups")
        except VerifyError as e:
            raise VerifyError(f"policy line {n}: {e}") from None
    if quorum is None:
        raise VerifyError("policy: no quorum line")
    return Policy(logs, witnesses, quorum)


def _quorum_holds(rule, cosigned):
    if rule[0] == "none":
        return True
    if rule[0] == "witness":
        return rule[1] in cosigned
    return sum(_quorum_holds(m, cosigned) for m in rule[3]) >= rule[2]


def _rule_name(rule, policy):
    return policy.witnesses[rule[1]][0] if rule[0] == "witness" else rule[1]


def _quorum_shortfall(rule, cosigned, policy):
    """Why `rule` does not hold: which witness did not cosign, or which group
    lacks how many of its members (and, within it, why those fail)."""
    if rule[0] == "witness":
        return f"witness {_rule_name(rule, policy)} has not cosigned"
    _, name, k, members = rule
    failing = [m for m in members if not _quorum_holds(m, cosigned)]
    have = len(members) - len(failing)
    why = "; ".join(_quorum_shortfall(m, cosigned, policy) for m in failing)
    n = f"{len(members)} member" + ("s" if len(members) > 1 else "")
    return f"group {name} needs {k} of its {n} and has {have}, so lacks {k - have} [{why}]"


def check_policy(note, policy):
    """Checks a signed checkpoint note against a witness policy (SPEC §13, C2SP
    tlog-policy): it must be signed by one of the policy's logs and carry valid
    cosignatures meeting the quorum. Lines by keys outside the policy are
    ignored; a line by a policy witness (its key name and key ID) that does not
    verify makes the note invalid, as signed-note says of known keys. Returns
    (note text, names of the witnesses whose cosignatures verified)."""
    if not policy.logs:
        raise VerifyError("the policy lists no log")
    failures = []
    for vkey, _url in policy.logs:
        try:
            text = open_note(note, vkey)
            break
        except VerifyError as e:
            failures.append(f"{format_vkey(vkey, ALG_CHECKPOINT)}: {e}")
    else:
        raise VerifyError(f"the note is signed by none of the policy's logs ({'; '.join(failures)})")
    cosigned = set()
    for name, blob in signature_lines(note):
        for i, (policy_name, vkey, _url) in enumerate(policy.witnesses):
            if name == vkey[0] and blob[:4] == vkey[1]:
                try:
                    verify_cosignature_line(text, blob, vkey)
                except VerifyError as e:
                    raise VerifyError(f"witness {policy_name}: {e}, so the note is invalid") from None
                cosigned.add(i)
    names = [policy.witnesses[i][0] for i in sorted(cosigned)]
    if not _quorum_holds(policy.quorum, cosigned):
        got = ", ".join(names) if names else "none"
        raise VerifyError(f"the cosignatures do not meet the quorum (valid ones by: {got}): "
                          f"{_quorum_shortfall(policy.quorum, cosigned, policy)}")
    return text, names


# --- Merkle proofs (SPEC.md §6, RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------
def leaf_hash(leaf):
    return sha256(b"\x00" + leaf)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def _decompose(index, size):
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        raise VerifyError("index is beyond the tree size")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise VerifyError("inclusion proof has the wrong length")
    h = leaf
    for i, p in enumerate(proof):
        if i < inner and (index >> i) & 1 == 0:
            h = node_hash(h, p)
        else:
            h = node_hash(p, h)
    if h != root:
        raise VerifyError("inclusion proof does not lead to the checkpoint root")


def verify_consistency(size1, size2, proof, root1, root2):
    if size2 < size1:
        raise VerifyError("the tree shrank")
    if size1 == 0:
        raise VerifyError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof or root1 != root2:
            raise VerifyError("equal sizes need an empty proof and equal roots")
        return
    if not proof:
        raise VerifyError("empty consistency proof")
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, rest = root1, proof
    else:
        seed, rest = proof[0], proof[1:]
    if len(rest) != inner + border:
        raise VerifyError("consistency proof has the wrong length")
    mask = (size1 - 1) >> shift
    h1, h2 = seed, seed
    for i, p in enumerate(rest[:inner]):
        if (mask >> i) & 1:
            h1 = node_hash(p, h1)
            h2 = node_hash(p, h2)
        else:
            h2 = node_hash(h2, p)
    for p in rest[inner:]:
        h1 = node_hash(p, h1)
        h2 = node_hash(p, h2)
    if h1 != root1 or h2 != root2:
        raise VerifyError("consistency proof does not lead to both roots")


# --- Entries (SPEC.md §3 and §5) --------------------------------------------
TAGS = {
    1: b"accord/v1/endorsement\x00",
    2: b"accord/v1/withdrawal\x00",
    3: b"accord/v1/key-rotation\x00",
    4: b"accord/v1/commitment\x00",
    5: b"accord/v1/verification\x00",
    6: b"accord/v1/verification-revocation\x00",
}
SLUG = set("abcdefghijklmnopqrstuvwxyz0123456789-")
COUNTRIES = set(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS "
    "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE "
    "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC "
    "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA "
    "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW".split()
)


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise VerifyError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def int(self, n):
        return int.from_bytes(self.take(n), "big")

    def str(self):
        return self.take(self.int(2)).decode("utf-8")

    def done(self):
        if self.pos != len(self.data):
            raise VerifyError("trailing bytes")


def _no_controls(s, allow_newline=False):
    return all(not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) or (allow_newline and c == "\n") for c in s)


# SPEC §3.4, the name rule: from this integrated_at (seconds) on.
NAME_RULE_FROM = 1796083200  # 2026-12-01T00:00:00Z
BIDI_CONTROLS = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
# Default_Ignorable_Code_Point, Unicode 16.0.0 DerivedCoreProperties.txt.
DEFAULT_IGNORABLE = [(0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
                     (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
                     (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
                     (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF)]


def check_name_rule(s, what, now):
    """SPEC §3.4 for entries integrated from NAME_RULE_FROM on: no bidi controls, no other
    default-ignorable code points except ZWNJ/ZWJ after a virama (RFC 5892 A.1/A.2), NFC.
    Python has no Joining_Type data, so ZWNJ's joining-letter context (A.1's second
    clause) is accepted without checking: this verifier is laxer there than §3.4."""
    if now < NAME_RULE_FROM:
        return
    for i, c in enumerate(s):
        cp = ord(c)
        if cp in BIDI_CONTROLS:
            raise VerifyError(f"{what}: U+{cp:04X} is a bidirectional control")
        if cp in (0x200C, 0x200D):
            after_virama = i > 0 and unicodedata.combining(s[i - 1]) == 9
            if after_virama or cp == 0x200C:
                continue
            raise VerifyError(f"{what}: U+{cp:04X} outside RFC 5892 CONTEXTJ")
        if any(lo <= cp <= hi for lo, hi in DEFAULT_IGNORABLE):
            raise VerifyError(f"{what}: U+{cp:04X} is a default-ignorable code point")
    if unicodedata.normalize("NFC", s) != s:
        raise VerifyError(f"{what} is not in Unicode NFC")


def check_endorsement(body, now):
    """Parses an endorsement body and applies SPEC §3.1's rules; returns its fields."""
    r = Reader(body)
    e = {
        "commitment_id": r.str(), "commitment_sha256": r.take(32), "organization_name": r.str(),
        "stakeholder_group": r.u8(), "region": r.u8(), "country": r.str(), "domain": r.str(),
        "statement": r.str(), "signed_at": r.int(8), "public_key": r.take(32),
    }
    r.done()
    check_slug(e["commitment_id"])
    name = e["organization_name"]
    if not (1 <= len(name) <= 200) or not _no_controls(name) or name != name.strip():
        raise VerifyError("organization_name breaks the rules")
    check_name_rule(name, "organization_name", now)
    if not (1 <= e["stakeholder_group"] <= 6) or not (1 <= e["region"] <= 6):
        raise VerifyError("unknown stakeholder group or region code")
    if e["country"] and e["country"] not in COUNTRIES:
        raise VerifyError("country is not an ISO 3166-1 alpha-2 code")
    check_domain(e["domain"])
    if e["statement"] and (len(e["statement"]) > 2000 or not _no_controls(e["statement"], True)):
        raise VerifyError("statement breaks the rules")
    if e["signed_at"] > now + 300:
        raise VerifyError("signed_at is more than 300 s after integration")
    parse_public_key(e["public_key"])
    return e


def check_domain(d):
    labels = d.split(".")
    if d and (len(d) > 253 or len(labels) < 2 or any(
            not (1 <= len(l) <= 63) or l[0] == "-" or l[-1] == "-" or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in l)
            for l in labels)):
        raise VerifyError("domain is not a lowercase domain name")


def check_slug(cid):
    if not (1 <= len(cid) <= 64) or cid[0] == "-" or cid[-1] == "-" or any(c not in SLUG for c in cid):
        raise VerifyError("commitment_id is not a valid slug")


def check_time(signed_at, now):
    if signed_at > now + 300:
        raise VerifyError("signed_at is more than 300 s after integration")


def check_label(s, limit, what):
    if not (1 <= len(s) <= limit) or not _no_controls(s) or s != s.strip():
        raise VerifyError(f"{what} breaks the rules")


def check_withdrawal(body, now):
    r = Reader(body)
    f = {"organization_id": r.take(32), "commitment_id": r.str(), "signed_at": r.int(8), "public_key": r.take(32)}
    r.done()
    check_slug(f["commitment_id"])
    check_time(f["signed_at"], now)
    return f, [f["public_key"]]


def check_rotation(body, now):
    r = Reader(body)
    f = {"organization_id": r.take(32), "old_public_key": r.take(32), "new_public_key": r.take(32), "signed_at": r.int(8)}
    r.done()
    if f["old_public_key"] == f["new_public_key"]:
        raise VerifyError("a rotation must change the key")
    check_time(f["signed_at"], now)
    return f, [f["old_public_key"], f["new_public_key"]]


def check_commitment(body, now):
    r = Reader(body)
    f = {"commitment_id": r.str(), "version": r.str(), "title": r.str(), "text_sha256": r.take(32),
         "url": r.str(), "signed_at": r.int(8), "public_key": r.take(32)}
    r.done()
    check_slug(f["commitment_id"])
    check_label(f["version"], 32, "version")
    check_label(f["title"], 200, "title")
    check_name_rule(f["version"], "version", now)
    check_name_rule(f["title"], "title", now)
    url = f["url"]
    if url and (not url.startswith(("http://", "https://")) or len(url.encode()) > 2000
                or any(c.isspace() for c in url) or not _no_controls(url)):
        raise VerifyError("url breaks the rules")
    check_time(f["signed_at"], now)
    return f, [f["public_key"]]


def check_verification(body, now):
    """SPEC §5.5: the operator vouches for an organization."""
    r = Reader(body)
    f = {"organization_id": r.take(32), "name": r.str(), "stakeholder_group": r.u8(), "country": r.str(),
         "domain": r.str(), "method": r.u8(), "evidence_sha256": r.take(32), "signed_at": r.int(8),
         "public_key": r.take(32)}
    r.done()
    name = f["name"]
    if not (1 <= len(name) <= 200) or not _no_controls(name) or name != name.strip():
        raise VerifyError("name breaks the rules")
    check_name_rule(name, "name", now)
    if not (1 <= f["stakeholder_group"] <= 6) or not (1 <= f["method"] <= 3):
        raise VerifyError("unknown stakeholder group or method code")
    if f["country"] and f["country"] not in COUNTRIES:
        raise VerifyError("country is not an ISO 3166-1 alpha-2 code")
    check_domain(f["domain"])
    if f["method"] == 1 and not f["domain"]:
        raise VerifyError("the domain method needs the domain it checked")
    check_time(f["signed_at"], now)
    return f, [f["public_key"]]


def check_revocation(body, now):
    """SPEC §5.6: the operator withdraws its verification."""
    r = Reader(body)
    f = {"organization_id": r.take(32), "reason": r.str(), "signed_at": r.int(8), "public_key": r.take(32)}
    r.done()
    if not (1 <= len(f["reason"]) <= 500) or not _no_controls(f["reason"]):
        raise VerifyError("reason breaks the rules")
    check_time(f["signed_at"], now)
    return f, [f["public_key"]]


def check_entry(leaf):
    """Parses a leaf (SPEC §5) and verifies its statement; returns (index, kind, fields)."""
    r = Reader(leaf)
    version, kind = r.u8(), r.u8()
    if version == 1 and kind == 7:
        index, size, root = parse_map_head(leaf)
        return index, kind, {"size": size, "root": root}
    if version != 1 or kind not in TAGS:
        raise VerifyError(f"unsupported leaf version {version} or kind {kind}")
    index, integrated_at_ms = r.int(8), r.int(8)
    r.take(32)  # prev_leaf_hash: checked by auditors across consecutive entries
    body = r.take(r.int(4))
    signatures = [r.take(64) for _ in range(r.u8())]
    r.done()
    now = integrated_at_ms // 1000
    if kind == 1:
        fields = check_endorsement(body, now)
        signers = [fields["public_key"]]
    else:
        checks = {2: check_withdrawal, 3: check_rotation, 4: check_commitment, 5: check_verification,
                  6: check_revocation}
        fields, signers = checks[kind](body, now)
    if len(signatures) != len(signers):
        raise VerifyError(f"kind {kind} carries {len(signers)} signature(s), found {len(signatures)}")
    for key, signature in zip(signers, signatures):
        verify_strict(key, TAGS[kind] + body, signature)
    return index, kind, fields


def describe(kind, f):
    if kind == 7:
        return f"the log's registry map after {f['size']} entries has root {f['root'].hex()}"
    if kind == 1:
        return f"{f['organization_name']!r} endorses {f['commitment_id']}"
    if kind == 2:
        return f"organization {f['organization_id'].hex()} withdraws from {f['commitment_id']}"
    if kind == 3:
        return f"organization {f['organization_id'].hex()} rotates its key to {f['new_public_key'].hex()}"
    if kind == 5:
        return f"the operator verifies organization {f['organization_id'].hex()} as {f['name']!r}"
    if kind == 6:
        return f"the operator revokes its verification of organization {f['organization_id'].hex()}: {f['reason']}"
    return f"the operator registers {f['commitment_id']} version {f['version']!r}"


# --- Receipts (SPEC.md §8) ----------------------------------------------------
def verify_receipt(leaf, receipt, vkey):
    head, sep, note = receipt.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != "c2sp.org/tlog-proof@v1":
        raise VerifyError("not a c2sp.org/tlog-proof@v1 receipt")
    lines = lines[1:]
    if lines and lines[0].startswith("extra "):
        lines = lines[1:]  # unauthenticated; Accord writes none
    if not lines or not lines[0].startswith("index "):
        raise VerifyError("receipt has no index line")
    idx = lines[0][6:]
    if not idx.isdigit() or (idx != "0" and idx.startswith("0")):
        raise VerifyError("receipt index is not a canonical decimal")
    proof = [base64.b64decode(l, validate=True) for l in lines[1:]]
    if any(len(p) != 32 for p in proof):
        raise VerifyError("proof hashes must be 32 bytes")
    size, root = open_checkpoint(note, vkey)
    entry_index, kind, fields = check_entry(leaf)
    if entry_index != int(idx):
        raise VerifyError("the entry's index differs from the receipt's")
    verify_inclusion(int(idx), size, leaf_hash(leaf), proof, root)
    return entry_index, size, describe(kind, fields)


# --- Registry map (SPEC.md §5.8: the compressed sparse Merkle tree) ---------


def map_empty_hash():
    return sha256(b"accord/v1/map-empty\0")


def map_leaf_hash(key_hash, value_hash):
    return sha256(b"accord/v1/map-leaf\0" + key_hash + value_hash)


def map_node_hash(left, right):
    return sha256(b"accord/v1/map-node\0" + left + right)


def _key_bit(key_hash, i):
    return (key_hash[i // 8] >> (7 - i % 8)) & 1


def verify_map_proof(root, key_hash, siblings, terminal):
    """Checks a map proof for `key_hash` against `root`. `siblings` are the
    sibling hashes along the key's path, deepest first; `terminal` is None
    (the path ends in an empty subtree) or (leaf key hash, value hash).
    Returns the value hash if the key is in the map, None if it is provably
    absent; raises VerifyError otherwise."""
    depth = len(siblings)
    if depth > 256:
        raise VerifyError("map proof: longer than 256 levels")
    if terminal is None:
        found, h = None, map_empty_hash()
    else:
        leaf_key, value_hash = terminal
        if any(_key_bit(leaf_key, i) != _key_bit(key_hash, i) for i in range(depth)):
            raise VerifyError("map proof: the leaf found is not on the key's path")
        found = value_hash if leaf_key == key_hash else None
        h = map_leaf_hash(leaf_key, value_hash)
    for i, sibling in enumerate(siblings):
        d = depth - 1 - i
        h = map_node_hash(sibling, h) if _key_bit(key_hash, d) else map_node_hash(h, sibling)
    if h != root:
        raise VerifyError("map proof: does not lead to the map root")
    return found


# --- Map heads and registry proofs (SPEC.md §5.7, §8.2) --------------------
REGISTRY_PROOF_HEADER = "accord-registry-proof/v1"


def parse_map_head(leaf):
    """A kind-7 leaf: returns (index, size, root); size must equal index."""
    r = Reader(leaf)
    if r.u8() != 1 or r.u8() != 7:
        raise VerifyError("not a map-head entry")
    index = r.int(8)
    r.int(8)  # integrated_at
    r.take(32)  # prev_leaf_hash
    if r.int(4) != 40:
        raise VerifyError("a map head's body is 40 bytes")
    size, root = r.int(8), r.take(32)
    if r.u8() != 0:
        raise VerifyError("a map head carries no signature")
    r.done()
    if size != index:
        raise VerifyError(f"a map head reflects the entries before it: size {size} at index {index}")
    return index, size, root


def _map_key(kind, a, b=None):
    """Map key bytes (SPEC §5.8): 1 organization, 2 signatory, 3 key."""
    body = bytes([kind]) + a
    if b is not None:
        raw = b.encode()
        body += len(raw).to_bytes(2, "big") + raw
    return body


def map_key_hash(key_bytes):
    return sha256(b"accord/v1/map-key\0" + key_bytes)


def _flagged(r):
    flag = r.u8()
    if flag not in (0, 1):
        raise VerifyError("a flag must be 0 or 1")
    return r.int(8) if flag else None


def _hex32(s):
    if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise VerifyError(f"{s!r} is not 64 lowercase hex digits")
    return bytes.fromhex(s)


def _b64(s, n=None):
    try:
        b = base64.b64decode(s, validate=True)
    except ValueError:
        raise VerifyError(f"{s!r} is not base64")
    if n is not None and len(b) != n:
        raise VerifyError(f"{s!r} is not base64 of {n} bytes")
    return b


def parse_registry_proof(text):
    """Parses the file strictly; it must be exactly the canonical form of what it parses to."""
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise VerifyError("no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != REGISTRY_PROOF_HEADER:
        raise VerifyError(f"the first line must be {REGISTRY_PROOF_HEADER}")
    words = lines[1].split(" ") if len(lines) > 1 else []
    if len(words) not in (3, 5) or words[0] != "query" or words[1] not in ("organization", "key"):
        raise VerifyError("the second line must be the query")
    subject = (words[1], _hex32(words[2]))
    commitment = None
    if len(words) == 5:
        if words[3] != "commitment":
            raise VerifyError("query: expected `commitment ID`")
        check_slug(words[4])
        commitment = words[4]
    if len(lines) < 3 or not lines[2].startswith("index ") or not lines[2][6:].isdigit():
        raise VerifyError("the third line must be `index N`")
    index = int(lines[2][6:])
    rest = lines[3:]
    inclusion = []
    while rest and not rest[0].startswith("map-head "):
        inclusion.append(_b64(rest.pop(0), 32))
    if not rest:
        raise VerifyError("no map-head line")
    leaf = _b64(rest.pop(0)[9:])
    items = []
    for line in rest:
        w = line.split(" ")
        if w[0] == "present" and len(w) == 2:
            items.append([("present", _b64(w[1])), []])
        elif w == ["absent"]:
            items.append([("absent", None), []])
        elif w[0] == "absent" and len(w) == 3:
            items.append([("absent", (_b64(w[1], 32), _b64(w[2], 32))), []])
        elif items and len(w) == 1:
            items[-1][1].append(_b64(line, 32))
        else:
            raise VerifyError(f"expected a map item, found {line!r}")
    # Canonical form: rebuild the text and compare.
    e = lambda b: base64.b64encode(b).decode()
    out = [REGISTRY_PROOF_HEADER, " ".join(words), f"index {index}"] + [e(h) for h in inclusion]
    out.append("map-head " + e(leaf))
    for (what, v), siblings in items:
        if what == "present":
            out.append("present " + e(v))
        elif v is None:
            out.append("absent")
        else:
            out.append(f"absent {e(v[0])} {e(v[1])}")
        out += [e(h) for h in siblings]
    if "\n".join(out) + "\n\n" + note != text:
        raise VerifyError("not in canonical form (leading zeros, padding, spacing or line order)")
    return subject, commitment, index, inclusion, leaf, items, note


def verify_registry_proof(text, vkey):
    """Verifies an accord-registry-proof/v1 file (SPEC §8.2); returns the
    line stating what it proves."""
    (kind, ident), commitment, index, inclusion, leaf, items, note = parse_registry_proof(text)
    size, root = open_checkpoint(note, vkey)
    if size == 0 or index != size - 1:
        raise VerifyError(f"the map head must be the last entry of the checkpoint (of size {size}), not entry {index}")
    verify_inclusion(index, size, leaf_hash(leaf), inclusion, root)
    _, _, map_root = parse_map_head(leaf)

    def about(org):
        return _map_key(2, org, commitment) if commitment is not None else _map_key(1, org)

    expected = [about(ident) if kind == "organization" else _map_key(3, ident)]
    values = []
    org, retired = (ident if kind == "organization" else None), None
    for (what, v), siblings in items:
        if not expected:
            raise VerifyError("more map items than the query needs")
        key_hash = map_key_hash(expected.pop(0))
        if what == "present":
            verify_map_proof(map_root, key_hash, siblings, (key_hash, sha256(v)))
            values.append(v)
        else:
            if verify_map_proof(map_root, key_hash, siblings, v) is not None:
                raise VerifyError("a path said absent leads to the key's own leaf")
            values.append(None)
        if kind == "key" and len(values) == 1 and values[0] is not None:
            r = Reader(values[0])  # the key's record names its organization
            org, retired = r.take(32), _flagged(r)
            r.done()
            expected.append(about(org))
    if expected:
        raise VerifyError("fewer map items than the query needs")
    at = f"at tree size {size} of {vkey[0]}"
    key_note = ""
    if kind == "key":
        if values[0] is None:
            what = f", so it endorses nothing, commitment {commitment} included" if commitment else ""
            return f"absent: key {ident.hex()} belongs to no organization{what}, {at}"
        key_note = (f"; key {ident.hex()} is its current key" if retired is None
                    else f"; key {ident.hex()} was rotated out at entry {retired}")
    value = values[-1]
    if commitment is None:
        if value is None:
            return f"absent: no organization {org.hex()}, {at}"
        r = Reader(value)
        current_key, name = r.take(32), r.str()
        import json
        return (f"current: organization {org.hex()} ({json.dumps(name, ensure_ascii=False)}) is registered "
                f"with key {current_key.hex()}, {at}{key_note}")
    if value is None:
        return f"absent: organization {org.hex()} has never endorsed commitment {commitment}, {at}{key_note}"
    r = Reader(value)
    status, _first, endorsed, withdrawn, text_sha = r.u8(), r.int(8), r.int(8), _flagged(r), r.take(32)
    r.done()
    if status not in (1, 2) or (status == 2) != (withdrawn is not None):
        raise VerifyError("malformed signatory value")
    if withdrawn is None:
        return (f"current: organization {org.hex()} endorses commitment {commitment} "
                f"(entry {endorsed}, text sha256 {text_sha.hex()}), {at}{key_note}")
    return (f"withdrawn: organization {org.hex()} withdrew from commitment {commitment} at entry {withdrawn} "
            f"(endorsed at entry {endorsed}), {at}{key_note}")


def _read(path, binary=False):
    with open(path, "rb" if binary else "r", encoding=None if binary else "utf-8", newline="" if not binary else None) as f:
        return f.read()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("receipt", help="verify an .entry + .tlog-proof receipt")
    rec.add_argument("--vkey", required=True)
    rec.add_argument("--entry", required=True)
    rec.add_argument("--proof", required=True)
    rec.add_argument("--policy", metavar="FILE", help="witness policy the receipt's checkpoint must meet")
    con = sub.add_parser("consistency", help="verify that one checkpoint extends another")
    con.add_argument("--vkey", required=True)
    con.add_argument("--old", required=True)
    con.add_argument("--new", required=True)
    con.add_argument("--proof", required=True)
    con.add_argument("--policy", metavar="FILE", help="witness policy the new checkpoint must meet")
    reg = sub.add_parser("registry-proof", help="verify an accord-registry-proof/v1 file")
    reg.add_argument("--vkey", required=True)
    reg.add_argument("--proof", required=True)
    reg.add_argument("--policy", metavar="FILE", help="witness policy the proof's checkpoint must meet")
    args = ap.parse_args(argv)
    try:
        vkey = parse_vkey(_read(args.vkey) if os.path.isfile(args.vkey) else args.vkey)
        policy = _load_policy(args.policy, vkey) if args.policy else None
        if args.command == "registry-proof":
            text = _read(args.proof)
            out = [verify_registry_proof(text, vkey)]
            note = _checkpoint_of(text)
        elif args.command == "receipt":
            text = _read(args.proof)
            index, size, what = verify_receipt(_read(args.entry, True), text, vkey)
            out = [f"OK: entry {index} at tree size {size}: {what}"]
            note = _checkpoint_of(text)
        else:
            note = _read(args.new)
            size1, root1 = open_checkpoint(_read(args.old), vkey)
            size2, root2 = open_checkpoint(note, vkey)
            proof = [base64.b64decode(l, validate=True) for l in _read(args.proof).split()]
            if size1 > 0:
                verify_consistency(size1, size2, proof, root1, root2)
            out = [f"OK: tree size {size2} extends tree size {size1}"]
        if policy is not None:
            # Checked before anything is printed: a checkpoint short of the
            # quorum may be a split view, so nothing it proves is reported OK.
            try:
                _, names = check_policy(note, policy)
            except VerifyError as e:
                raise VerifyError(f"the checkpoint does not meet the witness policy: {e}") from None
            by = f"valid cosignatures by {', '.join(names)}" if names else "no cosignatures needed"
            out.append(f"OK: the checkpoint meets the witness policy's quorum ({by})")
        print("\n".join(out))
    except UsageError as e:
        print(f"usage error: {e}", file=sys.stderr)
        return 2
    except (VerifyError, ValueError, struct.error) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


def _checkpoint_of(text):
    """The signed checkpoint of a receipt or registry proof: both formats put
    it, verbatim, after their first blank line (SPEC §8, §8.2)."""
    return text.partition("\n\n")[2]


def _load_policy(path, vkey):
    """Reads --policy; like `accord audit --policy`, it must list the log key
    given with --vkey (same name, key ID and key), or the policy is about
    another log and meeting it would prove nothing."""
    try:
        policy = parse_policy(_read(path))
    except (OSError, ValueError, VerifyError) as e:
        raise UsageError(f"--policy {path}: {e}") from None
    if not any(log_vkey == vkey for log_vkey, _url in policy.logs):
        raise UsageError(f"--policy {path} does not list the log key {format_vkey(vkey, ALG_CHECKPOINT)}")
    return policy


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
