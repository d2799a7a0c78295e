#!/usr/bin/env python3
"""Print N BitLocker recovery objects (and their computers and OUs) as LDIF, fast (stdlib only).

For the benchmark loader (load-directory.sh): the output is appended to the LDIF of
tests/directory/slapd/generate-data.py --computers 0 (base, OUs, staff, groups, service account
and the fixture computers K1-K5), so the fixture users and keys exist at every size.

Same schema and conventions as generate-data.py (AD cn "<local time>{KEY-ID}", GUIDs in MS byte
order, whenCreated in UTC, 30 % with a msFVE-KeyPackage), but streaming and with:
- an exact number of recovery objects (--recovery-objects), 1-4 per computer (mean ~1.85:
  several volumes on some computers, re-key history on others);
- a realistic OU spread: 24 sites under OU=Sites with Workstations/Laptops/Servers each, sizes
  skewed (head office large, branches small), 10 % left in the legacy top-level OUs;
- colliding 8-character Key ID prefixes: the natural ones of random GUIDs (~N^2/2^33 pairs), plus
  0.2 % of keys that reuse an earlier key's prefix, plus a few "hot" prefixes shared by 10-25 keys.
Deterministic for a given --seed and --recovery-objects. Never emits the fixtures' prefixes.
"""

import argparse
import base64
import itertools
import random
import sys
import time

RESERVED_PREFIXES = {"063EA4E1", "1F5A63B3", "A1B2C3D4"}

# (site code, OU name, relative weight)
SITES = [
    ("HQ", "Head-Office", 30), ("BER", "Berlin", 12), ("HAM", "Hamburg", 8), ("MUC", "Munich", 8),
    ("FRA", "Frankfurt", 6), ("CGN", "Cologne", 5), ("STR", "Stuttgart", 4), ("DUS", "Duesseldorf", 4),
    ("LEJ", "Leipzig", 3), ("NUE", "Nuremberg", 3), ("VIE", "Vienna", 5), ("ZRH", "Zurich", 4),
    ("PAR", "Paris", 6), ("LON", "London", 6), ("AMS", "Amsterdam", 3), ("MAD", "Madrid", 3),
    ("MIL", "Milan", 3), ("WAW", "Warsaw", 2), ("PRG", "Prague", 2), ("NYC", "New-York", 5),
    ("CHI", "Chicago", 2), ("SFO", "San-Francisco", 2), ("SIN", "Singapore", 2), ("TYO", "Tokyo", 2),
]
# (kind code, OU name, share, weights for 1/2/3/4 keys)
KINDS = [
    ("WS", "Workstations", 0.42, (40, 38, 17, 5)),
    ("NB", "Laptops", 0.46, (35, 40, 19, 6)),
    ("SV", "Servers", 0.12, (50, 30, 15, 5)),
]
# Legacy top-level OUs that exist in generate-data.py's output (10 % of the computers).
LEGACY = [("OU=Workstations", "WS"), ("OU=Branch-Berlin,OU=Workstations", "WS"),
          ("OU=Laptops", "NB"), ("OU=Servers", "SV")]
# (UTC offset minutes, northern DST) per site, roughly.
SITE_ZONE = {"NYC": (-300, True), "CHI": (-360, True), "SFO": (-480, True), "SIN": (480, False),
             "TYO": (540, False), "LON": (0, True)}
DEFAULT_ZONE = (60, True)

