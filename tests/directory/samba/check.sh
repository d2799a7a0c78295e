#!/usr/bin/env bash
# shellcheck disable=SC2015  # pass and fail always succeed
# check.sh STATE_DIR -- self-test of a running sambactl.sh domain controller.
#
# Checks TLS (LDAPS and StartTLS, CA verified, wrong CA refused, no simple bind without TLS),
# the delegation (svc-keydesk reads K1's password, sees RESTRICTED-01's object but not its
# password; ordinary users and svc-nodelegation see no password), nested groups with
# LDAP_MATCHING_RULE_IN_CHAIN, the bind error codes of the special accounts, and the rootDSE.
# Prints one line per check; exits 1 if any failed.
set -uo pipefail
(($# == 1)) || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[[ -s "$1/env" ]] || { echo "check: no $1/env (not started?)" >&2; exit 2; }
# shellcheck disable=SC1091
. "$1/env.sh"
export LDAPCONF=/dev/null LDAPRC=.kd-no-ldaprc LDAPTLS_REQCERT=demand

B=$KD_BASE_DN
FAILS=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; FAILS=$((FAILS + 1)); }
expect() {  # NAME EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then pass "$1: $3"; else fail "$1: expected '$2', got '$3'"; fi
}

# q DN PASSWORD_FILE [ldapsearch args]: LDAPS, CA verified, no referral chasing, LDIF unwrapped
q() {
    local dn=$1 pwf=$2
    shift 2
    LDAPTLS_CACERT=$KD_CA_FILE ldapsearch -x -LLL -o ldif-wrap=no -H "$KD_LDAPS_URI" \
        -D "$dn" -y "$pwf" "$@" 2>&1
}
svc() { q "$KD_BIND_DN" "$KD_BIND_PASSWORD_FILE" "$@"; }
pwfile() { local f; f=$(mktemp); printf '%s' "$1" >"$f"; echo "$f"; }
code_of() {  # DN PASSWORD -> "ok" or AD's data code
    local out
    out=$(LDAPTLS_CACERT=$KD_CA_FILE ldapsearch -x -H "$KD_LDAPS_URI" -D "$1" -w "$2" \
        -b "" -s base '(objectClass=*)' 1.1 2>&1) && { echo ok; return; }
    [[ "$out" =~ data\ ([0-9a-f]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?: ${out//$'\n'/ }"
}
count_dn() { grep -c '^dn:' || true; }

K1_GUID='\e1\a4\3e\06\0c\22\93\42\ba\01\47\54\62\0a\96\e7'
K1_PW=466895-217492-569250-069608-104434-135707-527241-083622
R_GUID='\ed\e7\c2\5e\00\00\00\40\80\00\00\00\00\00\00\aa'
HELPDESK1="CN=Hana Helpdesk,OU=Staff,$B"

# ---- TLS
out=$(svc -b "$B" -s base '(objectClass=*)' 1.1) && pass "LDAPS $KD_LDAPS_URI, CA verified, svc-keydesk bind" \
    || fail "LDAPS: $out"
out=$(LDAPTLS_CACERT=$KD_CA_FILE ldapsearch -x -LLL -ZZ -H "$KD_LDAP_URI" -D "$KD_BIND_DN" \
    -y "$KD_BIND_PASSWORD_FILE" -b "$B" -s base '(objectClass=*)' 1.1 2>&1) \
    && pass "StartTLS (-ZZ) on $KD_LDAP_URI" || fail "StartTLS: $out"
out=$(LDAPTLS_CACERT=$KD_CA_FILE ldapsearch -x -LLL -H "ldaps://127.0.0.1:636" -D "$KD_BIND_DN" \
    -y "$KD_BIND_PASSWORD_FILE" -b "$B" -s base '(objectClass=*)' 1.1 2>&1) \
    && pass "LDAPS to 127.0.0.1 (IP SAN)" || fail "LDAPS 127.0.0.1: $out"
out=$(LDAPTLS_CACERT=$KD_WRONG_CA_FILE ldapsearch -x -LLL -H "$KD_LDAPS_URI" -D "$KD_BIND_DN" \
    -y "$KD_BIND_PASSWORD_FILE" -b "$B" -s base 1.1 2>&1) \
    && fail "wrong CA accepted" || pass "wrong CA refused: $(head -1 <<<"$out")"
out=$(LDAPTLS_CACERT=$KD_WRONG_CA_FILE ldapsearch -x -LLL -ZZ -H "$KD_LDAP_URI" -D "$KD_BIND_DN" \
    -y "$KD_BIND_PASSWORD_FILE" -b "$B" -s base 1.1 2>&1) \
    && fail "wrong CA accepted (StartTLS)" || pass "wrong CA refused (StartTLS): $(head -1 <<<"$out")"
out=$(ldapsearch -x -LLL -H "$KD_LDAP_URI" -D "$KD_BIND_DN" -y "$KD_BIND_PASSWORD_FILE" \
    -b "$B" -s base 1.1 2>&1) && fail "simple bind without TLS accepted" \
    || pass "simple bind without TLS refused: $(grep -m1 -E 'ldap_bind|additional' <<<"$out")"

# ---- rootDSE
out=$(LDAPTLS_CACERT=$KD_CA_FILE ldapsearch -x -LLL -H "$KD_LDAPS_URI" -b "" -s base \
    supportedCapabilities 2>&1)
grep -q '^supportedCapabilities: 1.2.840.113556.1.4.800$' <<<"$out" \
    && pass "rootDSE supportedCapabilities has 1.2.840.113556.1.4.800 (anonymous read)" \
    || fail "rootDSE: $out"

# ---- delegation
out=$(svc -b "OU=Laptops,$B" "(msFVE-RecoveryGuid=$K1_GUID)" msFVE-RecoveryPassword)
expect "svc-keydesk reads K1's password (equality on msFVE-RecoveryGuid)" "$K1_PW" \
    "$(sed -n 's/^msFVE-RecoveryPassword: //p' <<<"$out")"
out=$(svc -b "$B" -E '!1.2.840.113556.1.4.1339' '(cn=*{063EA4E1*)' cn | count_dn)
expect "svc-keydesk: (cn=*{063EA4E1*) from the domain root (domain scope control)" 2 "$out"
out=$(svc -b "$B" '(name=*{1F5A63B3*)' msFVE-RecoveryPassword | grep -c '^msFVE-RecoveryPassword:')
expect "svc-keydesk: (name=*{1F5A63B3*) -> passwords of K3 and K4" 2 "$out"
out=$(svc -b "$B" "(msFVE-RecoveryGuid=$R_GUID)" cn msFVE-RecoveryGuid msFVE-RecoveryPassword)
grep -q '^dn: ' <<<"$out" && pass "svc-keydesk sees the RESTRICTED-01 recovery object" \
    || fail "svc-keydesk does not see RESTRICTED-01's object: $out"
grep -q '^msFVE-RecoveryGuid:: ' <<<"$out" && pass "svc-keydesk sees RESTRICTED-01's msFVE-RecoveryGuid" \
    || fail "svc-keydesk does not see RESTRICTED-01's GUID"
grep -q '^msFVE-RecoveryPassword' <<<"$out" && fail "svc-keydesk READS RESTRICTED-01's password" \
    || pass "svc-keydesk does not get RESTRICTED-01's password"
out=$(svc -b "$B" '(msFVE-RecoveryPassword=000011-000022-000033-000044-000055-000066-000077-000088)' 1.1 \
    | count_dn)
expect "svc-keydesk: filter on RESTRICTED-01's password matches nothing" 0 "$out"

HPW=$(pwfile 'Helpdesk1-Pass!')
trap 'rm -f "$HPW"' EXIT
for who in helpdesk1 svc-nodelegation; do
    if [[ $who == helpdesk1 ]]; then dn=$HELPDESK1 pwf=$HPW; else dn=$KD_NODELEGATION_DN pwf=$KD_NODELEGATION_PASSWORD_FILE; fi
    out=$(q "$dn" "$pwf" -b "$B" '(objectClass=*)' msFVE-RecoveryPassword | grep -c '^msFVE-RecoveryPassword')
    expect "$who: recovery passwords visible in the whole domain" 0 "$out"
    out=$(q "$dn" "$pwf" -b "$B" '(objectClass=msFVE-RecoveryInformation)' 1.1 | count_dn)
    expect "$who: (objectClass=msFVE-RecoveryInformation) matches" 0 "$out"
    out=$(q "$dn" "$pwf" -b "$B" '(cn=*{063EA4E1*)' 1.1 | count_dn)
    expect "$who: (cn=*{063EA4E1*) matches" 0 "$out"
    out=$(q "$dn" "$pwf" -b "CN=LAPTOP-0042,OU=Laptops,$B" -s one '(objectClass=*)' '*' | count_dn)
    printf 'INFO  %s: one-level listing of LAPTOP-0042 shows %s entries\n' "$who" "$out"
done

# ---- nested groups
out=$(svc -b "$B" "(memberOf:1.2.840.113556.1.4.1941:=CN=KD-Helpdesk,OU=Groups,$B)" sAMAccountName \
    | sed -n 's/^sAMAccountName: //p' | sort | tr '\n' ' ')
[[ " $out" == *" helpdesk1 "* ]] && pass "(memberOf:1.2.840.113556.1.4.1941:=KD-Helpdesk) finds: $out" \
    || fail "in-chain memberOf: $out"
out=$(q "$HELPDESK1" "$HPW" -b "$B" \
    "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=$HELPDESK1))" cn \
    | sed -n 's/^cn: //p' | sort | tr '\n' ' ')
expect "helpdesk1's groups by (member:1.2.840.113556.1.4.1941:=DN), as helpdesk1" \
    "All-Staff KD-Helpdesk KD-Helpdesk-Tier1 " "$out"

# ---- bind codes
expect "helpdesk1 right password" ok "$(code_of "$HELPDESK1" 'Helpdesk1-Pass!')"
expect "helpdesk1 wrong password" 52e "$(code_of "$HELPDESK1" 'Wrong1-Pass!')"
for u in "Aldo Auditor:Auditor1-Pass!" "Sita Security:Security1-Pass!" "Ada Admin:Admin1-Pass!" \
         "Pat Plain:Plain1-Pass!"; do
    expect "${u%%:*} right password" ok "$(code_of "CN=${u%%:*},OU=Staff,$B" "${u#*:}")"
done
expect "svc-nodelegation right password" ok "$(code_of "$KD_NODELEGATION_DN" "$(cat "$KD_NODELEGATION_PASSWORD_FILE")")"
expect "helpdesk1 as user@realm" ok "$(code_of "helpdesk1@$KD_REALM" 'Helpdesk1-Pass!')"
expect "helpdesk1 as DOMAIN\\user" ok "$(code_of "$KD_DOMAIN\\helpdesk1" 'Helpdesk1-Pass!')"
while read -r _ sam code dn; do
    pw=$(case $sam in disabled1) echo 'Disabled1-Pass!' ;; mustchange1) echo 'Change1-Pass!' ;;
        expired1) echo 'Expired1-Pass!' ;; accexpired1) echo 'AccExp1-Pass!' ;;
        locked1) echo 'Locked1-Pass!' ;; esac)
    expect "$sam ($dn) right password" "$code" "$(code_of "$dn" "$pw")"
done < <(grep '^special ' "$KD_STATE_DIR/seed-summary")

echo "check: $FAILS failed"
((FAILS == 0))
