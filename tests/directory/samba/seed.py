#!/usr/bin/python3
"""Seed a freshly provisioned, stopped Samba AD DC with keydesk's test data.

Run by sambactl.sh with Debian's /usr/bin/python3 (Samba's Python modules), offline, on the
DC's own sam.ldb, through Samba's full DSDB module stack (schema checks, SIDs/RIDs, password
hashing, security descriptor inheritance), i.e. exactly what `samba-tool ... -H sam.ldb` does,
only in one process instead of one samba-tool start-up (~1 s) per object.

The directory content comes from ../slapd/generate-data.py (same fixtures, same generated
computers and keys as the OpenLDAP directory for the same --computers), translated to what an
AD administrator would create: samba-tool style users (cn = display name) and global security
groups, computer objects, msFVE-RecoveryInformation children, OU delegation ACEs, a PSO.

What the DSDB modules refuse even to the system session (pwdLastSet other than 0/-1,
whenCreated) is written as LDIF for a raw ldbmodify on the domain partition file (no modules),
which sambactl.sh runs after this script.
"""

import argparse
import datetime as dt
import io
import os
import runpy
import sys
import time
import uuid

import ldb
from samba import dsdb
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

RECOVERY_CLASS_GUID = "ea715d30-8f53-40d0-bd1e-6109186d782c"     # msFVE-RecoveryInformation
RECOVERY_PASSWORD_GUID = "43061ac1-c8ad-4ccc-b785-2bfac20fc60a"  # msFVE-RecoveryPassword

DELEGATED_OUS = ["OU=Workstations", "OU=Laptops", "OU=Servers"]
RESTRICTED_OU = "OU=Restricted"
RESTRICTED_COMPUTER = "RESTRICTED-01"
RESTRICTED_KEY = ("5EC2E7ED-0000-4000-8000-0000000000AA", "5EC2E7ED-1111-4111-8111-1111111111AA",
                  "2024-01-15T10:00:00+00:00",
                  "000011-000022-000033-000044-000055-000066-000077-000088")

# Bind-error accounts: sAMAccountName, password, given name, surname, expected AD data code.
SPECIAL_USERS = [
    ("disabled1", "Disabled1-Pass!", "Dora", "Disabled", "533"),
    ("mustchange1", "Change1-Pass!", "Max", "Mustchange", "773"),
    ("expired1", "Expired1-Pass!", "Eli", "Expired", "532"),
    ("accexpired1", "AccExp1-Pass!", "Axel", "Accexpired", "701"),
    ("locked1", "Locked1-Pass!", "Lou", "Locked", "775"),
]
SPECIAL_GROUP = "KD-Helpdesk-Tier1"

# locked1's lockout comes from a fine-grained password policy (PSO) that applies to it alone,
# so that wrong-password tests against the other accounts can never lock them out.
LOCKOUT_THRESHOLD = 3
TEN_YEARS = 10 * 365 * 86400 * 10**7  # in 100 ns units

FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)
EXPIRED_PWD_LAST_SET = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
ACCOUNT_EXPIRES = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)


def filetime(t):
    return str(int((t - FILETIME_EPOCH).total_seconds()) * 10**7)


def read_secret(path):
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


def val(msg, attr):
    """First value of an attribute of an ldb.Message, as str."""
    v = msg[attr][0]
    return v.decode("utf-8") if isinstance(v, bytes) else v


def log(msg):
    print(f"seed: {msg}", file=sys.stderr, flush=True)


