#!/usr/bin/env python3
"""Print keydesk's AD-like test directory as LDIF (stdlib only, deterministic).

The same arguments always give the same output. The fixed fixtures (LAPTOP-0042, WS-0007,
SRV-0003, WS-0099, the KD-* groups and the named staff users) never change; the generated part
depends on --computers/--staff/--seed. See README.md for the fixture table.

By default the LDIF carries memberOf values (direct membership only, as AD) for offline loading
with slapadd, which bypasses the memberof overlay. For online loading with ldapadd pass
--no-memberof: the overlay then maintains memberOf (users are emitted before the groups).
"""

import argparse
import base64
import datetime as dt
import hashlib
import random
import re
import sys
import uuid

DEFAULT_BASE_DN = "DC=corp,DC=example,DC=com"
DEFAULT_SERVICE_PASSWORD = "Svc-Keydesk-Pass!"  # only when --service-password-file is not given
GENERATED_STAFF_PASSWORD = "Staff1-Pass!"

# Key ID prefixes reserved for the fixtures: generated Key IDs never start with these.
RESERVED_PREFIXES = {"063EA4E1", "1F5A63B3", "A1B2C3D4"}

# (computer OU relative to base, computer cn, [(key id, volume guid, cn time, password)])
FIXTURE_COMPUTERS = [
    ("OU=Laptops", "LAPTOP-0042", [
        ("063EA4E1-220C-4293-BA01-4754620A96E7", "9F1C2D3E-4B5A-6978-8796-A5B4C3D2E1F0",
         "2023-01-10T09:00:00+01:00", "466895-217492-569250-069608-104434-135707-527241-083622"),
        ("063EA4E1-9A7B-4C1D-8E2F-0123456789AB", "9F1C2D3E-4B5A-6978-8796-A5B4C3D2E1F0",
         "2024-06-01T14:30:00+02:00", "309540-054054-123915-625218-602910-100716-346984-130779"),
    ]),
    ("OU=Workstations", "WS-0007", [
        ("1F5A63B3-0000-4000-8000-000000000001", "11111111-2222-3333-4444-555555555555",
         "2025-02-11T08:00:00+00:00", "612062-085217-178486-321860-089188-571923-071489-318747"),
        ("A1B2C3D4-E5F6-4789-9ABC-DEF012345678", "66666666-7777-8888-9999-AAAAAAAAAAAA",
         "2021-07-04T12:00:00-04:00", "148577-270864-536910-140470-090519-085932-296945-715726"),
    ]),
    ("OU=Servers", "SRV-0003", [
        ("1F5A63B3-1111-4111-8111-111111111111", "BBBBBBBB-CCCC-DDDD-EEEE-FFFFFFFFFFFF",
         "2022-11-30T23:59:59-05:00", "067155-192005-417549-604307-207977-169829-444763-260568"),
    ]),
    ("OU=Workstations", "WS-0099", []),
]

# sAMAccountName, password, given name, surname, groups (cn)
FIXTURE_USERS = [
    ("helpdesk1", "Helpdesk1-Pass!", "Hana", "Helpdesk", ["KD-Helpdesk-Tier1", "All-Staff"]),
    ("auditor1", "Auditor1-Pass!", "Aldo", "Auditor", ["KD-Auditors", "All-Staff"]),
    ("security1", "Security1-Pass!", "Sita", "Security", ["KD-Security", "All-Staff"]),
    ("admin1", "Admin1-Pass!", "Ada", "Admin", ["KD-Admins"]),
    ("plainuser", "Plain1-Pass!", "Pat", "Plain", ["All-Staff"]),
]

# Emitted in this order: a group comes after every group it contains (online loading).
GROUPS = [
    ("KD-Helpdesk-Tier1", "keydesk helpdesk, tier 1 (nested in KD-Helpdesk)"),
    ("KD-Helpdesk", "keydesk helpdesk role"),
    ("KD-Auditors", "keydesk auditor role"),
    ("KD-Security", "keydesk security officer role"),
    ("KD-Admins", "keydesk administrator role"),
    ("All-Staff", "everyone in the company"),
]
NESTED_GROUPS = {"KD-Helpdesk": ["KD-Helpdesk-Tier1"]}

