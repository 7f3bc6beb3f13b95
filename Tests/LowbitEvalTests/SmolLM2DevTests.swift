import Foundation
import Testing
import LowbitFormats
@testable import LowbitEval

/// Checks the forward pass against llama.cpp's logits on the real SmolLM2 model when the
/// files made by tests/interop (LOWBIT_EVAL_CACHE) are present; skipped otherwise.
@Suite struct SmolLM2LogitTests {
    static let cache = ProcessInfo.processInfo.environment["LOWBIT_EVAL_CACHE"] ?? "/tmp/evalcache"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: cache + "/dev_logits_256_512.f32")))
    func logitsMatchLlamaCpp() throws {
        let file = try GGUFFile(path: Self.cache + "/smollm2-f16.gguf")
        let config = try LlamaConfig(gguf: file)
        let model = try LlamaModel(source: file, config: config, naming: .gguf,
                                   options: .init(threads: 2, weightCacheBytes: 0))
        let tokenData = try Data(contentsOf: URL(fileURLWithPath: Self.cache + "/dev_tokens.i32"))
        let tokens = tokenData.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        let start = Date()
        let logits = try model.logits(tokens: tokens, outputPositions: 256..<512)
        print("forward 512 tokens: \(Date().timeIntervalSince(start)) s")
        let refData = try Data(contentsOf: URL(fileURLWithPath: Self.cache + "/dev_logits_256_512.f32"))
        let ref = refData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(ref.count == logits.count)
        var maxDiff: Float = 0
        var agree = 0
        let v = model.vocabularySize
        for r in 0..<256 {
            var a = 0, b = 0
            for j in 0..<v {
                maxDiff = max(maxDiff, abs(ref[r * v + j] - logits[r * v + j]))
                if ref[r * v + j] > ref[r * v + a] { a = j }
                if logits[r * v + j] > logits[r * v + b] { b = j }
            }
            if a == b { agree += 1 }
        }
        print("max |diff| \(maxDiff), top-1 agreement \(agree)/256", logits[0..<5])
        #expect(agree >= 250)
        #expect(maxDiff < 0.5)
    }
}
