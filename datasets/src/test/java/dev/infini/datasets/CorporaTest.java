package dev.infini.datasets;

import dev.infini.datasets.corpus.Corpora;
import dev.infini.datasets.corpus.Corpus;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CorporaTest {
    @TempDir
    Path tmp;

    @Test
    @DisplayName("the bundled names: moby-dick is the chapters, moby-dick-book the whole book, sotu the addresses")
    void bundledNames() {
        assertEquals(List.of("moby-dick", "moby-dick-book", "sotu"), Corpora.names());
        assertEquals(Corpus.mobyDickChapters().fingerprint(), Corpora.get("moby-dick").fingerprint());
        assertEquals(Corpus.mobyDickChapters().fingerprint(), Corpora.get("moby-dick-chapters").fingerprint());
        assertEquals(Corpus.mobyDick().fingerprint(), Corpora.get("moby-dick-book").fingerprint());
        assertEquals("moby-dick-chapters", Corpora.get("moby-dick").name());
        assertEquals("moby-dick", Corpora.get("moby-dick-book").name());
        assertEquals(Corpus.stateOfTheUnion().fingerprint(), Corpora.get("sotu").fingerprint());
        assertEquals(Corpus.stateOfTheUnion().fingerprint(), Corpora.get("state-of-the-union").fingerprint());
        assertTrue(Corpora.isBundled(Corpora.DEFAULT));
        assertFalse(Corpora.isBundled("passkey"));
    }

    @Test
    @DisplayName("a path is read as a user's corpus")
    void pathIsAUserCorpus() throws Exception {
        Path f = tmp.resolve("mine.txt");
        Files.writeString(f, "some text of mine\n");
        assertEquals(Corpus.fromPath(f).fingerprint(), Corpora.get(f.toString()).fingerprint());
    }

    @Test
    @DisplayName("an unknown name that is no path is an error listing the bundled names")
    void unknownNameListsTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Corpora.get("moby"));
        for (String s : List.of("--corpus moby:", "moby-dick, moby-dick-book, sotu")) {
            assertTrue(e.getMessage().contains(s), e.getMessage());
        }
    }
}
