#!/usr/bin/env bash
# sambactl.sh start|stop|restart|status STATE_DIR
#
# Runs a throw-away Samba Active Directory domain controller (realm CORP.EXAMPLE.COM, NetBIOS
# domain CORP) for keydesk's tests, the AD counterpart of ../slapd/slapdctl.sh with the same
# interface and the same STATE_DIR/env keys (see README.md). Everything lives in STATE_DIR:
# the provisioned domain, smb.conf, TLS material, passwords, logs, env/env.sh. Loopback only.
# AD's ports are fixed (88, 389, 464, 636, 3268, 3269): one DC per machine (or network namespace).
#
# Environment: KD_SAMBA_KEYS (about how many generated recovery objects to seed, default 100;
# used only when the domain is first provisioned), KD_SAMBA_LOGLEVEL (samba "log level",
# default 1; log in STATE_DIR/log/samba.log), KD_SAMBA_TEMPLATE (1 = default: keep a pristine
# provisioned domain in STATE_DIR's parent, .kd-samba-template, and copy it; 0: provision
# into STATE_DIR every time).
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
GENERATOR="$SCRIPT_DIR/../slapd/generate-data.py"

REALM=CORP.EXAMPLE.COM
DOMAIN=CORP
BASE_DN="DC=corp,DC=example,DC=com"
BIND_DN="CN=svc-keydesk,OU=Service Accounts,$BASE_DN"
NODELEGATION_DN="CN=svc-nodelegation,OU=Service Accounts,$BASE_DN"
ADMIN_DN="CN=Administrator,CN=Users,$BASE_DN"
RESTRICTED_KEY=5EC2E7ED-0000-4000-8000-0000000000AA
LDAP_PORT=389
LDAPS_PORT=636
TCP_PORTS=(88 389 464 636 3268 3269)
UDP_PORTS=(88 464)
SAMBA=/usr/sbin/samba
SAMBA_TOOL=/usr/bin/samba-tool
# Debian's interpreter: it has Samba's Python modules (another python3 on PATH may not).
PYTHON=/usr/bin/python3
READY_TIMEOUT_S=30
STOP_TIMEOUT_S=10

die() { echo "sambactl: $*" >&2; exit 1; }
usage() { echo "usage: $0 start|stop|restart|status STATE_DIR" >&2; exit 2; }