OUS = [
    ("OU=Workstations", "Desktop computers"),
    ("OU=Branch-Berlin,OU=Workstations", "Desktop computers, Berlin branch"),
    ("OU=Laptops", "Laptops"),
    ("OU=Servers", "Servers"),
    ("OU=Staff", "People"),
    ("OU=Groups", "Security groups"),
    ("OU=Service Accounts", "Accounts used by applications"),
]

FIRST_NAMES = ["Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas",
               "Katja", "Lars", "Mira", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara",
               "Ulrich", "Vera", "Wim", "Xenia", "Yusuf", "Zoe", "Jörg", "Renée"]
LAST_NAMES = ["Adler", "Becker", "Costa", "Dietrich", "Engel", "Fischer", "Garcia", "Hoffmann",
              "Ivanova", "Jansen", "Klein", "Lang", "Meyer", "Nowak", "Otto", "Peters", "Quast",
              "Richter", "Schmidt", "Tanaka", "Ulrich", "Vogel", "Wagner", "Yilmaz", "Zimmermann",
              "O'Neill", "Müller"]

# (UTC offset in minutes, observes northern-hemisphere DST approximately Apr..Oct)
ZONES = [(60, True), (60, True), (60, True), (0, True), (0, False), (-300, True), (-300, True),
         (-360, True), (-480, True), (330, False), (540, False), (600, False), (120, True),
         (-180, False)]
BERLIN_ZONE = (60, True)

