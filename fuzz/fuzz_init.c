/* fuzz: libFuzzer's initialisation for the targets whose code under test logs (every malformed
 * record is logged): Ferry's log lines would slow the fuzzer down and fill its log. */
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Point the stdio stream stderr at /dev/null (glibc lets a program assign it); fd 2 is left alone,
 * so the reports of libFuzzer and the sanitizers still appear. FERRY_FUZZ_LOG=1 keeps the log
 * lines, to debug a finding. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (getenv("FERRY_FUZZ_LOG") == NULL) {
        FILE *null = fopen("/dev/null", "w");
        if (null != NULL)
            stderr = null;
    }
    return 0;
}
