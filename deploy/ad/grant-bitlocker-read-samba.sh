#!/usr/bin/env bash
# Grants keydesk's service account the least it needs to read BitLocker recovery passwords on ONE
# OU of a Samba AD domain: Read Property on descendant msFVE-RecoveryInformation objects, and
# Control Access on their confidential msFVE-RecoveryPassword attribute. Run it on a DC, as root,
# once per OU that holds computers (never on the domain root). Extra arguments go to samba-tool
# (e.g. `-s /etc/samba/smb.conf`).
#
#   grant-bitlocker-read-samba.sh "OU=Laptops,DC=corp,DC=example,DC=com" svc-keydesk [samba-tool options]
#
# Add --object-only before the OU to grant only Read Property: keydesk then sees the keys and
# reports "not permitted" for their passwords instead of "not found".
set -euo pipefail
object_only=0
if [ "${1:-}" = "--object-only" ]; then object_only=1; shift; fi
ou=${1:?usage: grant-bitlocker-read-samba.sh [--object-only] OU_DN ACCOUNT [samba-tool options]}
account=${2:?usage: grant-bitlocker-read-samba.sh [--object-only] OU_DN ACCOUNT [samba-tool options]}
shift 2

recovery_information=ea715d30-8f53-40d0-bd1e-6109186d782c  # class msFVE-RecoveryInformation
recovery_password=43061ac1-c8ad-4ccc-b785-2bfac20fc60a     # attribute msFVE-RecoveryPassword

sid=$(samba-tool user show "$account" --attributes=objectSid "$@" | sed -n 's/^objectSid: //p')
[ -n "$sid" ] || { echo "no objectSid for account $account" >&2; exit 1; }

# OA = object ACE; CIIO = inherited by child objects only; RP = read property; CR = control access.
sddl="(OA;CIIO;RP;;$recovery_information;$sid)"
[ $object_only = 1 ] || sddl+="(OA;CIIO;CR;$recovery_password;$recovery_information;$sid)"
samba-tool dsacl set --objectdn="$ou" --sddl="$sddl" "$@"
echo "granted $account ($sid) on $ou: $sddl"
