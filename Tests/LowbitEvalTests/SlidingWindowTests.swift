import Foundation
import Testing
import LowbitFormats
@testable import LowbitEval

/// Mistral's sliding window against numpy (fixtures/eval/make_window_model.py): tiny-hf's weights
/// under a MistralForCausalLM config.json with `sliding_window` 7, shorter than the 40 tokens.
@Suite struct SlidingWindowTests {
    static let dir = TinyModelForwardTests.fixtures + "/tiny-mistral-hf"

    static func config() throws -> LlamaConfig {
        try LlamaConfig(huggingFace: try JSONValue.read(file: dir + "/config.json"), file: dir + "/config.json")
    }

    @Test func windowedLogitsMatchNumpy() throws {
        let config = try Self.config()
        #expect(config.slidingWindow == 7)
        #expect(config.slidingWindowNote(contextLength: 40) != nil && config.slidingWindowNote(contextLength: 7) == nil)
        let tokens = try TinyModelForwardTests.tokens()
        let golden = try TinyModelForwardTests.golden("tiny-mistral-hf.logits.f32")
        for precision in [MatrixPrecision.float32] {
            let model = try LlamaModel(source: try SafetensorsCheckpoint(path: Self.dir), config: config, naming: .huggingFace,
                                       options: .init(threads: 2, weightCacheBytes: 0, precision: precision))
            let logits = try model.logits(tokens: tokens, outputPositions: 0..<tokens.count)
            let worst = TinyModelForwardTests.largestDifference(logits, golden)
            #expect(worst < 2e-4, "largest difference from the numpy logits with window 7: \(worst)")
        }
    }

    /// A window as long as the chunk is full causal attention, bit for bit.
    @Test func aWindowAsLongAsTheChunkChangesNothing() throws {
        var windowed = try Self.config()
        windowed.forwardPass.attention = .slidingWindow(40)
        var causal = windowed
        causal.forwardPass.attention = .causal
        let tokens = try TinyModelForwardTests.tokens()
        func run(_ c: LlamaConfig) throws -> [Float] {
            try LlamaModel(source: try SafetensorsCheckpoint(path: Self.dir), config: c, naming: .huggingFace,
                           options: .init(threads: 2, weightCacheBytes: 0, precision: .float32))
                .logits(tokens: tokens, outputPositions: 0..<tokens.count)
        }
        #expect(try run(windowed) == run(causal))
    }

    /// The attention kernel against a direct computation for every block size, so that blocks
    /// which start past key 0 are covered.
    @Test(arguments: [1, 3, 4, 64])
    func attentionKernelHonoursTheWindow(_ blockRows: Int) {
        let config = LlamaConfig(vocabSize: 1, embeddingLength: 8, feedForwardLength: 1, layerCount: 1,
                                 headCount: 2, kvHeadCount: 1, headDim: 4, ropeDim: 4, ropeTheta: 100,
                                 rmsEpsilon: 1e-5, ropeLayout: .halfSplit, slidingWindow: 3)
        let t = 11, stride = 8 + 2 * 4
        let qkv = (0..<(t * stride)).map { Float(sin(Double($0) * 0.37)) }
        var out = [Float](repeating: 0, count: t * 8)
        let attention = Attention(config: config, blockRows: blockRows)
        var scratch = [Float](repeating: 0, count: 2 * attention.scratchPerWorker(tokens: t))
        qkv.withUnsafeBufferPointer { p in
            attention.run(q: p.baseAddress!, k: p.baseAddress! + 8, v: p.baseAddress! + 12, inputStride: stride, tokens: t,
                          into: &out, scratch: &scratch, threads: 2)
        }
        for i in 0..<t {
            for h in 0..<2 {
                let keys = max(0, i - 2)...i
                let s = keys.map { j in (0..<4).reduce(0.0) { $0 + Double(qkv[i * stride + h * 4 + $1]) * Double(qkv[j * stride + 8 + $1]) } / 2 }
                let m = s.max()!
                let w = s.map { exp($0 - m) }, total = w.reduce(0, +)
                for d in 0..<4 {
                    let expected = zip(keys, w).reduce(0.0) { $0 + $1.1 / total * Double(qkv[$1.0 * stride + 12 + d]) }
                    #expect(abs(Double(out[i * 8 + h * 4 + d]) - expected) < 1e-5)
                }
            }
        }
    }
}
