import dev.padir.PadirException;
import dev.padir.Translation;
import dev.padir.Translator;

/**
 * Checks of the Java binding on onnx/tiny; prints "N passed, N failed".
 * Usage: TranslatorTest MODEL_DIR [ONNX_RUNTIME_LIBRARY]
 */
public class TranslatorTest {
    static int passed, failed;

    static void check(boolean ok, String what) {
        if (ok) passed++;
        else {
            failed++;
            System.err.println("FAILED: " + what);
        }
    }

    interface Call { void run() throws Exception; }

    static void expectError(Call c, int status, String needle, String what) {
        try {
            c.run();
            check(false, what + " (no exception)");
        } catch (PadirException e) {
            check(e.status() == status && e.getMessage().contains(needle), what + ": " + e.status() + " " + e.getMessage());
        } catch (Exception e) {
            check(false, what + ": " + e);
        }
    }

    public static void main(String[] args) throws Exception {
        String model = args.length > 0 ? args[0] : "onnx/tiny";
        expectError(() -> Translator.setOnnxRuntimeLibrary("/nonexistent/libonnxruntime.so"), PadirException.INVALID_ARGUMENT, "no ONNX Runtime library", "missing ONNX Runtime library");
        expectError(() -> Translator.setOnnxRuntimeLibrary(null), PadirException.INVALID_ARGUMENT, "null", "null ONNX Runtime path");
        if (args.length > 1) Translator.setOnnxRuntimeLibrary(args[1]);
        try (Translator t = new Translator(model, 1)) {
            Translation[] out = t.translate(new String[] {"Open the file", "", "Close all windows 🙂"}, Translator.Mode.NAR, 0);
            check(out.length == 3, "three results");
            check(!out[0].text.isEmpty() && out[1].text.isEmpty() && !out[2].text.isEmpty(), "texts");
            check(out[0].iterations >= 1 && out[0].score < 0, "details");
            Translation[] ar = t.translate(new String[] {"Open the file"}, Translator.Mode.AR, 0);
            check(ar.length == 1 && !ar[0].text.isEmpty(), "AR mode");
            Translation[] verify = t.translate(new String[] {"Open the file"}, Translator.Mode.VERIFY, 1);
            check(verify[0].text.equals(ar[0].text), "verify mode gives AR's output");
            Translation[] again = t.translate(new String[] {"Open the file"}, Translator.Mode.NAR, 0);
            check(again[0].text.equals(out[0].text), "deterministic");

            Thread[] threads = new Thread[4];
            String[] seen = new String[4];
            for (int k = 0; k < 4; k++) {
                final int kk = k;
                threads[k] = new Thread(() -> {
                    try {
                        seen[kk] = t.translate(new String[] {"Open the file"}, Translator.Mode.NAR, 0)[0].text;
                    } catch (PadirException e) {
                        seen[kk] = "error: " + e.getMessage();
                    }
                });
                threads[k].start();
            }
            for (Thread th : threads) th.join();
            for (String s : seen) check(out[0].text.equals(s), "threads share one translator: " + s);

            expectError(() -> t.translate(new String[] {"x"}, Translator.Mode.NAR, -1), PadirException.INVALID_ARGUMENT, "iterations", "negative iterations");
            expectError(() -> t.translate(new String[] {"a\0b"}, Translator.Mode.NAR, 0), PadirException.INVALID_ARGUMENT, "NUL", "NUL in text");
            expectError(() -> t.translate(new String[] {null}, Translator.Mode.NAR, 0), PadirException.INVALID_ARGUMENT, "null", "null text");
            Translation[] longText = t.translate(new String[] {"word ".repeat(5000)}, Translator.Mode.NAR, 0);
            check(longText[0].split && !longText[0].text.isEmpty(), "a text too long for the model is split");
            Translation[] kept = t.translate(new String[] {"Cannot open %s: %s"}, Translator.Mode.NAR, 0);
            check(kept[0].text.split("%s", -1).length == 3, "both placeholders kept: " + kept[0].text);
            Translation[] raw = t.translate(new String[] {"Cannot open %s: %s"}, Translator.Mode.NAR, 0, false);
            check(!raw[0].fallback && !raw[0].repaired, "protection off");
            expectError(() -> new Translator(model, 100000), PadirException.INVALID_ARGUMENT, "cores", "threads above the cores");
            t.close();
            expectError(() -> t.translate(new String[] {"x"}, Translator.Mode.NAR, 0), PadirException.INVALID_ARGUMENT, "closed", "closed translator");
        }
        expectError(() -> new Translator("/nonexistent/model"), PadirException.MODEL, "does not exist", "missing model");
        expectError(() -> new Translator(null), PadirException.INVALID_ARGUMENT, "null", "null model dir");
        check(Translator.version().length() > 0, "version");
        // Loaded once per process: another library is refused, the same one accepted.
        expectError(() -> Translator.setOnnxRuntimeLibrary(model + "/model.json"), PadirException.INVALID_ARGUMENT, "already loaded", "switching ONNX Runtime after loading");
        if (args.length > 1) {
            Translator.setOnnxRuntimeLibrary(args[1]);
            check(true, "the same ONNX Runtime library again");
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
