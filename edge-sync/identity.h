/* edge-sync identity: who this node is and whom it trusts (schema/PROTOCOL.md, "Trust"). A node
 * enrolls once (`edge-sync --enroll URL TOKEN`): it makes its key pairs, sends the public halves
 * with the one-time token to the bridge, and keeps what the bridge answers. Everything lives in
 * {data}/identity/ (mode 0700; files 0600):
 *   sign.key          the node's Ed25519 seed (signs hello, status, online)
 *   box.key           the node's X25519 private key (opens the secrets sealed to it)
 *   enrollment.json   {"namespace", "node", "bridgeKey", "mqtt": {"uri", "clientId",
 *                      "username"?, "password"?}} as the bridge answered
 *   ca.pem            the CA that signs the broker's certificate, when the bridge gave one
 * The bridge's answer is untrusted input like any other: every field is checked before use. */
#ifndef FERRY_EDGE_IDENTITY_H
#define FERRY_EDGE_IDENTITY_H

#include <limits.h>
#include <stdbool.h>

#include "ferry/common.h"
#include "ferry/sign.h"

typedef struct {
    char ns[64], node[64];
    ferry_keypair sign; /* Ed25519 */
    ferry_keypair box;  /* X25519 */
    unsigned char bridge_pub[FERRY_SIGN_KEY_LEN];
    char mqtt_uri[512];
    char client_id[160];
    char username[160]; /* "" when the broker takes no credential */
    char password[160];
    char ca_file[PATH_MAX]; /* "" when there is none */
} ferry_identity;

/* Enroll: make new key pairs in {data_dir}/identity (replacing earlier ones), POST {"token",
 * "signKey", "boxKey"} as JSON to url (https:// verified against ca_file, the CA that signs the
 * bridge's certificate, or the system's CAs when NULL; http:// only as given), check the answer
 * and write it. err receives a message a person can act on. FERRY_EIO (the bridge could not be
 * reached or answered an error: its message is in err), FERRY_EFORMAT (a malformed answer). */
ferry_err ferry_identity_enroll(const char *data_dir, const char *url, const char *token,
                                const char *ca_file, char *err, size_t errlen);

/* Load the identity of {data_dir}. FERRY_ENOTFOUND when the node never enrolled; FERRY_EINVAL
 * (logged) for files that are unfit (modes, sizes, content). */
ferry_err ferry_identity_load(const char *data_dir, ferry_identity *id);

/* Wipe the keys of id. */
void ferry_identity_clear(ferry_identity *id);

#endif
