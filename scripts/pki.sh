#!/usr/bin/env bash
# A local PKI for Ferry's TLS endpoints (mosquitto's TLS listener, the bridge's HTTPS API), made
# with Debian's openssl, idempotently, in one folder:
#
#   scripts/pki.sh DIR [NAME...]
#     DIR/ca.key, DIR/ca.crt        the CA (EC P-256, 10 years); made once, kept while valid
#     DIR/NAME.key, DIR/NAME.crt    a server certificate per NAME (default: "server") signed by
#                                   the CA, for 127.0.0.1 and localhost (825 days)
#
# Running it again changes nothing while every file is there and good: a certificate is (re)made
# when it is missing, does not match its key, was not signed by DIR/ca.crt, or expires within 30
# days; a new CA re-makes every certificate named. Keys are mode 0600, certificates 0644; every
# file is written under a temporary name and renamed, under a lock on DIR/.lock, so two runs at
# once leave one consistent set. Prints nothing but log lines on stderr.
#
# FERRY_PKI_SAN adds subjectAltName entries to the server certificates (e.g.
# "DNS:broker.example,IP:10.0.0.5"); FERRY_PKI_CN names the CA ("Ferry local CA").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 1 ]] || die "usage: $0 DIR [NAME...]"
DIR=$1
shift
NAMES=("$@")
((${#NAMES[@]})) || NAMES=(server)
SAN="IP:127.0.0.1,DNS:localhost${FERRY_PKI_SAN:+,$FERRY_PKI_SAN}"
CA_CN=${FERRY_PKI_CN:-Ferry local CA}
RENEW_S=$((30 * 24 * 3600))

for n in "${NAMES[@]}"; do
    [[ $n =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ && $n != ca ]] ||
        die "bad certificate name '$n' (letters, digits, - and _; not 'ca')"
done
command -v openssl >/dev/null || die "openssl is missing (scripts/deps.sh installs it)"
mkdir -p "$DIR"
chmod 0755 "$DIR"

# key_matches KEY CERT: true when CERT holds KEY's public key.
key_matches() {
    [[ -s $1 && -s $2 ]] &&
        cmp -s <(openssl pkey -in "$1" -pubout 2>/dev/null) \
            <(openssl x509 -in "$2" -noout -pubkey 2>/dev/null)
}

# cert_good CERT KEY [CA]: CERT matches KEY, is valid for RENEW_S more seconds and, given CA,
# was signed by it.
cert_good() {
    key_matches "$2" "$1" && openssl x509 -in "$1" -noout -checkend "$RENEW_S" >/dev/null 2>&1 &&
        { [[ $# -lt 3 ]] || openssl verify -CAfile "$3" "$1" >/dev/null 2>&1; }
}

# new_key PATH: an EC P-256 key, 0600 from the start (umask), renamed into place.
new_key() {
    (
        umask 077
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null
    )
    mv -f "$1.tmp" "$1"
}

make_ca() {
    log "making the CA in $DIR"
    new_key "$DIR/ca.key"
    openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days 3650 -subj "/CN=$CA_CN" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$DIR/ca.crt.tmp" 2>/dev/null
    chmod 0644 "$DIR/ca.crt.tmp"
    mv -f "$DIR/ca.crt.tmp" "$DIR/ca.crt"
}

make_server() { # make_server NAME
    local key="$DIR/$1.key" crt="$DIR/$1.crt" csr="$DIR/$1.csr.tmp" ext="$DIR/$1.ext.tmp"
    log "making the certificate $crt ($SAN)"
    openssl pkey -in "$key" -noout >/dev/null 2>&1 || new_key "$key" # keep a good key
    openssl req -new -key "$key" -subj "/CN=$1" -out "$csr" 2>/dev/null
    cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$SAN
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EOF
    openssl x509 -req -in "$csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
        -CAserial "$DIR/ca.srl" -sha256 -days 825 -extfile "$ext" -out "$crt.tmp" 2>/dev/null
    rm -f "$csr" "$ext"
    chmod 0644 "$crt.tmp"
    mv -f "$crt.tmp" "$crt"
}

(
    flock 9
    if ! cert_good "$DIR/ca.crt" "$DIR/ca.key"; then
        make_ca
    fi
    chmod 0600 "$DIR/ca.key"
    for n in "${NAMES[@]}"; do
        # A certificate made for other names than SAN asks for now is made again.
        if ! cert_good "$DIR/$n.crt" "$DIR/$n.key" "$DIR/ca.crt" ||
            [[ $(cat "$DIR/$n.san" 2>/dev/null) != "$SAN" ]]; then
            make_server "$n"
            printf '%s\n' "$SAN" >"$DIR/$n.san"
        fi
        chmod 0600 "$DIR/$n.key"
    done
) 9>"$DIR/.lock"
