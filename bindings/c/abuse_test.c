/* Bad input through the C ABI: every call must return an error status or NULL/0 and set
 * padir_last_error(); nothing may crash. Prints "N passed, N failed". Usage: abuse_test MODEL_DIR */
#include <stdio.h>
#include <string.h>

#include "padir.h"

static int passed, failed;

#define CHECK(cond, what)                                                           \
    do {                                                                            \
        if (cond) passed++;                                                         \
        else { failed++; fprintf(stderr, "FAILED: %s (line %d)\n", what, __LINE__); } \
    } while (0)

static int error_mentions(const char *needle) { return strstr(padir_last_error(), needle) != NULL; }

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "onnx/tiny";
    padir_translator *t = (padir_translator *)0x1;
    padir_result *r = (padir_result *)0x1;

    CHECK(padir_set_onnxruntime_library(NULL) == PADIR_ERR_INVALID_ARGUMENT && error_mentions("path is NULL"), "NULL ONNX Runtime path");
    CHECK(padir_set_onnxruntime_library("/nonexistent/libonnxruntime.so") == PADIR_ERR_INVALID_ARGUMENT
          && error_mentions("no ONNX Runtime library"), "missing ONNX Runtime library");
    CHECK(padir_translator_new(NULL, NULL, &t) == PADIR_ERR_INVALID_ARGUMENT && t == NULL, "NULL model dir");
    CHECK(error_mentions("model_dir is NULL"), "message for NULL model dir");
    CHECK(padir_translator_new(model, NULL, NULL) == PADIR_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(padir_translator_new("/nonexistent/model", NULL, &t) == PADIR_ERR_MODEL && t == NULL, "missing model");
    CHECK(error_mentions("/nonexistent/model"), "message names the missing directory");
    CHECK(padir_translator_new("\xff\xfe", NULL, &t) == PADIR_ERR_INVALID_ARGUMENT, "invalid UTF-8 path");

    padir_options bad = padir_default_options();
    bad.execution_provider = 42;
    CHECK(padir_translator_new(model, &bad, &t) == PADIR_ERR_INVALID_ARGUMENT, "unknown provider");
    bad = padir_default_options();
    bad.execution_provider = 1; /* CUDA, not compiled in here, no fallback allowed */
    CHECK(padir_translator_new(model, &bad, &t) != PADIR_OK && t == NULL, "unavailable provider is an error");

    bad = padir_default_options();
    bad.intra_threads = 20000; /* more than any machine this runs on has cores */
    CHECK(padir_translator_new(model, &bad, &t) == PADIR_ERR_INVALID_ARGUMENT && t == NULL, "threads above the cores");
    CHECK(error_mentions("cores"), "message names the core limit");
    bad.force_threads = 1;
    bad.intra_threads = 100000;
    CHECK(padir_translator_new(model, &bad, &t) == PADIR_ERR_INVALID_ARGUMENT && t == NULL, "forced threads above 256");
    CHECK(error_mentions("256"), "message names the hard thread limit");

    padir_options zero;
    memset(&zero, 0, sizeof zero); /* zero-initialised options are the defaults */
    CHECK(padir_translator_new(model, &zero, &t) == PADIR_OK && t != NULL, "load the model");

    const char *texts[] = {"Open the file", "", "Close all windows"};
    CHECK(padir_translate(NULL, texts, 3, NULL, &r) == PADIR_ERR_INVALID_ARGUMENT && r == NULL, "NULL translator");
    CHECK(padir_translate(t, NULL, 3, NULL, &r) == PADIR_ERR_INVALID_ARGUMENT, "NULL texts");
    CHECK(padir_translate(t, texts, 3, NULL, NULL) == PADIR_ERR_INVALID_ARGUMENT, "NULL out");
    const char *with_null[] = {"fine", NULL};
    CHECK(padir_translate(t, with_null, 2, NULL, &r) == PADIR_ERR_INVALID_ARGUMENT && r == NULL, "NULL text");
    CHECK(error_mentions("text 1 is NULL"), "message names the NULL text");
    const char *bad_utf8[] = {"fine", "caf\xe9"};
    CHECK(padir_translate(t, bad_utf8, 2, NULL, &r) == PADIR_ERR_INVALID_ARGUMENT, "invalid UTF-8 text");
    CHECK(error_mentions("text 1 is not valid UTF-8"), "message names the bad text");

    padir_decode_options d = padir_default_decode_options();
    d.mode = 7;
    CHECK(padir_translate(t, texts, 3, &d, &r) == PADIR_ERR_INVALID_ARGUMENT, "unknown mode");
    d = padir_default_decode_options();
    d.iterations = -3;
    CHECK(padir_translate(t, texts, 3, &d, &r) == PADIR_ERR_INVALID_ARGUMENT, "negative iterations");
    d.iterations = 1000;
    CHECK(padir_translate(t, texts, 3, &d, &r) == PADIR_ERR_INVALID_ARGUMENT, "too many iterations");
    d = padir_default_decode_options();
    d.prune_after = -2;
    CHECK(padir_translate(t, texts, 3, &d, &r) == PADIR_ERR_INVALID_ARGUMENT && error_mentions("prune_after"), "bad prune_after");
    d.prune_after = 1;
    CHECK(padir_translate(t, texts, 3, &d, &r) == PADIR_OK, "prune_after 1");
    padir_result_free(r);
    r = NULL;

    static char huge[60000];
    for (size_t i = 0; i + 1 < sizeof huge; i++) huge[i] = (i % 5 == 4) ? ' ' : 'a';
    const char *long_text[] = {huge};
    d = padir_default_decode_options();
    d.no_sentences = 1; /* one piece: too long for the model */
    CHECK(padir_translate(t, long_text, 1, &d, &r) == PADIR_ERR_INVALID_ARGUMENT, "input too long");
    CHECK(error_mentions("tokens"), "message explains the length limit");
    /* Sentence by sentence (the default), it is cut into parts and translated. */
    CHECK(padir_translate(t, long_text, 1, NULL, &r) == PADIR_OK && (padir_result_flags(r, 0) & PADIR_FLAG_SPLIT), "long input split");
    padir_result_free(r);

    /* Counts no array can have: refused before anything is allocated or read. */
    CHECK(padir_translate(t, texts, (size_t)1 << 40, NULL, &r) == PADIR_ERR_INVALID_ARGUMENT && r == NULL, "2^40 texts");
    CHECK(error_mentions("PADIR_MAX_TEXTS"), "message names the count limit");
    CHECK(padir_translate(t, texts, (size_t)-1, NULL, &r) == PADIR_ERR_INVALID_ARGUMENT && r == NULL, "SIZE_MAX texts");

    CHECK(padir_translate(t, NULL, 0, NULL, &r) == PADIR_OK && padir_result_len(r) == 0, "zero texts");
    padir_result_free(r);

    CHECK(padir_translate(t, texts, 3, NULL, &r) == PADIR_OK && padir_result_len(r) == 3, "translate");
    CHECK(strlen(padir_result_text(r, 0)) > 0 && strcmp(padir_result_text(r, 1), "") == 0, "texts");
    CHECK(padir_result_iterations(r, 0) >= 1 && padir_result_score(r, 0) < 0.0f, "details");
    CHECK(padir_result_text(r, 3) == NULL && error_mentions("out of range"), "index out of range");
    CHECK(padir_result_score(r, 99) == 0.0f && padir_result_iterations(r, 99) == 0, "accessors out of range");
    CHECK(padir_result_text(NULL, 0) == NULL && padir_result_len(NULL) == 0, "NULL result");
    padir_result_free(r);

    d = padir_default_decode_options();
    d.mode = 1;
    CHECK(padir_translate(t, texts, 3, &d, &r) == PADIR_OK && strlen(padir_result_text(r, 2)) > 0, "AR mode");
    padir_result *v = NULL;
    d.mode = 2;
    CHECK(padir_translate(t, texts, 3, &d, &v) == PADIR_OK, "verify mode");
    CHECK(v != NULL && strcmp(padir_result_text(v, 2), padir_result_text(r, 2)) == 0, "verify gives AR's output");
    padir_result_free(v);
    padir_result_free(r);

    padir_result_free(NULL);
    padir_translator_free(NULL);
    padir_translator_free(t);
    CHECK(strlen(padir_version()) > 0, "version");

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
