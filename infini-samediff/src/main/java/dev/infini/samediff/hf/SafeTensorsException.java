package dev.infini.samediff.hf;

import java.io.IOException;

/** A malformed or inconsistent safetensors file or checkpoint; the message names the file and tensor. */
public class SafeTensorsException extends IOException {
    public SafeTensorsException(String message) {
        super(message);
    }
}
