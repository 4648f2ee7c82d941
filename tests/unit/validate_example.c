/* Test helper for schema_agree.py: validate one example file with the schema library, printing
 * "ok" (exit 0) or "FIELD: RULE" (exit 1); exit 2 when the file cannot be read.
 * usage: validate_example app|app-resolved|config FILE */
#include <stdio.h>
#include <string.h>

#include "ferry/app.h"
#include "ferry/config.h"

int main(int argc, char **argv) {
    json_error_t jerr;
    ferry_detail d;
    char text[sizeof(d.field) + 2 + sizeof(d.message)];
    ferry_err rc;

    if (argc != 3) {
        fprintf(stderr, "usage: validate_example app|app-resolved|config FILE\n");
        return 2;
    }
    /* NUL is allowed in JSON text so that the validator, not the loader, refuses it */
    json_t *v =
        json_load_file(argv[2], JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL) {
        fprintf(stderr, "validate_example: %s: line %d: %s\n", argv[2], jerr.line, jerr.text);
        return 2;
    }
    if (strcmp(argv[1], "app") == 0) {
        rc = ferry_app_validate(v, &d);
    } else if (strcmp(argv[1], "app-resolved") == 0) {
        rc = ferry_app_validate_ex(v, FERRY_APP_ALLOW_RESOLVED, &d);
    } else if (strcmp(argv[1], "config") == 0) {
        rc = ferry_config_validate(v, &d);
    } else {
        fprintf(stderr, "validate_example: unknown kind '%s'\n", argv[1]);
        json_decref(v);
        return 2;
    }
    if (rc == FERRY_OK)
        printf("ok\n");
    else
        printf("%s\n", ferry_detail_text(&d, text, sizeof(text)));
    json_decref(v);
    return rc == FERRY_OK ? 0 : 1;
}
