package dev.padir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the native library {@code padir_jni} (the JNI glue with libpadir linked in) once: from
 * the jar ({@code dev/padir/native/<os>-<arch>/}, extracted to a temporary file), else from
 * {@code java.library.path} (Android's {@code jniLibs}, or a library installed beside the app).
 */
final class NativeLibrary {
    private NativeLibrary() {}

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        os = os.startsWith("mac") || os.contains("darwin") ? "darwin" : os.startsWith("windows") ? "windows" : "linux";
        if (arch.equals("amd64")) arch = "x86_64";
        if (arch.equals("arm64")) arch = "aarch64";
        return os + "-" + arch;
    }

    static void load() {
        String name = System.mapLibraryName("padir_jni");
        String resource = "native/" + platform() + "/" + name;
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                System.loadLibrary("padir_jni");
                return;
            }
            Path dir = Files.createTempDirectory("padir-jni");
            Path file = dir.resolve(name);
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            System.load(file.toAbsolutePath().toString());
            // Loaded libraries stay mapped: on Linux and macOS the files can go at once.
            if (!file.toFile().delete() || !dir.toFile().delete()) {
                file.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
            }
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract " + resource + " from the padir jar: " + e);
        }
    }
}
