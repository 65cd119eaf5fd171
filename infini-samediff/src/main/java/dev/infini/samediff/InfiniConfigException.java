package dev.infini.samediff;

/** A missing, malformed or inconsistent configuration value; {@link #key()} names it. */
public class InfiniConfigException extends IllegalArgumentException {
    private final String key;

    public InfiniConfigException(String key, String message) {
        super(message);
        this.key = key;
    }

    /** The {@code config.json} key (or option) that is wrong. */
    public String key() {
        return key;
    }
}
