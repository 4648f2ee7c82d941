/* Ferry config objects (kinds config, secret, certificate, registry): validation and the files a
 * node writes for them (docs/apps-complete.md, schema/config.schema.json). */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <jansson.h>

#include "ferry/common.h"

#define FERRY_CONFIG_MAX_DATA (1024u * 1024u) /* bytes of file content in one config object */
#define FERRY_CONFIG_MAX_FILES 256            /* files in one config object */
#define FERRY_CONFIG_MAX_CREDENTIAL 1024      /* characters of a registry username or password */
#define FERRY_CONFIG_MAX_FILE_NAME 253        /* characters of a file name, its folders included */
#define FERRY_CONFIG_MAX_FILE_DEPTH 8         /* names in a file name: 7 folders and the file */

/* File modes written on nodes. */
#define FERRY_CONFIG_MODE_PUBLIC 0644 /* config files, certificates (tls.crt, ca.crt) */
#define FERRY_CONFIG_MODE_SECRET 0600 /* secret files and tls.key */

/* true when name is a file name of a config object: a relative path of at most
 * FERRY_CONFIG_MAX_FILE_NAME (253) characters made of 1 to FERRY_CONFIG_MAX_FILE_DEPTH (8) names
 * separated by single '/', each name 1 or more of [A-Za-z0-9._-] and not "." or ".."; no '/' at
 * either end ("index.py", "lib/util.py"). Every name but the last is a folder. Safe as a path
 * below a folder: it cannot leave it, name it, or be absolute (symbolic links on the way are the
 * caller's concern). */
bool ferry_config_file_name_valid(const char *name);

/* Validate a config object as received from a user (POST/PUT body):
 *   {"name": DNS label, "kind": "config", "data": {file: text}, "binaryData": {file: base64}}
 *   {"name", "kind": "secret", "data": {file: text}}
 *   {"name", "kind": "certificate", "certificate": {"cert": PEM, "key": PEM, "ca": PEM}}
 *   {"name", "kind": "registry", "registry": {"server": "host[:port]", "username", "password"}}
 * File names are as ferry_config_file_name_valid says, unique across data and binaryData, and
 * none is a folder of another ("a" and "a/b" together are refused, naming both);
 * text values hold no NUL; binaryData values are strict base64; cert/key/ca contain a PEM block
 * ("-----BEGIN " ... "-----END "); registry server has no scheme; username and password are
 * non-empty. Caps: FERRY_CONFIG_MAX_FILES files and FERRY_CONFIG_MAX_DATA bytes of content
 * (decoded) per object. Read-only server fields ("namespace", "version", "createdAt",
 * "updatedAt", "digests") are accepted and ignored; members of another kind and unknown fields
 * are errors. FERRY_OK or FERRY_EINVAL with *d filled ("data.app.conf", "registry.server"). */
ferry_err ferry_config_validate(const json_t *cfg, ferry_detail *d);

/* The files a node writes for a valid config object, as the "files" member of an entry of an
 * app's resolved.configs: *files becomes a new object (caller owns) {filename: {"data": base64,
 * "mode": int}}. config: data (0644, text as UTF-8 bytes) and binaryData (0644); secret: data
 * (0600); certificate: tls.crt (0644), tls.key (0600), ca.crt (0644, when ca is set).
 * FERRY_EINVAL for a registry object (it has no files) or a malformed object, FERRY_ENOMEM. */
ferry_err ferry_config_files(const json_t *cfg, json_t **files);

#endif
