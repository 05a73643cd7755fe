package dev.tokentap.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * A secret setting (a token, an HMAC key): its {@link #toString()} never shows it, so a record holding one can be
 * logged whole. Read from a flag or variable as is ({@link Plain}, every option of this type), or from a file such as
 * a mounted Kubernetes Secret ({@link FromFile}), which keeps it out of the environment and the process list.
 */
public final class Secret {

    private final String value;

    private Secret(String value) {
        this.value = value;
    }

    /** A secret of {@code value}, which must not be blank. */
    public static Secret of(String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("a secret must not be blank");
        }
        return new Secret(value);
    }

    public String value() {
        return value;
    }

    public byte[] bytes() {
        return value.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Secret other && other.value.equals(value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(value);
    }

    @Override
    public String toString() {
        return "***";
    }

    /** A secret given as the option's value; never echoed in an error. */
    public static final class Plain implements ITypeConverter<Secret> {
        @Override
        public Secret convert(String value) {
            if (value == null || value.isBlank()) {
                throw new TypeConversionException("must not be empty");
            }
            return new Secret(value);
        }
    }

    /** A secret read from the file the option names; surrounding whitespace (a trailing newline) is dropped. */
    public static final class FromFile implements ITypeConverter<Secret> {
        @Override
        public Secret convert(String value) {
            String content;
            try {
                content = Files.readString(Path.of(value.strip()));
            } catch (IOException | RuntimeException e) {
                throw new TypeConversionException("cannot read the file " + value.strip());
            }
            if (content.isBlank()) {
                throw new TypeConversionException("the file " + value.strip() + " is empty");
            }
            return new Secret(content.strip());
        }
    }
}
