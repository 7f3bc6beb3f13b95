import Foundation
import Testing
import LowbitFormats
@testable import LowbitEval

/// Models whose hyperparameters lie about their tensors: each is refused with an error naming the
/// file, before anything is allocated from the lying numbers.
@Suite struct HostileModelTests {
    /// tiny.gguf with the UInt32 value of metadata key `key` replaced by `value`.
    static func patched(_ key: String, _ value: UInt32) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TinyModelForwardTests.fixtures + "/tiny.gguf")))
        let name = Array(key.utf8)
        // The key's bytes, then its type (4 = UInt32), then the value.
        let at = try #require((0...(bytes.count - name.count)).first { bytes[$0..<($0 + name.count)].elementsEqual(name) })
        let typeOffset = at + name.count
        #expect(bytes[typeOffset] == 4)
        withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { bytes[typeOffset + 4 + i] = $0[i] } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-hostile-\(UUID().uuidString).gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func refuses(_ key: String, _ value: UInt32) throws {
        let path = try patched(key, value)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let file = try GGUFFile(path: path)
            let model = try LlamaModel(source: file, config: try LlamaConfig(gguf: file), naming: .gguf,
                                       options: .init(threads: 2))
            _ = try model.logits(tokens: [1, 2, 3], outputPositions: 0..<3)
            Issue.record("\(key) = \(value) was accepted")
        } catch let error as EvalError {
            #expect(error.file == path, "\(error)")
        } catch let error as FormatError {
            #expect(error.file == path, "\(error)")
        }
    }

    @Test func lyingSizesAreRefused() throws {
        try Self.refuses("llama.embedding_length", .max)
        try Self.refuses("llama.embedding_length", 65)
        try Self.refuses("llama.feed_forward_length", .max)
        try Self.refuses("llama.feed_forward_length", 1 << 20)
        try Self.refuses("llama.block_count", .max)
        try Self.refuses("llama.block_count", 3)
        try Self.refuses("llama.attention.head_count", .max)
        try Self.refuses("llama.attention.head_count_kv", 3)
        try Self.refuses("llama.attention.head_count_kv", 0)
    }

    /// A tokenizer.json that parses as JSON but is no tokenizer: the error names that file.
    @Test func brokenTokenizerNamesItsFile() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("lowbit-hostile-tok-\(UUID().uuidString)").path
        try fm.copyItem(atPath: TinyModelForwardTests.fixtures + "/tiny-hf", toPath: dir)
        defer { try? fm.removeItem(atPath: dir) }
        try Data(#"{"model": {"type": "WordPiece"}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        do {
            _ = try ModelLoader.load(path: dir)
            Issue.record("a broken tokenizer.json was accepted")
        } catch {
            #expect(String(describing: error).hasPrefix(dir + "/tokenizer.json: "), "\(error)")
        }
    }
}
