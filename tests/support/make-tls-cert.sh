#!/usr/bin/env bash
# Makes a private CA and a server certificate for keydesk's HTTPS in OUT_DIR (demo and tests):
# ca.pem, server.pem (chain), server.key (0600). SANs: localhost, this host, 127.0.0.1, ::1.
# Keeps existing files.
set -euo pipefail
out=${1:?usage: make-tls-cert.sh OUT_DIR}
mkdir -p "$out"
cd "$out"
[ -s server.pem ] && [ -s server.key ] && [ -s ca.pem ] && exit 0
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=keydesk demo CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout server.key -out server.csr 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,DNS:$(hostname),IP:127.0.0.1,IP:::1" \
  "extendedKeyUsage=serverAuth" "basicConstraints=critical,CA:FALSE" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 600 server.key ca.key
chmod 644 server.pem ca.pem
