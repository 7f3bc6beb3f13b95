import Foundation
import Testing
import LowbitFormats
@testable import LowbitEval
import LowbitTestSupport

/// The forward pass against golden logits of an independent numpy implementation
/// (fixtures/eval/make_tiny_model.py, numpy_llama.py) on tiny random Llama models: GGUF with
/// permuted Q/K (interleaved rope), Q8_0/F16 matrices, rope_freqs and an untied head; and the
/// Hugging Face directory of the same weights (half-split rope, llama3 rope scaling, tied head).
@Suite struct TinyModelForwardTests {
    static let fixtures = Fixtures.path("eval")

    static func tokens() throws -> [Int32] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/tiny-tokens.json"))
        guard case .array(let items) = try JSONValue.parse([UInt8](data)) else { return [] }
        return items.compactMap { $0.intValue.map(Int32.init) }
    }

    static func golden(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name))
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        #expect(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Checks `model`'s logits against the golden ones of its precision: `NAME.logits.f32`
    /// (exact products) or `NAME.bf16.logits.f32` (operands rounded to bfloat16 in numpy too).
    static func check(_ model: LlamaModel, golden stem: String) throws {
        let tokens = try tokens()
        #expect(tokens.count == 40)
        let exact = try golden(stem + ".logits.f32")
        // All positions, then only the second half (the output head for scored rows only).
        let all = try model.logits(tokens: tokens, outputPositions: 0..<tokens.count)
        if model.options.precision == .bfloat16 {
            // bfloat16 keeps 8 significant bits, so an activation that float32 and float64 round
            // to different neighbours moves a product by 2^-8 of its term: the bound is looser,
            // but the logits must sit far closer to numpy's bfloat16 pass than to the exact one.
            let worst = largestDifference(all, try golden(stem + ".bf16.logits.f32"))
            let rounding = largestDifference(all, exact)
            #expect(worst < 5e-2 && worst * 8 < rounding,
                    "bf16 logits differ from numpy's bf16 pass by \(worst), from the exact pass by \(rounding)")
        } else {
            let worst = largestDifference(all, exact)
            #expect(worst < 2e-4, "largest difference from the numpy logits: \(worst)")
        }
        let v = model.vocabularySize
        let tail = try model.logits(tokens: tokens, outputPositions: 20..<40)
        if MatrixLayout.preferred(for: model.options.precision) == .panels {
            // Lowbit's kernels compute each output row the same way whatever the row count.
            #expect(Array(all[(20 * v)...]) == tail)
        } else {
            // OpenBLAS sgemm (the float32 layout on CPUs without AVX-512) picks its kernels and
            // blocking by the row count, so 20 rows may be summed in another order than the same
            // rows among 40: equal to float32 rounding, not bit for bit.
            let drift = largestDifference(Array(all[(20 * v)...]), tail)
            #expect(drift < 1e-4, "the output head for 20 positions differs from the full pass by \(drift)")
        }
    }

    @Test func ggufMatchesNumpy() throws {
        let file = try GGUFFile(path: Self.fixtures + "/tiny.gguf")
        let config = try LlamaConfig(gguf: file)
        #expect(config.ropeLayout == .interleaved)
        #expect(config.ropeFrequencyDivisors?.count == 8)
        for cache in [0, 1 << 30] {
            for precision in MatrixPrecision.allCases {
                let model = try LlamaModel(source: file, config: config, naming: .gguf,
                                           options: .init(threads: 2, weightCacheBytes: cache, precision: precision))
                #expect(!model.tiedEmbeddings)
                try Self.check(model, golden: "tiny-gguf")
            }
        }
    }

    @Test func huggingFaceMatchesNumpy() throws {
        let dir = Self.fixtures + "/tiny-hf"
        let source = try SafetensorsCheckpoint(path: dir)
        let json = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))))
        let config = try LlamaConfig(huggingFace: json, file: dir)
        #expect(config.ropeLayout == .halfSplit)
        for precision in MatrixPrecision.allCases {
            let model = try LlamaModel(source: source, config: config, naming: .huggingFace,
                                       options: .init(threads: 3, weightCacheBytes: 0, precision: precision))
            #expect(model.tiedEmbeddings)
            try Self.check(model, golden: "tiny-hf")
        }
    }

    @Test func llama3DivisorsAgreeBetweenFormats() throws {
        let gguf = try LlamaConfig(gguf: try GGUFFile(path: Self.fixtures + "/tiny.gguf"))
        let dir = Self.fixtures + "/tiny-hf"
        let json = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))))
        let hf = try LlamaConfig(huggingFace: json, file: dir)
        let a = try #require(gguf.ropeFrequencyDivisors)
        let b = try #require(hf.ropeFrequencyDivisors)
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-5 * max(1, abs(x))) }
        #expect(a.first == 1 || a.first! < 8)   // short wavelengths are not slowed down fully
        #expect(a.last == 8)                    // long wavelengths are slowed by the factor
    }

    @Test func loneSafetensorsFileIsRefused() throws {
        #expect(throws: EvalError.self) {
            _ = try ModelLoader.openSource(path: Self.fixtures + "/tiny-hf/model.safetensors")
        }
    }
}
