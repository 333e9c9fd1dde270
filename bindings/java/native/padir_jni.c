/* JNI glue for dev.padir.Translator over padir's C ABI. Strings cross as UTF-8 byte arrays
 * (JNI's own string functions use "modified UTF-8", which is not UTF-8 for NUL and emoji). */
#include <jni.h>
#include <stdlib.h>
#include <string.h>

#include "padir.h"

static void throw_padir(JNIEnv *env, int status, const char *message) {
    jclass cls = (*env)->FindClass(env, "dev/padir/PadirException");
    if (!cls) return;
    jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;)V");
    jstring msg = (*env)->NewStringUTF(env, message);
    jobject exc = (*env)->NewObject(env, cls, ctor, (jint)status, msg);
    if (exc) (*env)->Throw(env, (jthrowable)exc);
}

static void throw_last(JNIEnv *env, int status) { throw_padir(env, status, padir_last_error()); }

/* A NUL-terminated copy of a Java byte array (caller frees), or NULL after throwing. */
static char *c_string(JNIEnv *env, jbyteArray bytes) {
    jsize n = (*env)->GetArrayLength(env, bytes);
    char *s = malloc((size_t)n + 1);
    if (!s) {
        throw_padir(env, PADIR_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, bytes, 0, n, (jbyte *)s);
    s[n] = '\0';
    return s;
}

static jbyteArray java_bytes(JNIEnv *env, const char *s) {
    jsize n = (jsize)strlen(s);
    jbyteArray a = (*env)->NewByteArray(env, n);
    if (a) (*env)->SetByteArrayRegion(env, a, 0, n, (const jbyte *)s);
    return a;
}

JNIEXPORT jlong JNICALL Java_dev_padir_Translator_nativeNew(JNIEnv *env, jclass cls, jbyteArray dir, jint threads) {
    (void)cls;
    char *path = c_string(env, dir);
    if (!path) return 0;
    padir_options o = padir_default_options();
    o.intra_threads = threads;
    padir_translator *t = NULL;
    padir_status st = padir_translator_new(path, &o, &t);
    free(path);
    if (st != PADIR_OK) {
        throw_last(env, st);
        return 0;
    }
    return (jlong)(intptr_t)t;
}

JNIEXPORT jobjectArray JNICALL Java_dev_padir_Translator_nativeTranslate(JNIEnv *env, jclass cls, jlong handle,
                                                                         jobjectArray texts, jint mode, jint iterations,
                                                                         jboolean protect) {
    (void)cls;
    jsize n = (*env)->GetArrayLength(env, texts);
    char **inputs = calloc((size_t)n + 1, sizeof(char *));
    if (!inputs) {
        throw_padir(env, PADIR_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    jobjectArray out = NULL;
    padir_result *r = NULL;
    for (jsize i = 0; i < n; i++) {
        jbyteArray b = (jbyteArray)(*env)->GetObjectArrayElement(env, texts, i);
        inputs[i] = c_string(env, b);
        (*env)->DeleteLocalRef(env, b);
        if (!inputs[i]) goto done;
    }
    padir_decode_options d = padir_default_decode_options();
    d.mode = mode;
    d.iterations = iterations;
    d.no_protect = protect ? 0 : 1;
    padir_status st = padir_translate((padir_translator *)(intptr_t)handle, (const char *const *)inputs, (size_t)n, &d, &r);
    if (st != PADIR_OK) {
        throw_last(env, st);
        goto done;
    }
    size_t len = padir_result_len(r);
    jclass bytes_cls = (*env)->FindClass(env, "[B");
    jobjectArray out_texts = (*env)->NewObjectArray(env, (jsize)len, bytes_cls, NULL);
    jfloatArray scores = (*env)->NewFloatArray(env, (jsize)len);
    jintArray iters = (*env)->NewIntArray(env, (jsize)len);
    jintArray flags = (*env)->NewIntArray(env, (jsize)len);
    if (!out_texts || !scores || !iters || !flags) goto done;
    for (size_t i = 0; i < len; i++) {
        jbyteArray t = java_bytes(env, padir_result_text(r, i));
        if (!t) goto done;
        (*env)->SetObjectArrayElement(env, out_texts, (jsize)i, t);
        (*env)->DeleteLocalRef(env, t);
        jfloat s = padir_result_score(r, i);
        jint it = padir_result_iterations(r, i);
        (*env)->SetFloatArrayRegion(env, scores, (jsize)i, 1, &s);
        (*env)->SetIntArrayRegion(env, iters, (jsize)i, 1, &it);
        jint f = padir_result_flags(r, i);
        (*env)->SetIntArrayRegion(env, flags, (jsize)i, 1, &f);
    }
    out = (*env)->NewObjectArray(env, 4, (*env)->FindClass(env, "java/lang/Object"), NULL);
    if (out) {
        (*env)->SetObjectArrayElement(env, out, 0, out_texts);
        (*env)->SetObjectArrayElement(env, out, 1, scores);
        (*env)->SetObjectArrayElement(env, out, 2, iters);
        (*env)->SetObjectArrayElement(env, out, 3, flags);
    }
done:
    padir_result_free(r);
    for (jsize i = 0; i < n; i++) free(inputs[i]);
    free(inputs);
    return out;
}

JNIEXPORT void JNICALL Java_dev_padir_Translator_nativeFree(JNIEnv *env, jclass cls, jlong handle) {
    (void)env;
    (void)cls;
    padir_translator_free((padir_translator *)(intptr_t)handle);
}

JNIEXPORT jbyteArray JNICALL Java_dev_padir_Translator_nativeVersion(JNIEnv *env, jclass cls) {
    (void)cls;
    return java_bytes(env, padir_version());
}

JNIEXPORT void JNICALL Java_dev_padir_Translator_nativeSetOnnxRuntimeLibrary(JNIEnv *env, jclass cls, jbyteArray path) {
    (void)cls;
    char *p = c_string(env, path);
    if (!p) return;
    padir_status st = padir_set_onnxruntime_library(p);
    free(p);
    if (st != PADIR_OK) throw_last(env, st);
}