EPOCH_MIN = 1546300800  # 2019-01-01T00:00:00Z
EPOCH_MAX = 1793404800  # 2026-10-31T00:00:00Z


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recovery-objects", type=int, required=True)
    p.add_argument("--seed", default="bench-1")
    p.add_argument("--base-dn", default="DC=corp,DC=example,DC=com")
    p.add_argument("--domain", default="corp.example.com")
    p.add_argument("--key-package-share", type=float, default=0.3)
    args = p.parse_args()
    n_keys = args.recovery_objects
    if n_keys < 0:
        p.error("--recovery-objects must be >= 0")

    rng = random.Random(args.seed)
    getbits = rng.getrandbits
    rnd = rng.random
    base = args.base_dn
    out = sys.stdout
    started = time.monotonic()

    b64 = lambda b: base64.b64encode(b).decode("ascii")
    chunks = []

    def flush():
        out.write("".join(chunks))
        chunks.clear()

    # ---- OUs
    chunks.append(f"dn: OU=Sites,{base}\nobjectClass: top\nobjectClass: organizationalUnit\n"
                  f"ou: Sites\ndescription: Sites and branches\n\n")
    ous = []  # (ou dn, kind code, site code, weight)
    for code, name, weight in SITES:
        site_dn = f"OU={name},OU=Sites,{base}"
        chunks.append(f"dn: {site_dn}\nobjectClass: top\nobjectClass: organizationalUnit\n"
                      f"ou: {name}\n\n")
        for kind, kind_ou, share, _w in KINDS:
            dn = f"OU={kind_ou},{site_dn}"
            chunks.append(f"dn: {dn}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {kind_ou}\n\n")
            ous.append((dn, kind, code, weight * share * 0.9))
    legacy_total = 0.1
    for rel, kind in LEGACY:
        ous.append((f"{rel},{base}", kind, "OLD", legacy_total / len(LEGACY)
                    * sum(s[2] for s in SITES)))
    ou_cum = list(itertools.accumulate(o[3] for o in ous))
    kind_cum = {k[0]: list(itertools.accumulate(k[3])) for k in KINDS}
    counters = {}

    # ---- Key IDs: random v4 GUIDs; some reuse an earlier prefix, a few prefixes are "hot".
    recent_prefixes = []
    hot = []
    while len(hot) < (0 if n_keys < 1000 else 4):
        pfx = f"{getbits(32):08X}"
        if pfx not in RESERVED_PREFIXES:
            hot.append(pfx)
    hot_share = 20 / max(n_keys, 1)  # ~20 keys per hot prefix, whatever the size

    def new_key_id():
        v = getbits(128)
        v = (v & ~(0xF << 76)) | (0x4 << 76)  # version 4
        v = (v & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
        h = f"{v:032X}"
        r = rnd()
        if r < hot_share * len(hot):
            h = hot[int(r / hot_share) % len(hot)] + h[8:]
        elif r < 0.002 + hot_share * len(hot) and recent_prefixes:
            h = recent_prefixes[getbits(16) % len(recent_prefixes)] + h[8:]
        if h[:8] in RESERVED_PREFIXES:
            return new_key_id()
        if len(recent_prefixes) < 4096:
            recent_prefixes.append(h[:8])
        else:
            recent_prefixes[getbits(12)] = h[:8]
        return h

    def guid_bytes_le(h):
        b = bytes.fromhex(h)
        return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]

    def dashed(h):
        return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def local_cn_time(t, zone):
        offset, dst = zone
        if dst:
            month = time.gmtime(t + offset * 60).tm_mon
            if 4 <= month <= 10:
                offset += 60
        local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + offset * 60))
        sign = "+" if offset >= 0 else "-"
        return f"{local}{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"

    def password():
        return "-".join(f"{11 * getbits(16):06d}" for _ in range(8))

    made = 0
    computers = 0
    while made < n_keys:
        ou_dn, kind, site, _w = rng.choices(ous, cum_weights=ou_cum)[0]
        counters[(site, kind)] = counters.get((site, kind), 0) + 1
        name = f"{site}-{kind}{counters[(site, kind)]:06d}"
        zone = SITE_ZONE.get(site, DEFAULT_ZONE)
        n = rng.choices((1, 2, 3, 4), cum_weights=kind_cum[kind])[0]
        n = min(n, n_keys - made)
        if n == 1:
            volumes = [1]
        elif n == 2:
            volumes = [1, 1] if rnd() < 0.5 else [2]
        elif n == 3:
            volumes = rng.choice(([1, 1, 1], [2, 1], [3]))
        else:
            volumes = rng.choice(([1, 1, 1, 1], [2, 1, 1], [2, 2], [3, 1], [4]))
        first = EPOCH_MIN + getbits(32) % (EPOCH_MAX - EPOCH_MIN - 400 * 86400)
        created = first - 3600 - getbits(22)
        cdn = f"CN={name},{ou_dn}"
        chunks.append(
            f"dn: {cdn}\nobjectClass: top\nobjectClass: computer\ncn: {name}\n"
            f"sAMAccountName: {name}$\ndNSHostName: {name.lower()}.{args.domain}\n"
            f"userAccountControl: 4096\n"
            f"whenCreated: {time.strftime('%Y%m%d%H%M%S', time.gmtime(created))}.0Z\n\n")
        computers += 1
        for v, count in enumerate(volumes):
            vol = b64(getbits(128).to_bytes(16, "little"))
            t = first if v == 0 else first + 60 + getbits(22) % (40 * 86400)
            for _ in range(count):
                h = new_key_id()
                tt = min(t, EPOCH_MAX)
                cn = f"{local_cn_time(tt, zone)}{{{dashed(h)}}}"
                pkg = ""
                if rnd() < args.key_package_share:
                    pkg = f"msFVE-KeyPackage:: {b64(rng.randbytes(200 + getbits(7)))}\n"
                chunks.append(
                    f"dn: CN={cn.replace('+', chr(92) + '+')},{cdn}\n"
                    f"objectClass: top\nobjectClass: msFVE-RecoveryInformation\ncn: {cn}\n"
                    f"msFVE-RecoveryGuid:: {b64(guid_bytes_le(h))}\n"
                    f"msFVE-VolumeGuid:: {vol}\n"
                    f"msFVE-RecoveryPassword: {password()}\n"
                    f"whenCreated: {time.strftime('%Y%m%d%H%M%S', time.gmtime(tt))}.0Z\n{pkg}\n")
                made += 1
                t += 20 * 86400 + getbits(32) % (480 * 86400)
        if len(chunks) > 4096:
            flush()
    flush()
    print(f"gen-bulk-ldif.py: {n_keys} recovery objects on {computers} computers in "
          f"{len(ous)} OUs ({time.monotonic() - started:.1f}s)", file=sys.stderr)


if __name__ == "__main__":
    main()
