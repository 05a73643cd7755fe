package dev.tokentap.proxy.usage;

import static dev.tokentap.proxy.usage.Pieces.bytes;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ChunkUsageSpliceTest {

    private static String apply(String event, ChunkUsageSplice.Mode mode) {
        byte[] b = bytes(event);
        long cut = ChunkUsageSplice.find(b, 0, b.length, mode);
        if (cut == ChunkUsageSplice.NONE) {
            return event;
        }
        String replacement = mode == ChunkUsageSplice.Mode.NULL ? "null" : "";
        return event.substring(0, ChunkUsageSplice.start(cut)) + replacement
                + event.substring(ChunkUsageSplice.end(cut));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "data: {'a':1,'usage':{'prompt_tokens':1}}\\n\\n|data: {'a':1}\\n\\n",
        "data: {'usage':{'p':1},'a':1}\\n\\n|data: {'a':1}\\n\\n",
        "data:{'choices':[{'usage':{}}],'usage':{'p':{'x':'}'}},'b':'usage'}\\n\\n|data:{'choices':[{'usage':{}}],'b':'usage'}\\n\\n",
        "data: {'s':'\\\"usage\\\":{}','usage':{'p':1}}\\n\\n|data: {'s':'\\\"usage\\\":{}'}\\n\\n",
        "data: {'s':'\\'','usage':{'p':1}}\\n\\n|data: {'s':'\\''}\\n\\n",
        "data: {'s':'x\\\\','usage':{'p':1}}\\n\\n|data: {'s':'x\\\\'}\\n\\n",
        "data: {'s':'x\\\\\\'usage\\':{}','usage':{'p':1}}\\n\\n|data: {'s':'x\\\\\\'usage\\':{}'}\\n\\n",
        "data: {'a':'x','usage':null}\\n\\n|data: {'a':'x','usage':null}\\n\\n",
        "data: [DONE]\\n\\n|data: [DONE]\\n\\n",
        "event: x\\ndata: {'usage':{'p':1}}\\n\\n|event: x\\ndata: {'usage':{'p':1}}\\n\\n"
    })
    void shouldRemoveOnlyTheTopLevelUsageObjectAndItsComma(String event, String expected) {
        assertThat(apply(json(event), ChunkUsageSplice.Mode.REMOVE)).isEqualTo(json(expected));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "data: {'a':1,'usage':{'prompt_tokens':1,'prompt_tokens_details':null}}\\n\\n|data: {'a':1,'usage':null}\\n\\n",
        "data: {'a':1,'usage':null}\\n\\n|data: {'a':1,'usage':null}\\n\\n"
    })
    void shouldPutBackNullWhereTheClientWouldHaveSeenIt(String event, String expected) {
        assertThat(apply(json(event), ChunkUsageSplice.Mode.NULL)).isEqualTo(json(expected));
    }

    private static String json(String s) {
        return s.replace('\'', '"').replace("\\n", "\n");
    }
}
