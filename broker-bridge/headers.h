/* broker-bridge request headers: the ones the API judges before it routes a request, as pure
 * functions over their text (free of libmicrohttpd, so that unit tests and the fuzz target run
 * exactly this code): the bearer token of Authorization, the media type of Content-Type, and
 * whether an Origin is the request's own or one that was allowed. */
#ifndef FERRY_BRIDGE_HEADERS_H
#define FERRY_BRIDGE_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a normalised origin ("https://" + a host of at most 255 characters + ":65535"). */
#define FERRY_ORIGIN_MAX 280

/* The token of "Authorization: Bearer <token>" (the scheme in any case, spaces around the
 * token): *token points into value, *len is its length (> 0). false when value is NULL, names
 * another scheme, or has no token or more than one word after it. */
bool ferry_headers_bearer(const char *value, const char **token, size_t *len);

/* true when a Content-Type value is JSON: "application/json" in any case, optionally followed by
 * "; charset=utf-8" (any case, quoted or not). Any other parameter or charset is refused: JSON is
 * UTF-8 (RFC 8259). */
bool ferry_headers_json(const char *value);

/* Normalise an origin "scheme://host[:port]" into out[FERRY_ORIGIN_MAX]: scheme and host in lower
 * case, the port dropped when it is the scheme's default (80 for http, 443 for https). false when
 * it is not of that form: another scheme, a path, user info, an empty host or a bad port ("null",
 * the origin of sandboxed documents and file: pages, is refused too). */
bool ferry_headers_origin_normalize(const char *origin, char *out);

/* May a request that carries this Origin header be served? Yes when it is the request's own
 * origin (tls: "https" else "http", and the Host header; a request without Host has none) or one
 * of allowed (n origins, normalised with ferry_headers_origin_normalize). A request without an
 * Origin header is not a browser's cross-site request and is not judged here (do not call). */
bool ferry_headers_origin_allowed(const char *origin, bool tls, const char *host,
                                  const char (*allowed)[FERRY_ORIGIN_MAX], size_t n);

#endif
