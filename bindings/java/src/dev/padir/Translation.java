package dev.padir;

/** One translated text with its mean log-probability and the decoder passes it took. */
public final class Translation {
    public final String text;
    public final float score;
    public final int iterations;

    Translation(String text, float score, int iterations) {
        this.text = text;
        this.score = score;
        this.iterations = iterations;
    }

    @Override
    public String toString() {
        return text;
    }
}