class Seeder:
    def __init__(self, args):
        self.args = args
        lp = LoadParm()
        lp.load(args.conf)
        # batch_mode: no sub-transaction per operation (whose index-list copies make every add
        # cost O(directory size)); with all computers in one transaction this loads 3-10x faster.
        # A failed operation then spoils the whole transaction: fine, a failed seed is redone
        # from a fresh provision.
        opts = ["batch_mode:1"] if args.batch_mode else None
        self.db = SamDB(url=os.path.join(lp.get("private dir"), "sam.ldb"),
                        session_info=system_session(), lp=lp, options=opts)
        self.base = str(self.db.domain_dn())
        self.domain_sid = self.db.get_domain_sid()
        self.sd = SDUtils(self.db)
        self.raw_ldif = []
        gen = runpy.run_path(args.generator, run_name="kd_generate_data")
        self.gen = gen

    def dn(self, rel):
        return f"{rel},{self.base}" if rel else self.base

    def sid_of(self, dn):
        res = self.db.search(dn, scope=ldb.SCOPE_BASE, attrs=["objectSid"])
        return str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))

    def raw(self, dn, attr, value):
        self.raw_ldif.append(f"dn: {dn}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n-\n")

    # ---- generator output -> entries
    def generated_entries(self):
        g = self.gen
        ns = argparse.Namespace(computers=self.args.computers, staff=self.args.staff, seed="1",
                                base_dn=self.base, domain="corp.example.com",
                                service_password_file=None, no_memberof=True)
        out = io.StringIO()
        saved = sys.stderr
        sys.stderr = io.StringIO()
        try:
            g["Generator"](ns).emit(out)
        finally:
            summary = sys.stderr.getvalue().strip()
            sys.stderr = saved
        log(summary.replace("generate-data.py: ", "generator: "))
        self.parser = ldb.Ldb()  # must outlive the messages it parsed (else: segfault)
        return [msg for _, msg in self.parser.parse_ldif(out.getvalue())]

    # ---- steps
    def add_ou(self, rel, description):
        self.db.add({"dn": self.dn(rel), "objectClass": "organizationalUnit",
                     "description": description})

    def new_user(self, sam, password, ou, given=None, sn=None, description=None, mail=None):
        self.db.newuser(sam, password, userou=ou, givenname=given, surname=sn,
                        useusernameascn=None, description=description, mailaddress=mail)
        res = self.db.search(self.base, expression=f"(sAMAccountName={ldb.binary_encode(sam)})",
                             attrs=["distinguishedName"])
        return str(res[0].dn)

    def delegate(self, ou_rel, sid, password_too):
        aces = f"(OA;CIIO;RP;;{RECOVERY_CLASS_GUID};{sid})"
        if password_too:
            aces += f"(OA;CIIO;CR;{RECOVERY_PASSWORD_GUID};{RECOVERY_CLASS_GUID};{sid})"
        # = samba-tool dsacl set --objectdn=OU --sddl=ACES (prepends the explicit ACEs)
        self.sd.dacl_add_ace(self.dn(ou_rel), aces)
        return aces

    def add_member(self, group_dn, member_dns):
        if not member_dns:
            return
        m = ldb.Message(ldb.Dn(self.db, group_dn))
        m["member"] = ldb.MessageElement([str(x) for x in member_dns], ldb.FLAG_MOD_ADD, "member")
        self.db.modify(m)

    def add_computer(self, dn, name, recovery):
        """dn: computer DN; recovery: [(dn, cn, key id bytes, volume bytes, password, package)]."""
        if self.args.txn > 1:  # the caller runs the transactions
            self.add_computer_(dn, name, recovery)
            return
        self.db.transaction_start()
        try:
            self.add_computer_(dn, name, recovery)
            self.db.transaction_commit()
        except Exception:
            self.db.transaction_cancel()
            raise

    def add_computer_(self, dn, name, recovery):
        if True:
            self.db.add({"dn": dn, "objectClass": "computer", "sAMAccountName": name + "$",
                         "dNSHostName": f"{name.lower()}.corp.example.com",
                         "userAccountControl": str(dsdb.UF_WORKSTATION_TRUST_ACCOUNT)})
            for rdn, cn, guid, vol, pw, pkg in recovery:
                rec = {"dn": rdn, "objectClass": "msFVE-RecoveryInformation", "cn": cn,
                       "msFVE-RecoveryGuid": guid, "msFVE-VolumeGuid": vol,
                       "msFVE-RecoveryPassword": pw}
                if pkg is not None:
                    rec["msFVE-KeyPackage"] = pkg
                self.db.add(rec)
                # whenCreated is set by the DSA; make it the cn's time as on a real DC.
                t = dt.datetime.fromisoformat(cn[:25]).astimezone(dt.timezone.utc)
                self.raw(rdn, "whenCreated", t.strftime("%Y%m%d%H%M%S.0Z"))

    def run(self):
        a = self.args
        t0 = time.time()
        entries = self.generated_entries()

        def kinds(msg):
            return {str(v).lower() for v in msg["objectClass"]}

        ous = [m for m in entries if "organizationalunit" in kinds(m)]
        users = [m for m in entries if "user" in kinds(m) and "computer" not in kinds(m)]
        groups = [m for m in entries if "group" in kinds(m)]
        computers = [m for m in entries if "computer" in kinds(m)]
        recovery = [m for m in entries if "msfve-recoveryinformation" in kinds(m)]

        # OUs (generator's, in parent-first order) + Restricted
        for m in ous:
            rel = str(m.dn)[:-(len(self.base) + 1)]
            self.add_ou(rel, val(m, "description"))
        self.add_ou(RESTRICTED_OU, "Computers whose recovery passwords keydesk must not read")

        # Service accounts: passwords never expire (66048), as usual for service accounts.
        svc_dn = self.new_user("svc-keydesk", read_secret(a.bind_password_file),
                               "OU=Service Accounts",
                               description="Reads BitLocker recovery information for keydesk")
        self.new_user("svc-nodelegation", read_secret(a.nodelegation_password_file),
                      "OU=Service Accounts",
                      description="Service account without any delegation (tests)")
        for sam in ("svc-keydesk", "svc-nodelegation"):
            self.db.toggle_userAccountFlags(f"(sAMAccountName={sam})",
                                            dsdb.UF_DONT_EXPIRE_PASSWD, on=True, strict=True)
        svc_sid = self.sid_of(svc_dn)
        sddl = {}
        for ou in DELEGATED_OUS:
            sddl[ou] = self.delegate(ou, svc_sid, password_too=True)
        sddl[RESTRICTED_OU] = self.delegate(RESTRICTED_OU, svc_sid, password_too=False)
        t_ous = time.time()

        # Groups (global security, samba-tool group add's default)
        group_dn = {}
        for m in groups:
            name = val(m, "cn")
            self.db.newgroup(name, groupou="OU=Groups", description=val(m, "description"))
            group_dn[name] = self.dn(f"CN={name},OU=Groups")

        # Staff users (samba-tool user create ... --given-name --surname: cn = display name)
        g = self.gen
        passwords = {u[0]: u[1] for u in g["FIXTURE_USERS"]}
        user_dn_by_ldif = {}
        for m in users:
            sam = val(m, "sAMAccountName")
            if sam == "svc-keydesk":
                continue
            pw = passwords.get(sam, g["GENERATED_STAFF_PASSWORD"])
            dn = self.new_user(sam, pw, "OU=Staff", given=val(m, "givenName"),
                               sn=val(m, "sn"), mail=val(m, "mail"))
            if dn.lower() != str(m.dn).lower():
                raise SystemExit(f"seed: user DN {dn} differs from the generator's {m.dn}")
            user_dn_by_ldif[str(m.dn).lower()] = dn

        # Bind-error accounts, all in KD-Helpdesk-Tier1
        special_dn = {}
        for sam, pw, given, sn, _code in SPECIAL_USERS:
            special_dn[sam] = self.new_user(sam, pw, "OU=Staff", given=given, sn=sn,
                                            description="keydesk bind-error test account")
        self.db.toggle_userAccountFlags("(sAMAccountName=disabled1)", dsdb.UF_ACCOUNTDISABLE,
                                        on=True, strict=True)
        self.db.setpassword("(sAMAccountName=mustchange1)", "Change1-Pass!",
                            force_change_at_next_login=True)  # pwdLastSet = 0
        m = ldb.Message(ldb.Dn(self.db, special_dn["accexpired1"]))
        m["accountExpires"] = ldb.MessageElement(filetime(ACCOUNT_EXPIRES), ldb.FLAG_MOD_REPLACE,
                                                 "accountExpires")
        self.db.modify(m)
        # expired1: the password was last set in 2020 (domain maxPwdAge: 42 days). DSDB only
        # accepts 0 or -1 for pwdLastSet, so this goes in the raw LDIF.
        self.raw(special_dn["expired1"], "pwdLastSet", filetime(EXPIRED_PWD_LAST_SET))
        # locked1: PSO with a lockout threshold (sambactl.sh makes the bad binds once started)
        self.db.add({
            "dn": f"CN=KD-Lockout-Test,CN=Password Settings Container,CN=System,{self.base}",
            "objectClass": "msDS-PasswordSettings",
            "msDS-PasswordSettingsPrecedence": "10",
            "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
            "msDS-PasswordHistoryLength": "0",
            "msDS-PasswordComplexityEnabled": "TRUE",
            "msDS-MinimumPasswordLength": "7",
            "msDS-MinimumPasswordAge": "0",
            "msDS-MaximumPasswordAge": str(-42 * 86400 * 10**7),
            "msDS-LockoutThreshold": str(LOCKOUT_THRESHOLD),
            "msDS-LockoutObservationWindow": str(-TEN_YEARS),
            "msDS-LockoutDuration": str(-TEN_YEARS),
            "msDS-PSOAppliesTo": special_dn["locked1"],
            "description": "locked1 only: lockout after 3 bad passwords, for 10 years",
        })

        # Group membership (direct members as in the generator; nested KD-Helpdesk-Tier1)
        for m in groups:
            name = val(m, "cn")
            members = []
            for v in (m["member"] if "member" in m else []):
                v = str(v)
                members.append(user_dn_by_ldif.get(v.lower(), v))
            if name == SPECIAL_GROUP:
                members += [special_dn[s[0]] for s in SPECIAL_USERS]
            self.add_member(group_dn[name], members)
        t_users = time.time()

        # Computers and their recovery objects
        by_parent = {}
        for r in recovery:
            pkg = r["msFVE-KeyPackage"][0] if "msFVE-KeyPackage" in r else None
            by_parent.setdefault(str(r.dn.parent()).lower(), []).append(
                (str(r.dn), val(r, "cn"), r["msFVE-RecoveryGuid"][0], r["msFVE-VolumeGuid"][0],
                 val(r, "msFVE-RecoveryPassword"), pkg))
        n_rec = 0
        t_last = time.time()
        for i, c in enumerate(computers):
            if a.txn > 1 and i % a.txn == 0:
                if i:
                    self.db.transaction_commit()
                self.db.transaction_start()
            name = val(c, "cn")
            kids = by_parent.get(str(c.dn).lower(), [])
            self.add_computer(str(c.dn), name, kids)
            n_rec += len(kids)
            if "whenCreated" in c:
                self.raw(str(c.dn), "whenCreated", val(c, "whenCreated"))
            if (i + 1) % 500 == 0:
                t = time.time()
                log(f"{i + 1} computers, {n_rec} recovery objects "
                    f"({500 / (t - t_last):.0f} computers/s)")
                t_last = t
        if a.txn > 1 and computers:
            self.db.transaction_commit()
        # RESTRICTED-01
        key, vol, when, pw = RESTRICTED_KEY
        cdn = self.dn(f"CN={RESTRICTED_COMPUTER},{RESTRICTED_OU}")
        rdn = f"CN={when.replace('+', chr(92) + '+')}{{{key}}},{cdn}"
        self.add_computer(cdn, RESTRICTED_COMPUTER, [(rdn, f"{when}{{{key}}}",
                                                      uuid.UUID(key).bytes_le,
                                                      uuid.UUID(vol).bytes_le, pw, None)])
        n_rec += 1
        t_comp = time.time()

        with open(a.raw_ldif, "w", encoding="utf-8") as f:
            f.write("\n".join(self.raw_ldif))
        n_comp = len(computers) + 1
        log(f"OUs+service accounts+ACLs {t_ous - t0:.1f}s, groups+users {t_users - t_ous:.1f}s, "
            f"{n_comp} computers + {n_rec} recovery objects {t_comp - t_users:.1f}s "
            f"({(n_comp + n_rec) / max(t_comp - t_users, 1e-6):.0f} entries/s)")
        for ou, aces in sddl.items():
            log(f"delegation {ou}: {aces}")
        with open(a.summary, "w", encoding="utf-8") as f:
            f.write(f"computers={n_comp}\nrecovery_objects={n_rec}\n"
                    f"svc_sid={svc_sid}\nlockout_threshold={LOCKOUT_THRESHOLD}\n")
            for sam, _pw, _g, _s, code in SPECIAL_USERS:
                f.write(f"special {sam} {code} {special_dn[sam]}\n")


def main():
    p = argparse.ArgumentParser(description="seed keydesk's Samba AD test DC (offline)")
    p.add_argument("--conf", required=True)
    p.add_argument("--generator", required=True)
    p.add_argument("--computers", type=int, required=True)
    p.add_argument("--staff", type=int, default=20)
    p.add_argument("--bind-password-file", required=True)
    p.add_argument("--nodelegation-password-file", required=True)
    p.add_argument("--raw-ldif", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--no-batch-mode", dest="batch_mode", action="store_false",
                   help="do not open sam.ldb in ldb's batch_mode")
    p.add_argument("--txn", type=int, default=1000000,
                   help="computers per transaction (default: all in one)")
    Seeder(p.parse_args()).run()


if __name__ == "__main__":
    main()
