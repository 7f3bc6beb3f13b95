import Foundation
import Testing
import LowbitFormats
@testable import LowbitEval

/// The two hooks calibration needs: the observer on every linear layer's input, and running the
/// model one layer at a time over many chunks.
@Suite struct CalibrationHooksTests {
    static let dir = TinyModelForwardTests.fixtures + "/tiny-hf"

    static func model(precision: MatrixPrecision = .float32, cache: Int = 0) throws -> LlamaModel {
        let config = try LlamaConfig(huggingFace: try JSONValue.read(file: dir + "/config.json"), file: dir)
        return try LlamaModel(source: try SafetensorsCheckpoint(path: dir), config: config, naming: .huggingFace,
                              options: .init(threads: 2, weightCacheBytes: cache, precision: precision))
    }

    /// Every linear layer once per chunk, by its tensor name, with (rows, columns) = (tokens, k).
    @Test func observerSeesEveryLinearLayerOncePerChunk() throws {
        let model = try Self.model()
        let c = model.config
        var seen: [String: [(rows: Int, columns: Int)]] = [:]
        model.linearInputObserver = { name, input in seen[name, default: []].append((input.rows, input.columns)) }
        let tokens = try TinyModelForwardTests.tokens()
        _ = try model.logits(tokens: Array(tokens[..<24]), outputPositions: 12..<24)
        _ = try model.logits(tokens: Array(tokens[24...]), outputPositions: 8..<16)
        var expected: [String: Int] = [:]  // name -> k
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            for n in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"] {
                expected[p + n + ".weight"] = c.embeddingLength
            }
            expected[p + "self_attn.o_proj.weight"] = c.headCount * c.headDim
            expected[p + "mlp.down_proj.weight"] = c.feedForwardLength
        }
        expected["model.embed_tokens.weight"] = c.embeddingLength  // the tied output head
        #expect(Set(seen.keys) == Set(expected.keys))
        for (name, k) in expected {
            let calls = seen[name] ?? []
            let rows = name == "model.embed_tokens.weight" ? [12, 8] : [24, 16]
            #expect(calls.map(\.rows) == rows && calls.allSatisfy { $0.columns == k }, "\(name): \(calls)")
        }
    }

    /// The sums of squares of layer 0's q_proj input equal RMSNorm(embedding) · attn_norm
    /// computed here in Double from the weights.
    @Test func observedSumsOfSquaresMatchAnIndependentComputation() throws {
        let model = try Self.model()
        let c = model.config, e = c.embeddingLength
        let tokens = try TinyModelForwardTests.tokens()
        var sums = [Double](repeating: 0, count: e)
        model.linearInputObserver = { name, input in
            if name == "model.layers.0.self_attn.q_proj.weight" { input.accumulateColumnSumsOfSquares(into: &sums) }
        }
        _ = try model.logits(tokens: tokens, outputPositions: 39..<40)
        let source = try SafetensorsCheckpoint(path: Self.dir)
        func decoded(_ name: String, rows: Range<Int>) throws -> [Float] {
            let t = try #require(source.tensor(named: name))
            var v = [Float](repeating: 0, count: rows.count * t.rowLength)
            try v.withUnsafeMutableBufferPointer { try WeightDecoding.decode(t, from: source, rows: rows, into: $0) }
            return v
        }
        let norm = try decoded("model.layers.0.input_layernorm.weight", rows: 0..<1)
        var expected = [Double](repeating: 0, count: e)
        for id in tokens {
            let x = try decoded("model.embed_tokens.weight", rows: Int(id)..<(Int(id) + 1)).map(Double.init)
            let scale = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(e) + Double(c.rmsEpsilon)).squareRoot()
            for j in 0..<e { expected[j] += pow(x[j] * scale * Double(norm[j]), 2) }
        }
        for j in 0..<e { #expect(abs(sums[j] - expected[j]) <= 1e-4 * max(1, expected[j]), "column \(j)") }
    }

    /// Embedding every chunk, then running each layer over every chunk, then the head, gives the
    /// logits of the normal path bit for bit (same kernels, same row counts).
    @Test(arguments: MatrixPrecision.allCases)
    func layerAtATimeEqualsTheNormalPath(_ precision: MatrixPrecision) throws {
        let model = try Self.model(precision: precision, cache: 1 << 30)
        let tokens = try TinyModelForwardTests.tokens()
        let chunks = [Array(tokens[..<20]), Array(tokens[20...]), Array(tokens[5..<25])]
        var states = try chunks.map { try model.embed($0) }
        for layer in 0..<model.layerCount {
            for i in states.indices { try model.runLayer(layer, on: &states[i]) }
        }
        for (chunk, state) in zip(chunks, states) {
            let direct = try model.logits(tokens: chunk, outputPositions: 10..<20)
            #expect(try model.logits(from: state, outputPositions: 10..<20) == direct)
        }
    }
}
