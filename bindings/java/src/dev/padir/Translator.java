package dev.padir;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A loaded padir model (the Android/JVM path onto the C ABI). Thread-safe: {@link #translate}
 * may run on several threads at once; {@link #close} waits for calls in flight.
 *
 * <pre>{@code
 * try (Translator t = new Translator("onnx/en-fr")) {
 *     for (Translation tr : t.translate(new String[] {"Save the file"}, Translator.Mode.NAR, 0))
 *         System.out.println(tr.text);
 * }
 * }</pre>
 *
 * The native library comes from the jar for this platform, else from {@code java.library.path}.
 * ONNX Runtime is loaded at the first translator: from {@link #setOnnxRuntimeLibrary}, else
 * {@code ORT_DYLIB_PATH}, else beside the native library.
 */
public final class Translator implements AutoCloseable {
    static {
        NativeLibrary.load();
    }

    /**
     * Use the ONNX Runtime library at {@code path} (libonnxruntime 1.31+, e.g. from the
     * {@code onnxruntime} Python wheel or an ONNX Runtime release). Call it before the first
     * translator: ONNX Runtime is loaded once per process, and another path is refused after that.
     */
    public static void setOnnxRuntimeLibrary(String path) throws PadirException {
        if (path == null) throw new PadirException(PadirException.INVALID_ARGUMENT, "path is null");
        nativeSetOnnxRuntimeLibrary(path.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * NAR: PaDIR; AR: the greedy baseline; VERIFY: exactly AR's output, PaDIR drafting for it
     * ({@code iterations} then sets the draft's passes).
     */
    public enum Mode { NAR, AR, VERIFY }

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private long handle;

    /** Load the model in {@code modelDir} with the default options (CPU, automatic threads). */
    public Translator(String modelDir) throws PadirException {
        this(modelDir, 0);
    }

    /** Load the model in {@code modelDir}; {@code threads} = 0 lets ONNX Runtime choose. */
    public Translator(String modelDir, int threads) throws PadirException {
        if (modelDir == null) throw new PadirException(PadirException.INVALID_ARGUMENT, "modelDir is null");
        handle = nativeNew(modelDir.getBytes(StandardCharsets.UTF_8), threads);
    }

    /**
     * Translate {@code texts} in order. {@code iterations} = 0 takes the model's default.
     * Empty texts give empty translations. Placeholders and markup are protected where the
     * model can (see the four-argument form).
     */
    public Translation[] translate(String[] texts, Mode mode, int iterations) throws PadirException {
        return translate(texts, mode, iterations, true);
    }

    /**
     * As {@link #translate(String[], Mode, int)}; {@code protect} = false lets the model read
     * placeholders and markup ({@code %s}, {@code {name}}, tags, URLs, ...) as plain text.
     */
    public Translation[] translate(String[] texts, Mode mode, int iterations, boolean protect)
            throws PadirException {
        if (texts == null) throw new PadirException(PadirException.INVALID_ARGUMENT, "texts is null");
        if (mode == null) throw new PadirException(PadirException.INVALID_ARGUMENT, "mode is null");
        byte[][] utf8 = new byte[texts.length][];
        for (int i = 0; i < texts.length; i++) {
            if (texts[i] == null)
                throw new PadirException(PadirException.INVALID_ARGUMENT, "text " + i + " is null");
            if (texts[i].indexOf('\0') >= 0)
                throw new PadirException(PadirException.INVALID_ARGUMENT, "text " + i + " contains a NUL character");
            utf8[i] = texts[i].getBytes(StandardCharsets.UTF_8);
        }
        lock.readLock().lock();
        try {
            if (handle == 0) throw new PadirException(PadirException.INVALID_ARGUMENT, "the translator is closed");
            Object[] r = nativeTranslate(handle, utf8, mode.ordinal(), iterations, protect);
            byte[][] outTexts = (byte[][]) r[0];
            float[] scores = (float[]) r[1];
            int[] iters = (int[]) r[2];
            int[] flags = (int[]) r[3];
            Translation[] out = new Translation[outTexts.length];
            for (int i = 0; i < out.length; i++)
                out[i] = new Translation(
                        new String(outTexts[i], StandardCharsets.UTF_8), scores[i], iters[i], flags[i]);
            return out;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** padir's version. */
    public static String version() {
        return new String(nativeVersion(), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (handle != 0) {
                nativeFree(handle);
                handle = 0;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    private static native long nativeNew(byte[] modelDir, int threads) throws PadirException;

    private static native Object[] nativeTranslate(
            long handle, byte[][] texts, int mode, int iterations, boolean protect) throws PadirException;

    private static native void nativeFree(long handle);

    private static native byte[] nativeVersion();

    private static native void nativeSetOnnxRuntimeLibrary(byte[] path) throws PadirException;
}