DATE_MIN = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)
DATE_MAX = dt.datetime(2026, 10, 31, tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------- encoding helpers

def rdn_escape(value):
    """Escape an attribute value for a DN string (RFC 4514 section 2.4)."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (i == 0 and ch in "# ") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ch == "\0":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


_SAFE = re.compile(r"^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$")


def ldif_line(attr, value):
    """One LDIF attribute line; bytes and non-safe strings are base64 (RFC 2849)."""
    if isinstance(value, bytes):
        return f"{attr}:: {base64.b64encode(value).decode('ascii')}"
    if value == "" or (_SAFE.match(value) and not value.endswith(" ")):
        return f"{attr}: {value}"
    return f"{attr}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"


def guid_bytes(text):
    """MS-DTYP GUID byte order: Data1/2/3 little-endian, Data4 as is (== uuid.bytes_le)."""
    return uuid.UUID(text).bytes_le


def ssha(password, rng):
    salt = bytes(rng.getrandbits(8) for _ in range(8))
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def check_recovery_password(pw):
    groups = pw.split("-")
    ok = len(groups) == 8 and all(len(g) == 6 and g.isdigit() and int(g) % 11 == 0
                                 and int(g) < 720896 for g in groups)
    if not ok:
        raise ValueError(f"not a valid BitLocker recovery password: {pw}")
    return pw


def ad_time(text):
    """'2024-03-05T10:15:00+01:00' -> '20240305091500.0Z' (whenCreated form)."""
    t = dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc)
    return t.strftime("%Y%m%d%H%M%S.0Z")


def local_iso(instant, zone):
    """An instant rendered as AD writes the cn: local time of the client with its UTC offset."""
    base, dst = zone
    minutes = base
    if dst:
        probe = instant + dt.timedelta(minutes=base)
        if 4 <= probe.month <= 10:
            minutes += 60
    tz = dt.timezone(dt.timedelta(minutes=minutes))
    return instant.astimezone(tz).isoformat(timespec="seconds")


# ---------------------------------------------------------------- generation

class Generator:
    def __init__(self, args):
        self.args = args
        self.base = args.base_dn
        self.rng = random.Random(args.seed)
        # Separate streams so that e.g. a different service password does not move the data.
        self.salt_rng = random.Random(f"salt:{args.seed}")
        self.key_rng = random.Random(f"keys:{args.seed}")
        m = re.match(r"(?i)^dc=([^,]+)", self.base)
        if not m:
            sys.exit("generate-data.py: --base-dn must start with DC=")
        self.dc = m.group(1)
        self.domain = args.domain or ".".join(
            p.split("=", 1)[1] for p in self.base.split(",") if p.strip().lower().startswith("dc="))
        self.used_prefixes = set(RESERVED_PREFIXES)
        self.used_key_ids = set()

    def dn(self, *rdns):
        return ",".join(list(rdns) + [self.base])

    def new_key_id(self):
        while True:
            k = str(uuid.UUID(int=self.key_rng.getrandbits(128), version=4)).upper()
            if k[:8] not in self.used_prefixes and k not in self.used_key_ids:
                self.used_prefixes.add(k[:8])
                self.used_key_ids.add(k)
                return k

    def new_prefix(self):
        while True:
            p = f"{self.key_rng.getrandbits(32):08X}"
            if p not in self.used_prefixes:
                self.used_prefixes.add(p)
                return p

    def recovery_password(self):
        return "-".join(f"{11 * self.rng.randrange(65536):06d}" for _ in range(8))

    def random_instant(self, lo=DATE_MIN, hi=DATE_MAX):
        span = int((hi - lo).total_seconds())
        return lo + dt.timedelta(seconds=self.rng.randrange(max(span, 1)))

    # ---- computers

    def computer_names(self):
        n = self.args.computers
        n_ws = round(n * 0.40)
        n_lap = round(n * 0.30)
        n_srv = round(n * 0.10)
        n_ber = n - n_ws - n_lap - n_srv

        def numbers(count, taken):
            digits = 4
            while count * 2 > 10 ** digits:
                digits += 1
            pool = [i for i in range(1, 10 ** digits) if i not in taken]
            return [f"{i:0{digits}d}" for i in sorted(self.rng.sample(pool, count))]

        ws = numbers(n_ws + n_ber, {7, 99})
        self.rng.shuffle(ws)
        out = []
        out += [("OU=Workstations", f"WS-{x}", "ws") for x in sorted(ws[:n_ws])]
        out += [("OU=Branch-Berlin,OU=Workstations", f"WS-{x}", "ber") for x in sorted(ws[n_ws:])]
        out += [("OU=Laptops", f"LAPTOP-{x}", "lap") for x in numbers(n_lap, {42})]
        out += [("OU=Servers", f"SRV-{x}", "srv") for x in numbers(n_srv, {3})]
        return out

    def generated_keys(self, kind):
        """[(key id, volume guid, cn time, password, key package or None)] for one computer."""
        zone = BERLIN_ZONE if kind == "ber" else self.rng.choice(ZONES)
        weights = [45, 35, 20] if kind == "srv" else [35, 40, 25]
        n = self.rng.choices([1, 2, 3], weights)[0]
        # Volumes: each entry is the number of keys (re-keys) escrowed for that volume.
        if n == 1:
            volumes = [1]
        elif n == 2:
            volumes = self.rng.choice([[1, 1], [2]])           # two volumes, or one re-keyed
        else:
            volumes = self.rng.choice([[1, 1, 1], [2, 1], [3]])
        first = self.random_instant(DATE_MIN, DATE_MAX - dt.timedelta(days=400))
        keys = []
        for v, count in enumerate(volumes):
            vol = str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()
            # Data volumes are usually encrypted minutes to weeks after the OS volume.
            t = first if v == 0 else first + dt.timedelta(seconds=self.rng.randrange(60, 40 * 86400))
            for _ in range(count):
                pkg = None
                if self.rng.random() < 0.3:
                    pkg = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(200, 320)))
                keys.append([None, vol, local_iso(min(t, DATE_MAX), zone),
                             self.recovery_password(), pkg])
                t += dt.timedelta(days=self.rng.randrange(20, 500), seconds=self.rng.randrange(86400))
        return keys

    # ---- output

    def emit(self, out):
        args = self.args
        entries = []

        def entry(dn, *lines):
            entries.append((dn, list(lines)))

        entry(self.base, ("objectClass", "top"), ("objectClass", "domain"), ("dc", self.dc),
              ("description", "keydesk test directory (AD-like)"))
        for rel, desc in OUS:
            ou = rel.split(",")[0].split("=", 1)[1]
            entry(self.dn(rel), ("objectClass", "top"), ("objectClass", "organizationalUnit"),
                  ("ou", ou), ("description", desc))

        # ---- users
        users = []  # (sam, password, given, sn, groups)
        users += FIXTURE_USERS
        taken_names = {(u[2], u[3]) for u in users}
        taken_sams = {u[0] for u in users}
        while len(users) < len(FIXTURE_USERS) + args.staff:
            given, sn = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            sam = re.sub(r"[^a-z]", "", (given[0] + sn).lower().replace("ü", "ue").replace("ö", "oe"))
            if (given, sn) in taken_names or sam in taken_sams:
                continue
            taken_names.add((given, sn))
            taken_sams.add(sam)
            users.append((sam, GENERATED_STAFF_PASSWORD, given, sn, ["All-Staff"]))

        group_dn = {g: self.dn(f"CN={rdn_escape(g)}", "OU=Groups") for g, _ in GROUPS}
        members = {g: [] for g, _ in GROUPS}
        member_of = {}
        user_dns = []
        for sam, _pw, given, sn, groups in users:
            udn = self.dn(f"CN={rdn_escape(f'{given} {sn}')}", "OU=Staff")
            user_dns.append(udn)
            for g in groups:
                members[g].append(udn)
                member_of.setdefault(udn, []).append(group_dn[g])
        for parent, children in NESTED_GROUPS.items():
            for c in children:
                members[parent].append(group_dn[c])
                member_of.setdefault(group_dn[c], []).append(group_dn[parent])

        def memberof_lines(dn):
            if args.no_memberof:
                return []
            return [("memberOf", g) for g in member_of.get(dn, [])]

        for (sam, pw, given, sn, _groups), udn in zip(users, user_dns):
            display = f"{given} {sn}"
            entry(udn, ("objectClass", "top"), ("objectClass", "person"),
                  ("objectClass", "organizationalPerson"), ("objectClass", "inetOrgPerson"),
                  ("objectClass", "user"), ("cn", display), ("sn", sn), ("givenName", given),
                  ("displayName", display), ("sAMAccountName", sam),
                  ("userPrincipalName", f"{sam}@{self.domain}"), ("mail", f"{sam}@{self.domain}"),
                  ("userAccountControl", "512"), ("userPassword", ssha(pw, self.salt_rng)),
                  *memberof_lines(udn))

        svc_pw = DEFAULT_SERVICE_PASSWORD
        if args.service_password_file:
            with open(args.service_password_file, "r", encoding="utf-8") as f:
                svc_pw = f.read()
        entry(self.dn("CN=svc-keydesk", "OU=Service Accounts"), ("objectClass", "top"),
              ("objectClass", "person"), ("objectClass", "organizationalPerson"),
              ("objectClass", "inetOrgPerson"), ("objectClass", "user"), ("cn", "svc-keydesk"),
              ("sn", "svc-keydesk"), ("displayName", "keydesk service account"),
              ("description", "Reads BitLocker recovery information for keydesk"),
              ("sAMAccountName", "svc-keydesk"),
              ("userPrincipalName", f"svc-keydesk@{self.domain}"),
              ("userAccountControl", "66048"), ("userPassword", ssha(svc_pw, self.salt_rng)))

        for g, desc in GROUPS:
            entry(group_dn[g], ("objectClass", "top"), ("objectClass", "group"), ("cn", g),
                  ("sAMAccountName", g), ("description", desc),
                  *[("member", m) for m in members[g]], *memberof_lines(group_dn[g]))

        # ---- computers and recovery objects
        computers = []  # (ou, name, [key tuples])
        for ou, name, keys in FIXTURE_COMPUTERS:
            computers.append((ou, name, [[k, v, t, check_recovery_password(p), None]
                                         for k, v, t, p in keys]))
        generated = []
        for ou, name, kind in self.computer_names():
            generated.append((ou, name, self.generated_keys(kind)))
        all_gen_keys = [k for _, _, keys in generated for k in keys]
        for k in all_gen_keys:
            k[0] = self.new_key_id()
        # Groups of 2-3 generated keys sharing their first 8 Key ID characters.
        n_groups = min(6, len(all_gen_keys) // 10)
        picks = self.rng.sample(range(len(all_gen_keys)), min(len(all_gen_keys), n_groups * 3))
        for i in range(n_groups):
            size = 3 if i % 2 == 0 else 2
            prefix = self.new_prefix()
            for idx in picks[i * 3:i * 3 + size]:
                k = all_gen_keys[idx]
                k[0] = prefix + k[0][8:]
        computers += generated

        for ou, name, keys in computers:
            cdn = self.dn(f"CN={rdn_escape(name)}", ou)
            lines = [("objectClass", "top"), ("objectClass", "computer"), ("cn", name),
                     ("sAMAccountName", name + "$"),
                     ("dNSHostName", f"{name.lower()}.{self.domain}"),
                     ("userAccountControl", "4096")]
            if keys:
                first = min(dt.datetime.fromisoformat(k[2]) for k in keys)
                lines.append(("whenCreated", ad_time((first - dt.timedelta(
                    hours=self.rng.randrange(1, 24 * 60))).isoformat())))
            entry(cdn, *lines)
            for key_id, vol, when, pw, pkg in keys:
                cn = f"{when}{{{key_id}}}"
                assert len(cn) == 63, cn
                lines = [("objectClass", "top"), ("objectClass", "msFVE-RecoveryInformation"),
                         ("cn", cn), ("msFVE-RecoveryGuid", guid_bytes(key_id)),
                         ("msFVE-VolumeGuid", guid_bytes(vol)), ("msFVE-RecoveryPassword", pw),
                         ("whenCreated", ad_time(when))]
                if pkg:
                    lines.append(("msFVE-KeyPackage", pkg))
                entry(f"CN={rdn_escape(cn)},{cdn}", *lines)

        for dn, lines in entries:
            out.write(ldif_line("dn", dn) + "\n")
            for attr, value in lines:
                out.write(ldif_line(attr, value) + "\n")
            out.write("\n")
        n_keys = sum(len(k) for _, _, k in computers)
        print(f"generate-data.py: {len(entries)} entries, {len(computers)} computers, "
              f"{n_keys} recovery objects, {len(users)} staff users", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--computers", type=int, default=240, help="generated computers (default 240)")
    p.add_argument("--staff", type=int, default=20, help="generated staff users (default 20)")
    p.add_argument("--seed", default="1", help="random seed (default 1)")
    p.add_argument("--base-dn", default=DEFAULT_BASE_DN)
    p.add_argument("--domain", help="UPN/DNS suffix (default: from the DC= parts of --base-dn)")
    p.add_argument("--service-password-file",
                   help="svc-keydesk's password, whole file content (default: "
                        f"{DEFAULT_SERVICE_PASSWORD!r})")
    p.add_argument("--no-memberof", action="store_true",
                   help="omit memberOf (for online loading through the memberof overlay)")
    args = p.parse_args()
    if args.computers < 0 or args.staff < 0:
        p.error("counts must be >= 0")
    Generator(args).emit(sys.stdout)


if __name__ == "__main__":
    main()
