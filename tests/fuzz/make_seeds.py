#!/usr/bin/env python3
# Writes tests/fuzz's seed corpora and dictionaries (the output is committed; rerun after editing).
import os, struct, hashlib
root = os.path.dirname(os.path.abspath(__file__))

def corpus(name, items):
    d = os.path.join(root, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for label, data in items:
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, label), "wb") as f:
            f.write(data)

def dictionary(name, header, tokens):
    def q(tok):
        if isinstance(tok, str):
            tok = tok.encode()
        out = ""
        for b in tok:
            c = chr(b)
            if c == '"' or c == '\\':
                out += "\\" + c
            elif 0x20 <= b < 0x7f:
                out += c
            else:
                out += "\\x%02X" % b
        return '"' + out + '"'
    with open(os.path.join(root, name + ".dict"), "w") as f:
        f.write("# " + header + "\n")
        for tok in tokens:
            f.write(q(tok) + "\n")

# 1. key_id: first byte picks the minimum (1 + byte % 32) hex digits.
m8, m32, m1 = b"\x07", b"\x1f", b"\x00"
corpus("key_id", [
    ("prefix-8", m8 + b"063EA4E1"),
    ("full-braced", m32 + b"{063EA4E1-220C-4293-BA01-4754620A96E7}"),
    ("full-plain-lower", m32 + b"063ea4e1220c4293ba014754620a96e7"),
    ("spaced-groups", m8 + b"  063ea4e1 220c\t4293  "),
    ("one-digit", m1 + b"b"),
    ("too-long", m8 + b"063EA4E1-220C-4293-BA01-4754620A96E7FF"),
    ("invalid-char", m8 + b"063EA4E1-220G"),
    ("computer-sam", m8 + b"PC-0042$"),
    ("computer-fqdn", m8 + b"pc-0042.corp.example.com"),
    ("dn", m8 + b"CN=PC-0042,OU=Laptops,DC=corp,DC=example,DC=com"),
    ("dn-escaped", m8 + b"cn=Smith\\, John+uid=js,ou=Staff,dc=example,dc=com"),
    ("dn-hex", m8 + b"CN=#04024869,O=Test,C=GB"),
])
dictionary("key_id", "KeyIdPrefix::parse, parse_computer_name, normalize_dn", [
    "{", "}", "-", " ", "\t", "$", ".", "_", "063EA4E1", "220C", "4293", "BA01", "4754620A96E7",
    "abcdef", "ABCDEF", "0123456789", "CN=", "OU=", "DC=", "O=", "C=", "uid=", ",", "+", "=", ";",
    "\\,", "\\2C", "\\\\", "\\22", "#04024869", "\"", "<", ">", "\x00", "\xc3\xa9",
])

# 2. ldap_filter: the whole input is a value; byte 0 and bytes 1-16 also make a GUID prefix.
corpus("ldap_filter", [
    ("plain", b"alice"),
    ("specials", b"a*b(c)\\d"),
    ("nul-and-high", b"\x00\x01\x7f\x80\xff"),
    ("utf8", "café €".encode()),
    ("key-id-prefix", b"063EA4E1-220C"),
    ("key-id-full", b"{063EA4E1-220C-4293-BA01-4754620A96E7}"),
    ("guid-bytes", b"\x1f" + bytes([0x2a, 0x28, 0x29, 0x5c, 0x00, 0x7b, 0x7d, 0x20, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07])),
    ("escaped-looking", b"\\2a\\28\\29\\5c\\00"),
    ("empty", b""),
])
dictionary("ldap_filter", "escape_filter_value, equality_filter, recovery_key_filter", [
    "*", "(", ")", "\\", "\x00", "\\2a", "\\28", "\\29", "\\5c", "\\00", "{", "}", "-", "=",
    "(&", "(|", "(!", "063EA4E1", "220C-4293", "\xff", "\x80", "\xc3\xa9",
])

