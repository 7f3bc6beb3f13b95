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

    /// `attentionOutput` is the attention block the forward pass runs: on layer 1's q_proj input
    /// as the forward saw it, its output equals the o_proj input the forward saw times o_proj's
    /// weight (computed here in Double); replacing the weights by their own stored values
    /// changes nothing; a zero o_proj gives zeros; and a q_proj scaled by 2 changes the output
    /// (the replacement is used).
    @Test func attentionOutputIsTheForwardsAttentionBlock() throws {
        let model = try Self.model()
        let c = model.config, e = c.embeddingLength, qw = c.headCount * c.headDim
        let tokens = Array(try TinyModelForwardTests.tokens()[..<20])
        let p = "model.layers.1.self_attn."
        var qInput: [Float] = [], oInput: [Float] = []
        model.linearInputObserver = { name, input in
            for r in 0..<input.rows {
                input.withRow(r) { row in
                    if name == p + "q_proj.weight" { qInput += row }
                    if name == p + "o_proj.weight" { oInput += row }
                }
            }
        }
        _ = try model.logits(tokens: tokens, outputPositions: 19..<20)
        model.linearInputObserver = nil
        let wo = try model.weightValues(name: p + "o_proj.weight")
        let out = try model.attentionOutput(layer: 1, normedInput: qInput, tokens: 20)
        #expect(out.count == 20 * e)
        var worst = 0.0, scale = 0.0
        for t in 0..<20 {
            for j in 0..<e {
                var sum = 0.0
                for i in 0..<qw { sum += Double(oInput[t * qw + i]) * Double(wo[j * qw + i]) }
                worst = max(worst, abs(sum - Double(out[t * e + j])))
                scale = max(scale, abs(sum))
            }
        }
        #expect(scale > 0 && worst <= 1e-4 * scale, "largest difference \(worst) of \(scale)")

        var same: [String: [Float]] = [:]
        for n in ["q_proj", "k_proj", "v_proj", "o_proj"] { same[p + n + ".weight"] = try model.weightValues(name: p + n + ".weight") }
        let replaced = try model.attentionOutput(layer: 1, normedInput: qInput, tokens: 20, replacements: same)
        #expect(zip(replaced, out).allSatisfy { abs($0 - $1) <= 1e-4 * Float(scale) })
        let zero = try model.attentionOutput(layer: 1, normedInput: qInput, tokens: 20,
                                             replacements: [p + "o_proj.weight": [Float](repeating: 0, count: wo.count)])
        #expect(zero.allSatisfy { $0 == 0 })
        let q2 = try model.weightValues(name: p + "q_proj.weight").map { $0 * 2 }
        let sharper = try model.attentionOutput(layer: 1, normedInput: qInput, tokens: 20, replacements: [p + "q_proj.weight": q2])
        #expect(zip(sharper, out).contains { abs($0 - $1) > 1e-3 * Float(scale) })
        #expect(throws: EvalError.self) {
            try model.attentionOutput(layer: 1, normedInput: qInput, tokens: 20, replacements: [p + "k_proj.weight": [1, 2, 3]])
        }
    }
}
