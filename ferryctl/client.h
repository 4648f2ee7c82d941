/* ferryctl's client of the REST API: where the server is and which token to send (flags, the
 * environment, the config file), requests through libcurl, and the errors the API answers. */
#ifndef FERRYCTL_CLIENT_H
#define FERRYCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

typedef struct ctl_client ctl_client;

/* The settings that were found: each from its flag, else its environment variable (FERRY_SERVER,
 * FERRY_TOKEN, FERRY_CA, FERRY_NAMESPACE), else the config file (--config, else $FERRY_CONFIG,
 * else $XDG_CONFIG_HOME/ferry/config or ~/.config/ferry/config). Strings are owned by the client.
 */
typedef struct {
    const char *server;    /* "https://127.0.0.1:7080" (no trailing '/') */
    const char *token;     /* may be NULL: requests go without Authorization */
    const char *ca;        /* PEM file pinned for https, or NULL (the system's CAs) */
    const char *ns;        /* the namespace of commands without -n */
    const char *conf_path; /* the config file read, or NULL */
} ctl_settings;

/* Parse the text of a config file: lines "key = value" ('#' starts a comment line; keys server,
 * token, token-file, ca, namespace). Values are stored new in out[] in that key order (token-file
 * read into token, relative paths taken from dir). Returns 0, or -1 with a message naming the
 * line in err. */
int ctl_config_parse(const char *text, const char *dir, char *out[5], char *err, size_t errlen);

/* Make the client from the command line (cl) and what it finds. Returns CTL_EXIT_OK with *out
 * (close with ctl_client_close), or CTL_EXIT_USAGE after printing why (no server, an unreadable
 * config file or token file). */
int ctl_client_open(const ctl_cmdline *cl, ctl_client **out);
void ctl_client_close(ctl_client *c);
const ctl_settings *ctl_client_settings(const ctl_client *c);

/* Send method path (absolute, "/v1/..."; the query already escaped) with body (NULL: none) and
 * read the answer: *status its HTTP status, *reply its JSON body (new; NULL when it had none or
 * not JSON). Returns CTL_EXIT_OK, or CTL_EXIT_UNREACHABLE after printing why no answer came. */
int ctl_request(ctl_client *c, const char *method, const char *path, const json_t *body,
                long *status, json_t **reply);

/* The error of an answer as one line: its "error" text (the API's message), else the status. */
void ctl_reply_error(long status, const json_t *reply, char *buf, size_t len);

/* text escaped for a URL query (new, free with ctl_free_escaped); NULL on ENOMEM. */
char *ctl_escape(ctl_client *c, const char *text);
void ctl_free_escaped(char *s);

#endif
