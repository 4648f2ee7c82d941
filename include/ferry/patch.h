/* Ferry structural diff/patch of JSON documents, used for app deltas on the wire. */
#ifndef FERRY_PATCH_H
#define FERRY_PATCH_H

#include <jansson.h>

#include "ferry/common.h"

/* Patch format (a JSON object; see schema/PROTOCOL.md "Deltas"):
 *   {"set": V}                         replace the value with V
 *   {"obj": {K: P, ...}, "del": [K..]} merge into an object: patch member K with P, delete keys
 *   {"keyed": "name", "items": {N: P, ...}, "del": [N..], "order": [N..]}
 *                                      merge into an array of objects that each carry a unique
 *                                      string member "name": patch item N with P (a new item is
 *                                      {"set": ITEM}), delete items, and, when present, "order"
 *                                      lists every resulting name in order.
 * "del" and "order" are optional; "obj"/"items" may be empty. */

/* Compute a patch that turns `from` into `to`. Returns a new reference (caller owns), NULL on
 * ENOMEM. Equal documents give {"obj": {}}. */
json_t *ferry_patch_diff(const json_t *from, const json_t *to);

/* Apply an untrusted patch to doc without modifying doc. On success *out is a new document
 * (caller owns). FERRY_EFORMAT for a malformed patch or one that does not fit doc (obj patch on a
 * non-object, keyed patch on an array whose items lack unique names, an order that does not list
 * exactly the resulting names, ...). FERRY_ETOOBIG past FERRY_MAX_DEPTH. */
ferry_err ferry_patch_apply(const json_t *doc, const json_t *patch, json_t **out);

#endif
