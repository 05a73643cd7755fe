package dev.tokentap.config;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Further environment variables an option reads when the one its name gives ({@code --kafka} →
 * {@code TOKENTAP_KAFKA}) is not set: names that deployments already use, such as {@code KAFKA_BOOTSTRAP_SERVERS}.
 * Listed in {@code --help} after the derived one, which wins.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.FIELD)
public @interface EnvAlias {
    String[] value();
}
