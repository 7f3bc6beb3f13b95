import Foundation
import LowbitEval

/// The block whose output error scores an AWQ candidate (llm-compressor scores a mapping by the
/// output of the balance layers' lowest common parent module).
public enum AWQParentBlock: Sendable {
    /// The balance layers' own outputs side by side: exact for a single balance layer (up →
    /// down, v → o).
    case projections
    /// The SwiGLU feed-forward block: the balance layers are gate and up, the output is
    /// `down(silu(gate·x) ⊙ up·x)` with `down` (rows of the feed-forward width) left unquantized.
    case swiGLU(down: [Float])
    /// The attention block of decoder layer `layer` of `model` (q, k, v → rope → attention →
    /// o, ``LowbitEval/LlamaModel/attentionOutput(layer:normedInput:tokens:replacements:)``),
    /// for the mapping attention norm → q, k, v: the inputs are whole chunks of `chunkTokens`
    /// rows (positions 0..<chunkTokens each), because every query attends to the keys before it.
    case attention(model: LlamaModel, layer: Int, chunkTokens: Int)
}

/// One mapping of one layer, ready to search: the sampled inputs of the balance layers, their
/// float weights, the block that scores them, and the statistics that shape the candidates.
public struct AWQMappingProblem: @unchecked Sendable {
    /// Source names of the balance layers, in order.
    public let names: [String]
    /// Each balance layer's float weight (rows of ``width``).
    public let weights: [[Float]]
    /// The sampled input rows the loss is measured on (`tokens` × `width`).
    public let inputs: [Float]
    /// Input channels (the balance layers' row length).
    public let width: Int
    /// x̄: the mean |x| of every input channel over all calibration tokens.
    public let activationMeans: [Double]
    /// The scoring block.
    public let block: AWQParentBlock
    /// Threads for the products.
    public let threads: Int
    private var reference: [Float]

    /// A problem over `inputs` (rows of `width`), with `weights` named `names`.
    public init(names: [String], weights: [[Float]], inputs: [Float], width: Int, activationMeans: [Double],
                block: AWQParentBlock, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        precondition(names.count == weights.count && !weights.isEmpty, "one name per weight")
        precondition(inputs.count % width == 0 && activationMeans.count == width, "inputs and means must have \(width) columns")
        if case .swiGLU = block { precondition(weights.count == 2, "a SwiGLU block balances gate and up") }
        if case .attention(_, _, let t) = block {
            precondition(t > 0 && inputs.count % (t * width) == 0, "attention inputs must be whole chunks of \(t) tokens")
        }
        self.names = names
        self.weights = weights
        self.inputs = inputs
        self.width = width
        self.activationMeans = activationMeans
        self.block = block
        self.threads = max(1, threads)
        self.reference = []
        reference = try output(of: weights)
    }

    /// Sampled tokens.
    public var tokens: Int { inputs.count / width }

    /// The scoring block's output with balance weights `w` (same shapes as ``weights``).
    ///
    /// - Throws: the model's errors, for an attention block.
    public func output(of w: [[Float]]) throws -> [Float] {
        let n = tokens
        if case .attention(let model, let layer, let t) = block {
            let replacements = Dictionary(uniqueKeysWithValues: zip(names, w))
            var out: [Float] = []
            for chunk in 0..<(n / t) {
                let rows = Array(inputs[(chunk * t * width)..<((chunk + 1) * t * width)])
                out += try model.attentionOutput(layer: layer, normedInput: rows, tokens: t, replacements: replacements)
            }
            return out
        }
        let products = w.map { product(inputs, rows: n, k: width, weight: $0) }
        switch block {
        case .projections, .attention:
            return products.flatMap { $0 }
        case .swiGLU(let down):
            var hidden = products[0]
            let up = products[1]
            for i in hidden.indices {
                let g = hidden[i]
                hidden[i] = g / (1 + exp(-g)) * up[i]
            }
            let f = w[0].count / width
            return product(hidden, rows: n, k: f, weight: down)
        }
    }

    /// `x · Wᵀ` for `rows` rows of `k` and a weight of rows of `k`.
    private func product(_ x: [Float], rows n: Int, k: Int, weight: [Float]) -> [Float] {
        let outputs = weight.count / k
        var out = [Float](repeating: 0, count: n * outputs)
        x.withUnsafeBufferPointer { a in
            weight.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    BLAS.gemmTransposedB(m: n, n: outputs, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: k,
                                         c: c.baseAddress!, ldc: outputs, threads: threads)
                }
            }
        }
        return out
    }

    /// The mean squared error of the block's output when every balance weight W becomes
    /// Q(W·diag(s))·diag(1/s), Q being `quantizer`'s round trip.
    public func loss(scales s: [Float], quantizer: any AWQFakeQuantizer) throws -> Double {
        precondition(s.count == width, "\(s.count) scales for \(width) channels")
        let candidates = try zip(names, weights).map { name, w in
            var scaled = w
            for i in scaled.indices { scaled[i] *= s[i % width] }
            var q = try quantizer.roundTrip(tensor: name, values: scaled, rowLength: width)
            for i in q.indices { q[i] /= s[i % width] }
            return q
        }
        let out = try output(of: candidates)
        var sum = 0.0
        for i in out.indices {
            let d = Double(out[i]) - Double(reference[i])
            sum += d * d
        }
        return sum / Double(max(1, out.count))
    }

    /// Runs `search` on this problem, w̄ computed with `quantizer`'s group of the first balance
    /// layer.
    public func solve(_ search: AWQScaleSearch, quantizer: any AWQFakeQuantizer) throws -> AWQScaleChoice {
        let group = quantizer.groupSize(tensor: names[0], rowLength: width)
        let w = AWQScaleSearch.weightMeans(weights, rowLength: width, groupSize: group)
        return try search.search(activationMeans: activationMeans, weightMeans: w) { try loss(scales: $0, quantizer: quantizer) }
    }
}