(($# == 2)) || usage
CMD=$1
STATE_ARG=$2
[[ -n "$STATE_ARG" ]] || usage
for exe in "$SAMBA" "$SAMBA_TOOL" "$PYTHON" /usr/bin/ldbmodify /usr/bin/ldapsearch /usr/bin/openssl; do
    [[ -x "$exe" ]] || die "$exe not found (packages: samba samba-ad-dc samba-ad-provision" \
        "winbind krb5-user ldb-tools ldap-utils openssl python3)"
done

# Our own ldapsearch calls must not be steered by the caller's ldap.conf/ldaprc.
export LDAPCONF=/dev/null LDAPRC=.kd-no-ldaprc

now_ns() { date +%s%N; }
T0=$(now_ns)
TIMINGS=()
LAST=$T0
lap() {  # NAME: record the time since the previous lap
    local t
    t=$(now_ns)
    TIMINGS+=("$1 $(fmt_ms $(((t - LAST) / 1000000)))")
    LAST=$t
}
fmt_ms() { printf '%d.%03ds' $(($1 / 1000)) $(($1 % 1000)); }
since_t0() { fmt_ms $((($(now_ns) - T0) / 1000000)); }

# ---------------------------------------------------------------- paths and processes

state_paths() {
    S=$1
    CONF="$S/smb.conf"
    DC="$S/dc"                 # provision's --targetdir: private/, state/, etc/, bind-dns/
    TLS="$S/tls"
    RUN="$S/run"
    LOGDIR="$S/log"
    PIDFILE="$RUN/dc.pid"      # "PID STARTTIME" of the samba we started
    PARTITION="$DC/private/sam.ldb.d/DC=CORP,DC=EXAMPLE,DC=COM.ldb"
}

# Sets PF to /proc/PID/stat's fields after the command name: [0]=state [1]=ppid [19]=starttime.
# Bash builtins only (no fork): samba_children calls it for every process on the machine.
proc_fields() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a PF <<<"${stat##*) }"
}

# Is PID alive (not a zombie), /usr/sbin/samba, and (if given) started at STARTTIME?
is_samba_pid() {
    local pid=$1 want_start=${2:-} exe
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    proc_fields "$pid" || return 1
    [[ "${PF[0]}" != Z && "${PF[0]}" != X ]] || return 1
    [[ -z "$want_start" || "${PF[19]}" == "$want_start" ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ "$exe" == "$SAMBA" ]]
}

start_time_of() { proc_fields "$1" || return 1; echo "${PF[19]}"; }

# PIDs of live samba processes whose parent is PID.
samba_children() {
    local parent=$1 d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        proc_fields "$pid" || continue
        [[ "${PF[1]}" == "$parent" ]] || continue
        is_samba_pid "$pid" && echo "$pid"
    done
    return 0
}

# Prints the PID of this state dir's running samba; fails if there is none.
running_pid() {
    local pid start
    [[ -s "$PIDFILE" ]] || return 1
    read -r pid start <"$PIDFILE" || true
    is_samba_pid "$pid" "$start" || return 1
    echo "$pid"
}

lock_state() {
    exec 9>"$S/.lock"
    flock -w 120 9 || die "could not lock $S/.lock"
}

# Fails (listing them) if any of the DC's ports is taken.
check_ports_free() {
    local busy=''
    local tcp_re udp_re
    tcp_re=$(IFS='|'; echo "${TCP_PORTS[*]}")
    udp_re=$(IFS='|'; echo "${UDP_PORTS[*]}")
    busy=$( { ss -Hltnp 2>/dev/null | awk -v re=":($tcp_re)\$" '$4 ~ re'
              ss -Hlunp 2>/dev/null | awk -v re=":($udp_re)\$" '$4 ~ re'; } || true)
    if [[ -n "$busy" ]]; then
        echo "$busy" >&2
        die "AD's ports (tcp ${TCP_PORTS[*]}, udp ${UDP_PORTS[*]}) must be free; taken by the" \
            "listeners above (another DC or directory?). Refusing to start."
    fi
}

# ---------------------------------------------------------------- first-start material

gen_secret() {  # FILE: random password (24 chars of [A-Za-z0-9_-], with upper, lower, digit)
    [[ -s "$1" ]] && return 0
    local abc=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_ pw i
    [[ -n "${SRANDOM:-}" ]] || die "bash >= 5.1 needed (SRANDOM)"
    while :; do  # AD's complexity rule wants 3 of 5 character classes: insist on 3 of them
        pw=''
        for ((i = 0; i < 24; i++)); do pw+=${abc:SRANDOM % 64:1}; done
        [[ "$pw" =~ [A-Z] && "$pw" =~ [a-z] && "$pw" =~ [0-9] ]] && break
    done
    (umask 077 && printf '%s' "$pw" >"$1.tmp")
    mv "$1.tmp" "$1"
}

gen_tls() {
    [[ -s "$TLS/server.pem" && -s "$TLS/server.key" && -s "$TLS/ca.pem" && -s "$TLS/other-ca.pem" ]] \
        && return 0
    rm -rf "$TLS"
    mkdir -p "$TLS"
    local host san="DNS:localhost,IP:127.0.0.1,IP:::1"
    host=$(hostname 2>/dev/null || true)
    [[ -n "$host" && "$host" != localhost ]] && san="DNS:localhost,DNS:$host,IP:127.0.0.1,IP:::1"
    cat >"$TLS/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $san
EOF
    (
        umask 077
        cd "$TLS"
        local req=(openssl req -config openssl.cnf -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
                   -noenc -sha256 -days 3650)
        "${req[@]}" -keyout ca.key -extensions ca_ext \
            -subj "/O=keydesk tests/CN=keydesk test CA" -out ca.pem
        "${req[@]}" -keyout other-ca.key -extensions ca_ext \
            -subj "/O=keydesk tests/CN=keydesk UNRELATED test CA" -out other-ca.pem
        "${req[@]}" -keyout server.key -CA ca.pem -CAkey ca.key -extensions server_ext \
            -subj "/O=keydesk tests/CN=localhost" -out server.pem
        chmod 0644 ca.pem other-ca.pem server.pem   # server.key stays 0600: samba insists
    ) >"$LOGDIR/openssl.log" 2>&1 || { cat "$LOGDIR/openssl.log" >&2; die "TLS material generation failed"; }
}

write_conf() {
    local loglevel=${KD_SAMBA_LOGLEVEL:-1}
    cat >"$CONF.tmp" <<EOF
# Generated by $SCRIPT_PATH -- rewritten on every start.
[global]
	netbios name = DC1
	realm = $REALM
	workgroup = $DOMAIN
	server role = active directory domain controller
	server services = ldap, kdc
	interfaces = lo
	bind interfaces only = yes
	private dir = $DC/private
	lock directory = $DC
	state directory = $DC/state
	cache directory = $DC/cache
	binddns dir = $DC/bind-dns
	pid directory = $RUN
	ncalrpc dir = $RUN/ncalrpc
	winbindd socket directory = $RUN/winbindd
	ntp signd socket directory = $RUN/ntp_signd
	log file = $LOGDIR/samba.log
	max log size = 0
	log level = $loglevel
	dns update command = /bin/true
	spn update command = /bin/true
	nsupdate command = /bin/true
	# test domain: no fsync on every ldb commit
	ldb:nosync = true
	tls enabled = yes
	tls keyfile = $TLS/server.key
	tls certfile = $TLS/server.pem
	tls cafile = $TLS/ca.pem
EOF
    mv "$CONF.tmp" "$CONF"
    cat >"$S/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
[realms]
	$REALM = {
		kdc = 127.0.0.1:88
		admin_server = 127.0.0.1:464
	}
[domain_realm]
	.corp.example.com = $REALM
	corp.example.com = $REALM
EOF
}

# samba-tool domain provision into DIR with the admin password in DIR.adminpass.
provision_into() {
    local dir=$1 log=$2
    rm -rf "$dir" "$dir.conf"
    : >"$dir.conf"   # empty: provision must not copy /etc/samba/smb.conf's globals
    "$SAMBA_TOOL" domain provision -s "$dir.conf" --targetdir="$dir" \
        --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
        --host-name=dc1 --host-ip=127.0.0.1 --adminpass="$(cat "$dir.adminpass")" \
        --option="interfaces=lo" --option="bind interfaces only=yes" \
        --option="ldb:nosync=true" >"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; die "provision failed (see $log)"; }
    rm -f "$dir.conf"
    mkdir -p "$dir/cache"
}

# A fresh domain in $DC. With KD_SAMBA_TEMPLATE=1 (default) a pristine provisioned domain is
# kept in STATE_DIR's parent (.kd-samba-template, ~35 MB) and copied: provisioning costs 4-20 s
# of CPU, copying ~0.1 s. Every copy has the same domain SID, krbtgt keys and Administrator
# password (fine for tests). Nothing in the provisioned tree holds an absolute path that is used
# (only its etc/smb.conf, which sambactl.sh does not use).
provision() {
    rm -rf "$DC"
    if [[ "${KD_SAMBA_TEMPLATE:-1}" != 1 || ! -w "$(dirname "$S")" ]]; then
        cp "$S/admin-password" "$DC.adminpass"
        provision_into "$DC" "$LOGDIR/provision.log"
        rm -f "$DC.adminpass"
        lap provision
        return 0
    fi
    local parent tpl key
    parent=$(dirname "$S")
    tpl="$parent/.kd-samba-template"
    key="$("$SAMBA" --version) realm=$REALM domain=$DOMAIN host=dc1 v1"
    (
        exec 8>"$tpl.lock"
        flock -w 300 8 || die "could not lock $tpl.lock"
        [[ -d "$tpl/dc" && "$(cat "$tpl/key" 2>/dev/null)" == "$key" ]] && exit 0
        rm -rf "$tpl" "$tpl.new"
        mkdir -p "$tpl.new"
        gen_secret "$tpl.new/dc.adminpass"
        provision_into "$tpl.new/dc" "$tpl.new/provision.log"
        echo "$key" >"$tpl.new/key"
        mv "$tpl.new" "$tpl"
        echo "sambactl: provisioned template $tpl" >&2
    ) 9>&-
    lap provision-template
    cp -a "$tpl/dc" "$DC"
    cp "$tpl/dc.adminpass" "$S/admin-password"
    cp "$tpl/provision.log" "$LOGDIR/provision.log"
    lap copy-template
}

seed() {
    local keys=$1 computers
    computers=$(((keys * 8 + 14) / 15))   # generate-data.py makes ~1.875 keys per computer
    "$PYTHON" "$SCRIPT_DIR/seed.py" --conf "$CONF" --generator "$GENERATOR" \
        --computers "$computers" --bind-password-file "$S/bind-password" \
        --nodelegation-password-file "$S/nodelegation-password" \
        --raw-ldif "$S/seed-raw.ldif" --summary "$S/seed-summary" 2>"$LOGDIR/seed.log" \
        || { tail -n 30 "$LOGDIR/seed.log" >&2; die "seeding failed (see $LOGDIR/seed.log)"; }
    lap seed
    # What DSDB refuses even to the system session (pwdLastSet in the past, whenCreated):
    # a raw modify of the domain partition, no Samba modules loaded.
    ldbmodify -H "$PARTITION" "$S/seed-raw.ldif" >"$LOGDIR/seed-raw.log" 2>&1 \
        || { tail -n 20 "$LOGDIR/seed-raw.log" >&2; die "raw ldbmodify failed"; }
    lap raw-ldbmodify
}

# ---------------------------------------------------------------- online helpers

ldaps_bind() {  # DN PASSWORD_FILE [ldapsearch args...]: CA and host name verified
    local dn=$1 pwf=$2
    shift 2
    LDAPTLS_CACERT="$TLS/ca.pem" LDAPTLS_REQCERT=demand \
        timeout 10 ldapsearch -x -H "ldaps://localhost:$LDAPS_PORT" -o nettimeout=5 \
        -D "$dn" -y "$pwf" "$@"
}

ldaps_ok() {
    ldaps_bind "$ADMIN_DN" "$S/admin-password" -b "" -s base '(objectClass=*)' 1.1 \
        >/dev/null 2>&1
}

# AD's "data XXX" code of a simple bind as DN with PASSWORD (empty output: bind succeeded).
bind_code() {
    local out
    out=$(LDAPTLS_CACERT="$TLS/ca.pem" timeout 10 ldapsearch -x -H "ldaps://localhost:$LDAPS_PORT" \
        -D "$1" -w "$2" -b "" -s base '(objectClass=*)' 1.1 2>&1) && return 0
    [[ "$out" =~ data\ ([0-9a-f]+) ]] && echo "${BASH_REMATCH[1]}" || echo "error: $out"
}

lock_out_locked1() {
    [[ -e "$S/.locked-out" ]] && return 0
    local dn threshold code i
    dn=$(awk '$1 == "special" && $2 == "locked1" {sub(/^special locked1 775 /, ""); print}' \
        "$S/seed-summary")
    threshold=$(sed -n 's/^lockout_threshold=//p' "$S/seed-summary")
    [[ -n "$dn" && -n "$threshold" ]] || die "no locked1 in $S/seed-summary"
    for ((i = 0; i < threshold; i++)); do
        bind_code "$dn" "wrong-password-$i" >/dev/null
    done
    code=$(bind_code "$dn" 'Locked1-Pass!')
    [[ "$code" == 775 ]] || die "locked1 is not locked out after $threshold bad binds (got '$code')"
    touch "$S/.locked-out"
}

write_env() {
    local pid=$1 k v kv
    local -a keys=(
        "KD_LDAPS_URI=ldaps://localhost:$LDAPS_PORT"
        "KD_LDAP_URI=ldap://localhost:$LDAP_PORT"
        "KD_BASE_DN=$BASE_DN"
        "KD_BIND_DN=$BIND_DN"
        "KD_BIND_PASSWORD_FILE=$S/bind-password"
        "KD_CA_FILE=$TLS/ca.pem"
        "KD_WRONG_CA_FILE=$TLS/other-ca.pem"
        "KD_DC_PID=$pid"
        "KD_ADMIN_DN=$ADMIN_DN"
        "KD_ADMIN_PASSWORD_FILE=$S/admin-password"
        "KD_STATE_DIR=$S"
        "KD_SLAPDCTL=$SCRIPT_PATH"
        "KD_DIRECTORY_KIND=samba"
        "KD_DOMAIN=$DOMAIN"
        "KD_REALM=$REALM"
        "KD_NODELEGATION_DN=$NODELEGATION_DN"
        "KD_NODELEGATION_PASSWORD_FILE=$S/nodelegation-password"
        "KD_RESTRICTED_KEY=$RESTRICTED_KEY"
    )
    printf '%s\n' "${keys[@]}" >"$S/env.tmp"
    : >"$S/env.sh.tmp"
    for kv in "${keys[@]}"; do
        k=${kv%%=*}
        v=${kv#*=}
        printf "export %s='%s'\n" "$k" "${v//\'/\'\\\'\'}" >>"$S/env.sh.tmp"
    done
    mv "$S/env.tmp" "$S/env"
    mv "$S/env.sh.tmp" "$S/env.sh"
}

# ---------------------------------------------------------------- commands

do_start() {
    mkdir -p "$STATE_ARG"
    state_paths "$(cd "$STATE_ARG" && pwd -P)"
    lock_state
    local pid
    if pid=$(running_pid); then
        echo "samba already running (pid $pid) for $S"
        return 0
    fi
    check_ports_free
    mkdir -p "$RUN" "$LOGDIR"
    rm -f "$PIDFILE"
    gen_secret "$S/admin-password"
    gen_secret "$S/bind-password"
    gen_secret "$S/nodelegation-password"
    gen_tls
    lap tls+secrets

    local fresh=0 nkeys=${KD_SAMBA_KEYS:-100}
    [[ "$nkeys" =~ ^[0-9]+$ ]] || die "KD_SAMBA_KEYS must be a number, got '$nkeys'"
    if [[ ! -e "$S/.seeded" ]]; then
        # New (or half-made: a start that failed before seeding finished) -> from scratch.
        fresh=1
        rm -f "$S/.locked-out"
        provision
        write_conf
        seed "$nkeys"
        echo "keys=$nkeys" >"$S/.seeded"
    else
        if [[ -n "${KD_SAMBA_KEYS:-}" ]] && ! grep -qx "keys=$KD_SAMBA_KEYS" "$S/.seeded"; then
            echo "sambactl: note: KD_SAMBA_KEYS=$KD_SAMBA_KEYS ignored, $S already holds" \
                "$(cat "$S/.seeded")" >&2
        fi
        write_conf
    fi

    echo "=== $(date -u +%FT%TZ) samba -s $CONF --foreground --no-process-group -M single" \
        >>"$LOGDIR/samba.out"
    setsid "$SAMBA" -s "$CONF" --foreground --no-process-group -M single \
        </dev/null >>"$LOGDIR/samba.out" 2>&1 9>&- &
    local launched=$!
    # Recorded at once, so that stop finds it even if this script dies before "ready".
    echo "$launched $(start_time_of "$launched" || echo 0)" >"$PIDFILE"

    local deadline ready=0
    deadline=$(($(now_ns) + READY_TIMEOUT_S * 1000000000))
    while (($(now_ns) < deadline)); do
        if ! is_samba_pid "$launched"; then
            # setsid forks when it is a process group leader: then trust samba's own PID file.
            pid=$(cat "$RUN/samba.pid" 2>/dev/null || true)
            if is_samba_pid "$pid"; then
                launched=$pid
                echo "$pid $(start_time_of "$pid")" >"$PIDFILE"
            else
                tail -n 20 "$LOGDIR/samba.log" "$LOGDIR/samba.out" >&2 2>/dev/null || true
                die "samba exited during start-up (logs: $LOGDIR/samba.log, samba.out)"
            fi
        fi
        if ldaps_ok; then ready=1; break; fi
        sleep 0.1
    done
    if ((!ready)); then
        tail -n 20 "$LOGDIR/samba.log" >&2 2>/dev/null || true
        is_samba_pid "$launched" && kill -TERM "$launched" 2>/dev/null
        die "samba not ready after ${READY_TIMEOUT_S}s (log: $LOGDIR/samba.log)"
    fi
    lap start-to-ldaps-ready
    lock_out_locked1
    ((fresh)) && lap lock-out-locked1
    write_env "$launched"
    printf 'samba AD DC ready (pid %s) ldaps://localhost:%s ldap://localhost:%s state %s (%s: %s)\n' \
        "$launched" "$LDAPS_PORT" "$LDAP_PORT" "$S" "$(since_t0)" "${TIMINGS[*]/%/,}"
}

do_stop() {
    if [[ ! -d "$STATE_ARG" ]]; then
        echo "samba not running (no state dir $STATE_ARG)"
        return 0
    fi
    state_paths "$(cd "$STATE_ARG" && pwd -P)"
    lock_state
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        echo "samba not running for $S"
        return 0
    fi
    local -a kids
    mapfile -t kids < <(samba_children "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    local i how=SIGTERM
    for ((i = 0; i < STOP_TIMEOUT_S * 20; i++)); do
        is_samba_pid "$pid" || break
        sleep 0.05
    done
    if is_samba_pid "$pid"; then
        echo "sambactl: samba $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s, sending SIGKILL" >&2
        how=SIGKILL
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            is_samba_pid "$pid" || break
            sleep 0.05
        done
        is_samba_pid "$pid" && die "samba $pid survived SIGKILL"
    fi
    # -M single has no children; should there be any (another process model), end them too.
    local k
    for k in "${kids[@]}"; do
        if is_samba_pid "$k"; then
            echo "sambactl: samba child $k still running, sending SIGKILL" >&2
            kill -KILL "$k" 2>/dev/null || true
        fi
    done
    rm -f "$PIDFILE"
    lap stop
    echo "samba stopped (pid $pid, $how, ${#kids[@]} children) for $S ($(since_t0))"
}

do_status() {
    if [[ -d "$STATE_ARG" ]]; then
        state_paths "$(cd "$STATE_ARG" && pwd -P)"
        local pid
        if pid=$(running_pid); then
            echo "samba running (pid $pid) for $S"
            return 0
        fi
    fi
    echo "samba not running for $STATE_ARG"
    return 3
}

case "$CMD" in
    start) do_start ;;
    stop) do_stop ;;
    restart) do_stop && do_start ;;
    status) do_status ;;
    *) usage ;;
esac
