package dev.padir;

/**
 * One translated text with its mean log-probability and the decoder passes it took;
 * {@code fallback}: the PaDIR output lost a protected span (%s, a tag, ...) and the text was
 * decoded again with the AR model; {@code repaired}: the spans were put back by repair.
 */
public final class Translation {
    public final String text;
    public final float score;
    public final int iterations;
    public final boolean fallback;
    public final boolean repaired;
    /** A sentence longer than the model reads was cut into parts before translation. */
    public final boolean split;
    /** An output ran into the length limit: its end may be missing. */
    public final boolean truncated;

    Translation(String text, float score, int iterations, int flags) {
        this.text = text;
        this.score = score;
        this.iterations = iterations;
        this.fallback = (flags & 1) != 0;
        this.repaired = (flags & 2) != 0;
        this.split = (flags & 4) != 0;
        this.truncated = (flags & 8) != 0;
    }

    @Override
    public String toString() {
        return text;
    }
}
