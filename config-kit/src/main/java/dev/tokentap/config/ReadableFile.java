package dev.tokentap.config;

import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** A path that must name a readable file when the option is read, not when the file is first used. */
public final class ReadableFile implements ITypeConverter<Path> {

    @Override
    public Path convert(String value) {
        Path path = Path.of(value.strip());
        if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
            throw new TypeConversionException("cannot read the file " + path);
        }
        return path;
    }
}
