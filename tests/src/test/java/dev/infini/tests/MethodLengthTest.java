package dev.infini.tests;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The house rule of docs/architecture.md: no method or constructor of main code longer than {@value #MAX_LINES} lines
 * (signature to closing brace). A small brace scanner over the sources: comments, strings and character literals
 * are blanked first; a block whose header has a parameter list and whose parent is a type body is a method.
 */
class MethodLengthTest {
    static final int MAX_LINES = 80;
    private static final Pattern TYPE = Pattern.compile("\\b(class|interface|enum|record)\\s+\\w+");
    private static final Pattern ANNOTATION = Pattern.compile("@\\w+(\\s*\\([^()]*(\\([^()]*\\)[^()]*)*\\))?");

    record Method(Path file, int line, String name, int lines) {
    }

    @Test
    @DisplayName("no method in main code is longer than 80 lines")
    void noLongMethods() throws IOException {
        List<Method> all = new ArrayList<>();
        try (Stream<Path> files = Files.walk(repositoryRoot())) {
            for (Path f : (Iterable<Path>) files.filter(MethodLengthTest::isMainSource)::iterator) {
                all.addAll(methods(f, Files.readString(f)));
            }
        }
        assertTrue(all.size() > 500, "the scanner found only " + all.size() + " methods: it is broken");
        List<String> tooLong = all.stream().filter(m -> m.lines() > MAX_LINES)
                .map(m -> m.file() + ":" + m.line() + " " + m.name() + " (" + m.lines() + " lines)").toList();
        assertEquals(List.of(), tooLong, "methods over " + MAX_LINES + " lines");
    }

    @Test
    @DisplayName("the scanner measures methods, constructors and lambdas inside them, and skips types and initialisers")
    void scannerMeasuresMethods() {
        String src = """
                package x;
                /** a { brace in a comment */
                public final class Abc {
                    static final int[] T = {1, 2, 3};
                    @SuppressWarnings(value = "unchecked")
                    Abc(int a) {
                        String s = "}{";
                    }
                    int f(int x) {
                        Runnable r = () -> {
                            char c = '{';
                        };
                        return x;
                    }
                    enum E { P, Q }
                    record Rec(int a) {
                        Rec {
                            if (a < 0) throw new IllegalArgumentException();
                        }
                    }
                }
                """;
        List<Method> ms = methods(Path.of("A.java"), src);
        assertEquals(List.of("Abc:6:3", "f:9:6", "Rec:17:3"), ms.stream().map(m -> m.name() + ":" + m.line() + ":" + m.lines()).toList());
    }

    private static boolean isMainSource(Path p) {
        String s = p.toString().replace('\\', '/');
        return s.endsWith(".java") && s.contains("/src/main/java/") && !s.contains("/target/");
    }

    private static Path repositoryRoot() {
        return Fixtures.root().getParent();
    }

    /** Methods and constructors of one source file with their lengths in lines. */
    static List<Method> methods(Path file, String source) {
        String code = blank(source);
        List<Method> out = new ArrayList<>();
        Deque<Object[]> stack = new ArrayDeque<>(); // {kind, startLine, name}
        int line = 1, headerStart = 0;
        for (int i = 0; i < code.length(); i++) {
            char c = code.charAt(i);
            if (c == '\n') {
                line++;
            } else if (c == ';' || c == '}' || c == '{') {
                if (c == '{') {
                    String header = ANNOTATION.matcher(code.substring(headerStart, i)).replaceAll(" ");
                    String parent = stack.isEmpty() ? "FILE" : (String) stack.peek()[0];
                    String kind = classify(header, parent);
                    int start = line - (int) header.strip().chars().filter(ch -> ch == '\n').count();
                    stack.push(new Object[] {kind, start, name(header)});
                } else if (c == '}' && !stack.isEmpty()) {
                    Object[] top = stack.pop();
                    if (top[0].equals("METHOD")) {
                        out.add(new Method(file, (int) top[1], (String) top[2], line - (int) top[1] + 1));
                    }
                }
                headerStart = i + 1;
            }
        }
        return out;
    }

    private static String classify(String header, String parent) {
        if (TYPE.matcher(header).find()) {
            return "TYPE";
        }
        if (!parent.equals("TYPE")) {
            return "BLOCK";
        }
        String h = header.strip();
        if (h.contains("=") || h.contains("->")) {
            return "BLOCK";                                        // field initialiser, lambda in a field
        }
        if (h.contains("(") || h.matches("(public |protected |private )?[A-Z]\\w*")) {
            return h.matches("[A-Z][A-Z0-9_]*(\\s*\\(.*\\))?") ? "BLOCK" : "METHOD"; // enum constant body vs compact ctor
        }
        return "BLOCK";                                            // initialiser
    }

    private static String name(String header) {
        String h = header.strip();
        int p = h.indexOf('(');
        String before = (p >= 0 ? h.substring(0, p) : h).strip();
        int sp = Math.max(before.lastIndexOf(' '), before.lastIndexOf('\n'));
        return before.substring(sp + 1);
    }

    /** The source with comments, string/text-block and char literals replaced by spaces (newlines kept). */
    static String blank(String s) {
        StringBuilder b = new StringBuilder(s.length());
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (s.startsWith("//", i)) {
                while (i < s.length() && s.charAt(i) != '\n') { b.append(' '); i++; }
            } else if (s.startsWith("/*", i)) {
                int end = s.indexOf("*/", i + 2);
                end = end < 0 ? s.length() : end + 2;
                for (; i < end; i++) b.append(s.charAt(i) == '\n' ? '\n' : ' ');
            } else if (s.startsWith("\"\"\"", i)) {
                int end = s.indexOf("\"\"\"", i + 3);
                end = end < 0 ? s.length() : end + 3;
                for (; i < end; i++) b.append(s.charAt(i) == '\n' ? '\n' : ' ');
            } else if (c == '"' || c == '\'') {
                b.append(' ');
                i++;
                while (i < s.length() && s.charAt(i) != c) {
                    if (s.charAt(i) == '\\') { b.append(' '); i++; }
                    b.append(' ');
                    i++;
                }
                b.append(' ');
                i++;
            } else {
                b.append(c);
                i++;
            }
        }
        return b.toString();
    }
}
