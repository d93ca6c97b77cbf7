#!/usr/bin/env bash
# Throw-away certificates for the simulated core-banking gateway and Renkei's
# client (development and tests only; docs/core-banking.md):
#   ca.pem/ca.key            the CA that signs both sides
#   server.pem/server.key    the gateway (SAN 127.0.0.1 and localhost)
#   client.pem/client.key    Renkei's client certificate
#   rogue-ca.pem, rogue-client.pem/.key   a client certificate from another CA
#                            (the simulator must refuse it)
#
#   bash scripts/make-core-sim-certs.sh DIR
set -euo pipefail
dir=${1:?usage: make-core-sim-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077
ossl() { openssl "$@" 2>/dev/null; }
make_ca() {  # name
  ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=renkei-dev-$1" \
    -keyout "$1.key" -out "$1.pem"
}
make_cert() {  # name ca cn ext
  ossl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$1.key" -out "$1.csr"
  ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile <(printf '%s\n' "$4") -out "$1.pem"
  rm -f "$1.csr"
}
make_ca ca
make_ca rogue-ca
make_cert server ca core-sim \
  "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
make_cert client ca renkei-server "extendedKeyUsage=clientAuth"
make_cert rogue-client rogue-ca renkei-server "extendedKeyUsage=clientAuth"
chmod 644 ./*.pem
