import Foundation
import LowbitFormats

/// A Llama-family decoder (Llama 2/3/3.1, Mistral, SmolLM2) evaluated on the CPU over whole
/// chunks of tokens: every weight matrix multiplies all tokens of the chunk at once.
///
/// The weights stay in their stored type in the file; see ``WeightStore`` for how they are
/// decoded. One model serves one thread of control at a time (it reuses its buffers).
public final class LlamaModel: @unchecked Sendable {
    public struct Options: Sendable {
        /// Threads for the element-wise work, decoding and the matrix products (split by
        /// output columns).
        public var threads: Int
        /// Bytes of packed weights kept across chunks (0: decode every chunk, memory stays near
        /// the file size plus one block of a matrix).
        public var weightCacheBytes: Int
        /// The arithmetic of the weight matrix products.
        public var precision: MatrixPrecision

        public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    weightCacheBytes: Int = 2 << 30, precision: MatrixPrecision = .fastest) {
            self.threads = max(1, threads)
            self.weightCacheBytes = weightCacheBytes
            self.precision = precision
        }
    }

    public let config: LlamaConfig
    public let source: any TensorSource
    public let naming: TensorNaming
    public let options: Options
    /// Whether the output head reuses the token embedding (no separate output tensor).
    public let tiedEmbeddings: Bool
    let weights: WeightStore
    private let layers: [Layer]
    private let embedding: TensorInfo
    private let head: TensorInfo
    private let finalNorm: [Float]
    private var rotary: RotaryTable?
    private var workspace: Workspace?

    private struct Layer {
        var attentionNorm: [Float], feedForwardNorm: [Float]
        var query: TensorInfo, key: TensorInfo, value: TensorInfo, attentionOutput: TensorInfo
        var gate: TensorInfo, up: TensorInfo, down: TensorInfo
    }

    /// A model over the tensors of `source` named by `naming`.
    public init(source: any TensorSource, config: LlamaConfig, naming: TensorNaming, options: Options = Options()) throws {
        self.source = source
        self.config = config
        self.naming = naming
        self.options = options
        let c = config
        let e = c.embeddingLength
        let qWidth = c.headCount * c.headDim
        let kvWidth = c.kvHeadCount * c.headDim
        let largest = max(qWidth * e, c.feedForwardLength * e, 1 << 20)
        let store = WeightStore(source: source, threads: options.threads, precision: options.precision,
                                cacheBudget: options.weightCacheBytes,
                                scratchFloats: largest)
        weights = store
        embedding = try store.tensor(naming.tokenEmbedding, columns: e)
        tiedEmbeddings = !store.has(naming.output)
        head = tiedEmbeddings ? embedding : try store.tensor(naming.output, columns: e)
        guard head.rowCount == c.vocabSize || embedding.rowCount == c.vocabSize else {
            throw EvalError(.badShape, file: source.path, item: head.name,
                            "\(head.rowCount) output rows, the vocabulary has \(c.vocabSize) tokens")
        }
        finalNorm = try store.vector(naming.outputNorm, length: e)
        layers = try (0..<c.layerCount).map { i in
            func m(_ role: TensorNaming.Role, _ rows: Int, _ cols: Int) throws -> TensorInfo {
                try store.tensor(naming.layer(i, role), rows: rows, columns: cols)
            }
            return Layer(
                attentionNorm: try store.vector(naming.layer(i, .attentionNorm), length: e),
                feedForwardNorm: try store.vector(naming.layer(i, .feedForwardNorm), length: e),
                query: try m(.query, qWidth, e), key: try m(.key, kvWidth, e), value: try m(.value, kvWidth, e),
                attentionOutput: try m(.attentionOutput, e, qWidth),
                gate: try m(.gate, c.feedForwardLength, e), up: try m(.up, c.feedForwardLength, e),
                down: try m(.down, e, c.feedForwardLength))
        }
        BLAS.useCallingThreadOnly()
    }

    /// The number of logits per position.
    public var vocabularySize: Int { head.rowCount }

    /// Runs `tokens` (positions 0..<count) through the model and returns the logits of the
    /// positions in `outputPositions`, row after row (`outputPositions.count × vocabularySize`).
    public func logits(tokens: [Int32], outputPositions: Range<Int>) throws -> [Float] {
        let t = tokens.count
        precondition(outputPositions.lowerBound >= 0 && outputPositions.upperBound <= t, "output positions outside the tokens")
        let c = config
        let e = c.embeddingLength
        let threads = options.threads
        if rotary == nil || rotary!.positions < t { rotary = RotaryTable(config: c, positions: t) }
        if workspace == nil || workspace!.tokens < t { workspace = Workspace(config: c, tokens: t, threads: threads) }
        let rope = rotary!
        let attention = Attention(config: c)
        let ws = workspace!
        let qWidth = c.headCount * c.headDim
        let kvWidth = c.kvHeadCount * c.headDim
        let f = c.feedForwardLength

        try weights.gatherRows(of: embedding, ids: tokens, into: ws.x)
        for layer in layers {
            // Attention block.
            layer.attentionNorm.withUnsafeBufferPointer { w in
                RMSNorm.apply(ws.x, rows: t, width: e, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: ws.h, threads: threads)
            }
            let qkvWidth = qWidth + 2 * kvWidth
            try weights.project(ws.h, rows: t, weights: [layer.query, layer.key, layer.value], into: ws.qkv, ldOut: qkvWidth)
            let q = ws.qkv, k = ws.qkv + qWidth, v = ws.qkv + qWidth + kvWidth
            rope.apply(to: q, rows: t, heads: c.headCount, headDim: c.headDim, stride: qkvWidth, threads: threads)
            rope.apply(to: k, rows: t, heads: c.kvHeadCount, headDim: c.headDim, stride: qkvWidth, threads: threads)
            attention.run(q: q, k: k, v: v, inputStride: qkvWidth, tokens: t, into: ws.attended, scratch: ws.scores,
                          threads: threads)
            try weights.project(ws.attended, rows: t, weights: [layer.attentionOutput], into: ws.x, ldOut: e, accumulate: true)
            // Feed-forward block (SwiGLU), gate and up side by side.
            layer.feedForwardNorm.withUnsafeBufferPointer { w in
                RMSNorm.apply(ws.x, rows: t, width: e, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: ws.h, threads: threads)
            }
            try weights.project(ws.h, rows: t, weights: [layer.gate, layer.up], into: ws.gateUp, ldOut: 2 * f)
            Activation.swiGLU(ws.gateUp, rows: t, width: f, threads: threads)
            try weights.project(ws.gateUp, rows: t, lda: 2 * f, weights: [layer.down], into: ws.x, ldOut: e, accumulate: true)
        }
        // Output head, only for the positions asked for.
        let n = outputPositions.count
        guard n > 0 else { return [] }
        let first = ws.x + outputPositions.lowerBound * e
        finalNorm.withUnsafeBufferPointer { w in
            RMSNorm.apply(first, rows: n, width: e, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: ws.h, threads: threads)
        }
        let vocab = head.rowCount
        var out = [Float](repeating: 0, count: n * vocab)
        try out.withUnsafeMutableBufferPointer { o in
            try weights.project(ws.h, rows: n, weights: [head], into: o.baseAddress!, ldOut: vocab)
        }
        return out
    }
}

/// The activation buffers of one chunk, reused from chunk to chunk.
private final class Workspace: @unchecked Sendable {
    let tokens: Int
    let x, h, qkv, attended, gateUp, scores: UnsafeMutablePointer<Float>
    private var all: [UnsafeMutablePointer<Float>] = []

    init(config c: LlamaConfig, tokens t: Int, threads: Int) {
        tokens = t
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            return p
        }
        let e = c.embeddingLength, qw = c.headCount * c.headDim, kvw = c.kvHeadCount * c.headDim
        x = alloc(t * e)
        h = alloc(t * max(e, qw))
        qkv = alloc(t * (qw + 2 * kvw))
        attended = alloc(t * qw)
        gateUp = alloc(t * 2 * c.feedForwardLength)
        scores = alloc(max(1, threads) * Attention(config: c).scratchPerWorker(tokens: t))
        all = [x, h, qkv, attended, gateUp, scores]
    }

    deinit { for p in all { p.deallocate() } }
}
