package dev.padir;

/** A padir call failed. {@link #status()} is the C ABI's padir_status. */
public class PadirException extends Exception {
    private static final long serialVersionUID = 1L;

    public static final int INVALID_ARGUMENT = 1;
    public static final int MODEL = 2;
    public static final int RUNTIME = 3;
    public static final int INTERNAL = 4;

    private final int status;

    public PadirException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