# 3. http_request: raw requests; @TOKEN@ and @CSRF@ become the helpdesk session's.
H = "Host: keydesk.example.com\r\n"
CK = "Cookie: __Host-keydesk=@TOKEN@\r\n"
CS = "X-CSRF-Token: @CSRF@\r\n"
OR = "Origin: https://keydesk.example.com\r\n"
def post(path, body, extra=CK + CS + OR, ctype="application/json"):
    return ("POST %s HTTP/1.1\r\n%s%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (path, H, extra, ctype, len(body.encode()), body))
reveal_body = ('{"key_id":"063EA4E1-220C-4293-BA01-4754620A96E7","reason":"lost_pin",'
               '"ticket":"INC0012345","end_user":"alice","computer_dn":"CN=PC-0042,OU=Laptops,DC=example,DC=com"}')
corpus("http_request", [
    ("get-index", "GET / HTTP/1.1\r\n" + H + "\r\n"),
    ("get-asset-etag", "GET /assets/app.js HTTP/1.1\r\n" + H + "If-None-Match: \"x\"\r\n\r\n"),
    ("head-index", "HEAD / HTTP/1.1\r\n" + H + "\r\n"),
    ("healthz", "GET /healthz HTTP/1.1\r\n" + H + "\r\n"),
    ("readyz", "GET /readyz HTTP/1.0\r\n\r\n"),
    ("session-get", "GET /api/v1/session HTTP/1.1\r\n" + H + CK + "\r\n"),
    ("session-get-anonymous", "GET /api/v1/session HTTP/1.1\r\n" + H + "\r\n"),
    ("sign-in", post("/api/v1/session", '{"username":"CORP\\\\alice","password":"hunter2"}', extra=OR)),
    ("sign-in-bad-json", post("/api/v1/session", '{"username":1,"extra":true}', extra="")),
    ("lookup-key", post("/api/v1/lookups", '{"key_id":"063EA4E1","ticket":"INC0012345"}')),
    ("lookup-computer", post("/api/v1/lookups", '{"computer":"PC-0042$"}')),
    ("lookup-invalid", post("/api/v1/lookups", '{"key_id":"zz","computer":"x"}')),
    ("lookup-no-csrf", post("/api/v1/lookups", '{"key_id":"063EA4E1"}', extra=CK)),
    ("lookup-cross-origin", post("/api/v1/lookups", '{"key_id":"063EA4E1"}', extra=CK + CS + "Origin: https://evil.example\r\n")),
    ("reveal", post("/api/v1/reveals", reveal_body)),
    ("reveal-other", post("/api/v1/reveals", '{"key_id":"063EA4E1220C4293BA014754620A96E7","reason":"other","reason_text":"caf\\u00e9 \\u0000"}')),
    ("reveal-text-plain", post("/api/v1/reveals", reveal_body, ctype="text/plain")),
    ("sign-out", "DELETE /api/v1/session HTTP/1.1\r\n" + H + CK + CS + "\r\n"),
    ("method-not-allowed", "PUT /api/v1/lookups HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n"),
    ("not-found", "GET /api/v2/x?y=%00 HTTP/1.1\r\n" + H + "\r\n"),
    ("bad-target", "GET http://keydesk.example.com/ HTTP/1.1\r\n" + H + "\r\n"),
    ("chunked", "POST /api/v1/lookups HTTP/1.1\r\n" + H + CK + CS + "Content-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"key\r\n10\r\n_id\":\"063EA4E1\"}\r\n0\r\n\r\n"),
    ("pipelined", "GET /healthz HTTP/1.1\r\n" + H + "\r\n" + "GET /api/v1/session HTTP/1.1\r\n" + H + CK
                  + "\r\n" + "DELETE /api/v1/session HTTP/1.1\r\n" + H + CK + CS + "Connection: close\r\n\r\n"),
    ("body-too-large", "POST /api/v1/session HTTP/1.1\r\n" + H + "Content-Type: application/json\r\nContent-Length: 20000\r\n\r\n{"),
    ("headers-too-large", "GET / HTTP/1.1\r\n" + H + "X-Pad: " + "a" * 8300 + "\r\n\r\n"),
    ("truncated", "POST /api/v1/session HTTP/1.1\r\n" + H + "Content-Length: 10\r\n\r\n{\""),
])
dictionary("http_request", "HTTP requests for Api::handle (@TOKEN@/@CSRF@: the fixture session's)", [
    "@TOKEN@", "@CSRF@", "GET ", "POST ", "HEAD ", "DELETE ", "PUT ", "OPTIONS ", " HTTP/1.1\r\n", " HTTP/1.0\r\n",
    "\r\n", "\r\n\r\n", "/", "/api/v1/session", "/api/v1/lookups", "/api/v1/reveals", "/healthz", "/readyz",
    "/assets/app.js", "/assets/app.css", "/assets/favicon.svg", "?", "%00", "%2F", "#",
    "Host: ", "Cookie: ", "__Host-keydesk=", "X-CSRF-Token: ", "Origin: ", "https://",
    "Content-Type: application/json\r\n", "Content-Length: ", "Transfer-Encoding: chunked\r\n",
    "Connection: close\r\n", "Connection: keep-alive\r\n", "If-None-Match: ", "Expect: 100-continue\r\n",
    "{", "}", "\"key_id\":", "\"computer\":", "\"ticket\":", "\"reason\":", "\"reason_text\":",
    "\"end_user\":", "\"computer_dn\":", "\"username\":", "\"password\":", "\"lost_pin\"", "\"other\"",
    "\"INC0012345\"", "\"063EA4E1-220C-4293-BA01-4754620A96E7\"", "\\u0000", "\\ud800", "\\\"",
    "123456-123456-123456-123456-123456-123456-123456-123456",
])

# 4. cookie_header: byte 0 odd: the session cookie's name; even: (byte % 32) bytes name the cookie.
corpus("cookie_header", [
    ("session-only", b"\x01__Host-keydesk=abcDEF123-_"),
    ("session-among", b"\x01theme=dark; __Host-keydesk=tok; lang=en"),
    ("duplicates", b"\x01__Host-keydesk=first; __Host-keydesk=second"),
    ("no-equals", b"\x01__Host-keydesk; =x; __Host-keydesk"),
    ("spaces-tabs", b"\x01  __Host-keydesk =x;\t__Host-keydesk=y ;"),
    ("named", b"\x04langtheme=dark; lang=en"),
    ("empty-name", b"\x00=v; a=b"),
])
dictionary("cookie_header", "Cookie headers for find_cookie", [
    "__Host-keydesk", "=", "; ", ";", " ", "\t", "\"", ",", "\x00",
])

# 5. config: TOML.
minimal = '''[server]
tls_certificate = "tls/server.pem"
tls_private_key = "tls/server.key"

[directory]
uris = ["ldaps://dc1.corp.example.com:636"]
base_dn = "DC=corp,DC=example,DC=com"
bind_dn = "CN=svc-keydesk,OU=Service Accounts,DC=corp,DC=example,DC=com"
bind_password_file = "secrets/bind-password"

[roles]
helpdesk = ["CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com"]

[audit]
directory = "/var/lib/keydesk/audit"
key_file = "secrets/audit.key"
'''
full = minimal.replace('[server]\n', '[server]\nlisten = "[::1]:8443"\nsession_idle_minutes = 15\nsession_max_hours = 8\nworker_threads = 8\n') \
    .replace('bind_password_file = "secrets/bind-password"\n', 'bind_password_file = "secrets/bind-password"\ntls_ca_file = "tls/ad-ca.pem"\nstart_tls = false\ntls_verify = true\ntimeout_seconds = 5\ndomain = "CORP"\ngroup_resolution = "in_chain"\n') \
    .replace('helpdesk = [', 'auditor = ["CN=KD-Auditors,DC=corp"]\nsecurity = []\nadmin = ["CN=KD-Admins,DC=corp"]\nhelpdesk = [') \
    + '''signing_key_file = "secrets/audit-signing.pem"
checkpoint_records = 1000
checkpoint_seconds = 60
checkpoint_syslog = "udp://[::1]:514"
checkpoint_file = "/var/log/keydesk/checkpoints.jsonl"
rotate_size_mib = 64
rotate_daily = true

[lookup]
min_key_id_chars = 8
max_results = 50
require_ticket = true
ticket_pattern = '^(INC|REQ)\\d{7}$'
reveal_display_seconds = 60

[limits]
sign_in_failures_per_account = 4
sign_in_failures_per_client = 20
lookups_per_minute = 60
lookups_per_hour = 600
reveals_per_10_minutes = 10
reveals_per_hour = 40
session_recheck_seconds = 60
max_connections = 1024
max_connections_per_client = 64
'''
corpus("config", [
    ("minimal", minimal),
    ("full", full),
    ("start-tls", minimal.replace('ldaps://dc1.corp.example.com:636"]', 'ldap://dc1:389"]\nstart_tls = true')),
    ("unknown-key", minimal + "\n[lookup]\nmin_key_id_chars = 7\ncolour = \"blue\"\n"),
    ("syntax-error", "[server\nlisten = 1\n"),
    ("inline-tables", 'server = { tls_certificate = "a", tls_private_key = "b" }\n[directory]\nuris = []\n'),
])
dictionary("config", "keydesk.toml", [
    "[server]", "[directory]", "[roles]", "[audit]", "[lookup]", "[limits]", "[[", "]]", " = ", "\n",
    "listen", "tls_certificate", "tls_private_key", "session_idle_minutes", "session_max_hours",
    "worker_threads", "uris", "base_dn", "bind_dn", "bind_password_file", "tls_ca_file", "start_tls",
    "tls_verify", "timeout_seconds", "domain", "group_resolution", "helpdesk", "auditor", "security",
    "admin", "directory", "key_file", "signing_key_file", "checkpoint_records", "checkpoint_seconds",
    "checkpoint_syslog", "checkpoint_file", "rotate_size_mib", "rotate_daily", "min_key_id_chars",
    "max_results", "require_ticket", "ticket_pattern", "reveal_display_seconds",
    "sign_in_failures_per_account", "sign_in_failures_per_client", "lookups_per_minute",
    "lookups_per_hour", "reveals_per_10_minutes", "reveals_per_hour", "session_recheck_seconds",
    "max_connections", "max_connections_per_client",
    "\"ldaps://", "\"ldap://", "\"udp://", "\"tcp://", "\"unix:/", "\"auto\"", "\"in_chain\"", "\"recursive\"",
    "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808", "0x7fffffff", "1e400", "nan", "inf",
    "\"\"", "''", "'''", "\"\"\"", "\\u0000", "\\U0010FFFF", "CN=", "DC=", "[", "]", "{", "}", ",", ".",
    "#", "1979-05-27T07:32:00Z", "(", ")", "{7}", "*", "+", "\\\\d",
])

# 6. audit_verify: byte 0 = mode (low 2 bits: overwrite, insert, delete, flip) and file (the rest),
# bytes 1-4 = offset (little-endian), then the payload.
def edit(mode, file, offset, payload=b""):
    return bytes([mode | (file << 2)]) + struct.pack("<I", offset) + payload
corpus("audit_verify", [
    ("unchanged", edit(0, 0, 0, b"")),
    ("overwrite-digit", edit(0, 0, 9, b"7")),
    ("overwrite-mac", edit(0, 1, 200, b"0000")),
    ("insert-line", edit(1, 0, 0, b'{"seq":1,"prev":"x"}\n')),
    ("insert-space", edit(1, 1, 30, b" ")),
    ("delete-line-start", edit(2, 0, 0, b"\x40\x00")),
    ("delete-newline", edit(2, 0, 100, b"\x00\x00")),
    ("flip-bit", edit(3, 1, 57, b"\x05")),
    ("append-file0", edit(0, 0, 0xFFFFFFFF, b"\n")),
    ("truncate-tail", edit(2, 1, 300, b"\xff\xff")),
])
dictionary("audit_verify", "edits of an audit log line", [
    "\n", "\r\n", "{", "}", "\"seq\":", "\"prev\":\"", "\"mac\":\"", ",\"mac\":\"", "\"event\":\"",
    "audit.rotate", "audit.checkpoint", "previous_mac", "previous_file", "\"time\":\"",
    "0000000000000000000000000000000000000000000000000000000000000000", "\\u0000", "\\\"", "1", "2",
    "9223372036854775807", "18446744073709551616", "-1", "1.0", "1e0", " ",
])
print("ok")
