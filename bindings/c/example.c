/* Translate lines from stdin with padir's C ABI.
 *
 *   cc example.c -I. -L../../target/release -lpadir -Wl,-rpath,../../target/release -o example
 *   echo "Save the file" | ./example ../../onnx/tiny [nar|ar]
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "padir.h"

#define MAX_LINES 1024

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [nar|ar|verify] < input.txt\n", argv[0]);
        return 2;
    }
    padir_options options = padir_default_options();
    options.intra_threads = 1;
    padir_translator *translator = NULL;
    if (padir_translator_new(argv[1], &options, &translator) != PADIR_OK) {
        fprintf(stderr, "cannot load model: %s\n", padir_last_error());
        return 1;
    }

    char *lines[MAX_LINES];
    size_t n = 0;
    char buf[4096];
    while (n < MAX_LINES && fgets(buf, sizeof buf, stdin)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        lines[n++] = strdup(buf);
    }

    padir_decode_options decode = padir_default_decode_options();
    const char *mode = argc > 2 ? argv[2] : "nar";
    decode.mode = strcmp(mode, "ar") == 0 ? 1 : strcmp(mode, "verify") == 0 ? 2 : 0;
    padir_result *result = NULL;
    int status = 0;
    if (padir_translate(translator, (const char *const *)lines, n, &decode, &result) == PADIR_OK) {
        for (size_t i = 0; i < padir_result_len(result); i++)
            printf("%s\t(score %.3f, %d iterations)\n", padir_result_text(result, i),
                   padir_result_score(result, i), padir_result_iterations(result, i));
    } else {
        fprintf(stderr, "translation failed: %s\n", padir_last_error());
        status = 1;
    }

    padir_result_free(result);
    padir_translator_free(translator);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    printf("padir %s\n", padir_version());
    return status;
}
