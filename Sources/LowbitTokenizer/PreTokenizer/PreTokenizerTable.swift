/// llama.cpp's pre-tokenizer names (`tokenizer.ggml.pre`) and what each one does.
///
/// llama.cpp switches behaviour on this name: the split regexes, and for Llama 3 (`llama-bpe`)
/// also "ignore merges" (a word that is a vocabulary entry becomes that token) and adding BOS.
/// The converter writes the name for a tokenizer.json with ``name(for:ignoreMerges:)``, which
/// fails with ``TokenizerErrorKind/unknownPreTokenizer`` on a configuration not in the table
/// rather than guess.
public enum PreTokenizerTable {
    /// One behaviour and the names llama.cpp accepts for it.
    public struct Entry: Sendable {
        /// The name Lowbit writes (first) and the other names llama.cpp maps to the same behaviour.
        public var names: [String]
        /// The split steps llama.cpp applies for these names.
        public var preTokenizer: PreTokenizer
        /// llama.cpp sets `ignore_merges` for this name.
        public var ignoreMerges: Bool
        /// llama.cpp adds BOS by default for this name (`tokenizer.ggml.add_bos_token` overrides).
        public var addsBOSByDefault: Bool

        /// The name Lowbit writes to `tokenizer.ggml.pre`.
        public var name: String { names[0] }
    }

    private static let gpt2Steps = [PreTokenizer.Step(.gpt2)]

    /// The table. Names are those of llama.cpp's `llama_vocab::impl::load` (as of 0.3.36).
    public static let entries: [Entry] = [
        Entry(names: ["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
              preTokenizer: PreTokenizer(steps: [.init(.llama3)]), ignoreMerges: true, addsBOSByDefault: true),
        Entry(names: ["smaug-bpe", "dbrx"],
              preTokenizer: PreTokenizer(steps: [.init(.llama3)]), ignoreMerges: false, addsBOSByDefault: false),
        Entry(names: ["qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan"],
              preTokenizer: PreTokenizer(steps: [.init(.qwen2)]), ignoreMerges: false, addsBOSByDefault: false),
        Entry(names: ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"],
              preTokenizer: PreTokenizer(steps: [.init(.numbers(individual: true))] + gpt2Steps),
              ignoreMerges: false, addsBOSByDefault: false),
        Entry(names: ["gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de",
                      "gigachat", "a.x-4.0", "mellum", "exaone4", "trillion", "granite-docling"],
              preTokenizer: PreTokenizer(steps: gpt2Steps), ignoreMerges: false, addsBOSByDefault: false),
        Entry(names: ["default"],
              preTokenizer: PreTokenizer(steps: [.init(.punctuationRun)] + gpt2Steps
                  + [.init(.numbers(individual: false)), .init(.asciiDigitTriples)]),
              ignoreMerges: false, addsBOSByDefault: false),
    ]

    /// The entry for a llama.cpp name (an empty name means `default`, as in llama.cpp).
    public static func entry(named name: String) throws -> Entry {
        let key = name.isEmpty ? "default" : name
        guard let entry = entries.first(where: { $0.names.contains(key) }) else {
            throw TokenizerError(.unknownPreTokenizer, item: "tokenizer.ggml.pre",
                                 "pre-tokenizer '\(name)' is not one Lowbit implements (known: \(entries.map(\.name).joined(separator: ", ")))")
        }
        return entry
    }

    /// The llama.cpp name for a tokenizer.json pre-tokenizer configuration.
    public static func name(for preTokenizer: PreTokenizer, ignoreMerges: Bool) throws -> String {
        if let entry = entries.first(where: { $0.preTokenizer == preTokenizer && $0.ignoreMerges == ignoreMerges }) {
            return entry.name
        }
        throw TokenizerError(.unknownPreTokenizer, item: "pre_tokenizer",
                             "no llama.cpp pre-tokenizer is known for \(preTokenizer.steps.map(\.description)) with ignore_merges=\(ignoreMerges); refusing to guess")
    }
}
