/* Secret bundles (schema/PROTOCOL.md, "Trust"): the secret material of an app's wire document,
 * taken out so that the document can travel on topics many nodes read, and sealed per node.
 *
 * Secret material is: every file of a `secret` config, the `tls.key` of a `certificate`, and the
 * password of every registry in `resolved`. In the public document each such file carries
 * `"digest": "sha256:<hex of its decoded bytes>"` instead of `"data"`, each registry
 * `"passwordDigest"` instead of `"password"`, and `resolved.secrets` is the digest of the bundle.
 * The bundle is {"configs": {NAME: {FILE: base64 data}}, "registries": {NAME: password}}; its
 * digest is the SHA-256 of its compact JSON with sorted keys. */
#ifndef FERRY_BUNDLE_H
#define FERRY_BUNDLE_H

#include <jansson.h>

#include "ferry/common.h"
#include "ferry/secrets.h"

/* Split a full wire document (a valid app spec with `resolved`; not modified). *pub is the public
 * document (new); *bundle is new and digest filled, or *bundle is NULL and digest "" when the app
 * has no secret material (then *pub equals wire). FERRY_ENOMEM, FERRY_EINVAL (malformed wire). */
ferry_err ferry_bundle_split(const json_t *wire, json_t **pub, json_t **bundle,
                             char digest[FERRY_SECRETS_DIGEST_LEN]);

/* The digest of a bundle (see above). */
ferry_err ferry_bundle_digest(const json_t *bundle, char digest[FERRY_SECRETS_DIGEST_LEN]);

/* Put a bundle (untrusted: from a sealed message) back into a public document (not modified):
 * *full is new, with every digest replaced by its value. FERRY_EINVAL (d says what) when the
 * bundle's digest is not pub's resolved.secrets, a value is missing or its digest differs, or the
 * bundle holds anything else. A pub without resolved.secrets needs no bundle (bundle may be
 * NULL): *full is a copy. */
ferry_err ferry_bundle_merge(const json_t *pub, const json_t *bundle, json_t **full,
                             ferry_detail *d);

#endif
