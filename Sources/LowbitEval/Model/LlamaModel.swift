import Foundation
import LowbitFormats
import LowbitModels

/// A decoder evaluated on the CPU over whole chunks of tokens, built from the forward-pass
/// description of its architecture (``LlamaConfig/forwardPass``: norm, rope layout, activation,
/// attention mask): every weight matrix multiplies all tokens of the chunk at once. Today's
/// blocks cover the Llama family (Llama 2/3/3.1, Mistral with its sliding window, SmolLM2).
///
/// ``linearInputObserver`` sees the input of every linear layer (calibration), and
/// ``embed(_:)`` / ``runLayer(_:on:)`` / ``logits(from:outputPositions:)`` run the model one
/// layer at a time over many chunks, with the same kernels as ``logits(tokens:outputPositions:)``.
///
/// The weights stay in their stored type in the file; see ``WeightStore`` for how they are
/// decoded. One model serves one thread of control at a time (it reuses its buffers).
public final class LlamaModel: @unchecked Sendable {
    /// How a model runs: threads, the weight cache and the precision of the matrix products.
    public struct Options: Sendable {
        /// Threads for the element-wise work, decoding and the matrix products (split by
        /// output columns).
        public var threads: Int
        /// Bytes of packed weights kept across chunks (0: decode every chunk, memory stays near
        /// the file size plus one block of a matrix).
        public var weightCacheBytes: Int
        /// The arithmetic of the weight matrix products.
        public var precision: MatrixPrecision

        /// Options with at least one thread (all cores by default), a 2 GiB weight cache and the
        /// fastest precision of this CPU.
        public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    weightCacheBytes: Int = 2 << 30, precision: MatrixPrecision = .fastest) {
            self.threads = max(1, threads)
            self.weightCacheBytes = weightCacheBytes
            self.precision = precision
        }
    }

    /// The shapes and forward-pass description the model was built from.
    public let config: LlamaConfig
    /// The file (or directory) the weights are read from.
    public let source: any TensorSource
    /// How ``source`` names its tensors (GGUF or Hugging Face).
    public let naming: TensorNaming
    /// The options the model was built with.
    public let options: Options
    /// Whether the output head reuses the token embedding (no separate output tensor).
    public let tiedEmbeddings: Bool
    /// Called with the input of every linear layer before its product; nil (the default) costs
    /// one branch per product.
    public var linearInputObserver: LinearInputObserver?
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

    /// A model over the tensors of `source`, named by `config`'s architecture in `layout`.
    public init(source: any TensorSource, config: LlamaConfig, naming layout: TensorNameLayout,
                options: Options = Options()) throws {
        self.source = source
        self.config = config
        let naming = TensorNaming(layout: layout, table: config.tensorNames)
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

    /// The number of decoder layers.
    public var layerCount: Int { layers.count }

    /// Runs `tokens` (positions 0..<count) through the model and returns the logits of the
    /// positions in `outputPositions`, row after row (`outputPositions.count × vocabularySize`).
    public func logits(tokens: [Int32], outputPositions: Range<Int>) throws -> [Float] {
        let t = tokens.count
        precondition(outputPositions.lowerBound >= 0 && outputPositions.upperBound <= t, "output positions outside the tokens")
        let ws = prepare(tokens: t)
        try weights.gatherRows(of: embedding, ids: tokens, into: ws.x)
        for index in layers.indices { try forward(layer: index, tokens: t, ws) }
        return try outputHead(ws, outputPositions: outputPositions)
    }

    // MARK: One layer at a time

    /// The token embeddings of a chunk: the state before layer 0.
    public func embed(_ tokens: [Int32]) throws -> HiddenState {
        var state = HiddenState(tokens: tokens.count, width: config.embeddingLength)
        try state.values.withUnsafeMutableBufferPointer { try weights.gatherRows(of: embedding, ids: tokens, into: $0.baseAddress!) }
        return state
    }

    /// Runs decoder layer `index` on a chunk's state, which must have run the layers before it.
    public func runLayer(_ index: Int, on state: inout HiddenState) throws {
        precondition(state.layersDone == index && index < layers.count, "layer \(index) after \(state.layersDone) layers")
        let t = state.tokens
        let ws = prepare(tokens: t)
        state.values.withUnsafeBufferPointer { ws.x.update(from: $0.baseAddress!, count: $0.count) }
        try forward(layer: index, tokens: t, ws)
        state.values.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: ws.x, count: $0.count) }
        state.layersDone += 1
    }

    /// The logits of `outputPositions` of a chunk that has run every layer, as
    /// ``logits(tokens:outputPositions:)`` returns them.
    public func logits(from state: HiddenState, outputPositions: Range<Int>) throws -> [Float] {
        precondition(state.layersDone == layers.count, "the state has run \(state.layersDone) of \(layers.count) layers")
        precondition(outputPositions.lowerBound >= 0 && outputPositions.upperBound <= state.tokens, "output positions outside the tokens")
        let ws = prepare(tokens: state.tokens)
        state.values.withUnsafeBufferPointer { ws.x.update(from: $0.baseAddress!, count: $0.count) }
        return try outputHead(ws, outputPositions: outputPositions)
    }

    // MARK: Replacing weights

    /// Replaces the weight matrix `name` (as ``source`` names it: a decoder layer's linear, the
    /// embedding or the output head) by `values`, `rows × columns` floats in the file's row
    /// order, for every product from now on; the file is not touched. Calibration installs a
    /// layer's quantized (dequantized) weights this way before running the next layer. The
    /// cached packed copy of the matrix, if any, is dropped.
    ///
    /// - Throws: ``EvalError`` (`.missingTensor`, `.badShape`) naming the file and the tensor when
    ///   the model has no such matrix or `values` is not its size.
    public func overrideWeight(name: String, values: [Float]) throws {
        guard let t = weightMatrices.first(where: { $0.name == name }) else {
            throw EvalError(.missingTensor, file: source.path, item: name, "the model multiplies by no such matrix")
        }
        guard values.count == t.rowCount * t.rowLength else {
            throw EvalError(.badShape, file: source.path, item: name,
                            "\(values.count) values for a matrix of \(t.rowCount) × \(t.rowLength)")
        }
        weights.override(t, values: values)
    }

    /// The current values of the weight matrix `name` (its override, or the file's values
    /// decoded to `Float`), `rows × columns` in the file's row order.
    ///
    /// - Throws: ``EvalError`` naming the file and the tensor when the model has no such matrix
    ///   or its values cannot be decoded.
    public func weightValues(name: String) throws -> [Float] {
        guard let t = weightMatrices.first(where: { $0.name == name }) else {
            throw EvalError(.missingTensor, file: source.path, item: name, "the model multiplies by no such matrix")
        }
        return try weights.values(of: t)
    }

    /// The shape (rows, columns) of the weight matrix `name`, if the model multiplies by it.
    public func weightShape(name: String) -> (rows: Int, columns: Int)? {
        weightMatrices.first { $0.name == name }.map { ($0.rowCount, $0.rowLength) }
    }

    /// Every matrix the model multiplies by or gathers from.
    private var weightMatrices: [TensorInfo] {
        [embedding, head] + layers.flatMap { [$0.query, $0.key, $0.value, $0.attentionOutput, $0.gate, $0.up, $0.down] }
    }

    // MARK: Blocks

    /// The rotary table and buffers for `t` tokens, grown when needed.
    private func prepare(tokens t: Int) -> Workspace {
        if rotary == nil || rotary!.positions < t { rotary = RotaryTable(config: config, positions: t) }
        if workspace == nil || workspace!.tokens < t { workspace = Workspace(config: config, tokens: t, threads: options.threads) }
        return workspace!
    }

    /// `out (+)= input · Wᵀ` for the stacked matrices `parts` (``WeightStore/project``), first
    /// showing the input to the observer once per matrix.
    private func linear(_ input: UnsafePointer<Float>, rows: Int, lda: Int? = nil, _ parts: [TensorInfo],
                        into out: UnsafeMutablePointer<Float>, ldOut: Int, accumulate: Bool = false) throws {
        if let observer = linearInputObserver {
            let k = parts[0].rowLength
            let view = LinearLayerInput(input, rows: rows, columns: k, stride: lda ?? k)
            for part in parts { observer(part.name, view) }
        }
        try weights.project(input, rows: rows, lda: lda, weights: parts, into: out, ldOut: ldOut, accumulate: accumulate)
    }

    /// The description's norm of `rows` rows of `x` into `out`.
    private func norm(_ x: UnsafeMutablePointer<Float>, rows: Int, weight: [Float], into out: UnsafeMutablePointer<Float>) {
        switch config.forwardPass.norm {
        case .rms:
            weight.withUnsafeBufferPointer { w in
                RMSNorm.apply(x, rows: rows, width: config.embeddingLength, weight: w.baseAddress!,
                              epsilon: config.rmsEpsilon, into: out, threads: options.threads)
            }
        }
    }

    /// A matrix product of the forward pass: `out (+)= input · Wᵀ` for the stacked matrices
    /// `parts`, their outputs side by side (see ``WeightStore/project``).
    private typealias Product = (_ input: UnsafePointer<Float>, _ rows: Int, _ lda: Int?, _ parts: [TensorInfo],
                                 _ out: UnsafeMutablePointer<Float>, _ ldOut: Int, _ accumulate: Bool) throws -> Void

    /// The products of the model as it runs: the stored (or overridden) weights, shown to the
    /// observer.
    private var storedProduct: Product {
        { input, rows, lda, parts, out, ldOut, accumulate in
            try self.linear(input, rows: rows, lda: lda, parts, into: out, ldOut: ldOut, accumulate: accumulate)
        }
    }

    /// Decoder layer `index` on the `t` rows of `ws.x`, in place.
    private func forward(layer index: Int, tokens t: Int, _ ws: Workspace) throws {
        let layer = layers[index]
        norm(ws.x, rows: t, weight: layer.attentionNorm, into: ws.h)
        try attention(layer: index, tokens: t, ws, into: ws.x, accumulate: true, product: storedProduct)
        norm(ws.x, rows: t, weight: layer.feedForwardNorm, into: ws.h)
        try feedForward(layer: index, tokens: t, ws, into: ws.x, accumulate: true, product: storedProduct)
    }

    /// The attention block of layer `index` on the normed rows `ws.h`: Q, K and V, rope,
    /// attention, and the output projection into `out` (added to it with `accumulate`: the
    /// residual connection).
    private func attention(layer index: Int, tokens t: Int, _ ws: Workspace, into out: UnsafeMutablePointer<Float>,
                           accumulate: Bool, product: Product) throws {
        let c = config
        let threads = options.threads
        let rope = rotary!
        let qWidth = c.headCount * c.headDim
        let kvWidth = c.kvHeadCount * c.headDim
        let layer = layers[index]
        let qkvWidth = qWidth + 2 * kvWidth
        try product(ws.h, t, nil, [layer.query, layer.key, layer.value], ws.qkv, qkvWidth, false)
        let q = ws.qkv, k = ws.qkv + qWidth, v = ws.qkv + qWidth + kvWidth
        rope.apply(to: q, rows: t, heads: c.headCount, headDim: c.headDim, stride: qkvWidth, threads: threads)
        rope.apply(to: k, rows: t, heads: c.kvHeadCount, headDim: c.headDim, stride: qkvWidth, threads: threads)
        Attention(config: c).run(q: q, k: k, v: v, inputStride: qkvWidth, tokens: t, into: ws.attended,
                                 scratch: ws.scores, threads: threads)
        try product(ws.attended, t, nil, [layer.attentionOutput], out, c.embeddingLength, accumulate)
    }

    /// The feed-forward block of layer `index` on the normed rows `ws.h` (gate and up side by
    /// side, the activation, down) into `out` (added to it with `accumulate`).
    private func feedForward(layer index: Int, tokens t: Int, _ ws: Workspace, into out: UnsafeMutablePointer<Float>,
                             accumulate: Bool, product: Product) throws {
        let c = config
        let f = c.feedForwardLength
        let layer = layers[index]
        try product(ws.h, t, nil, [layer.gate, layer.up], ws.gateUp, 2 * f, false)
        switch c.forwardPass.activation {
        case .swiGLU: Activation.swiGLU(ws.gateUp, rows: t, width: f, threads: options.threads)
        }
        try product(ws.gateUp, t, 2 * f, [layer.down], out, c.embeddingLength, accumulate)
    }

    // MARK: Blocks with other weights

    /// The attention block of decoder layer `index` alone, without its residual connection, on
    /// one chunk's normed input `normedInput` (`tokens` rows of the embedding width, positions
    /// 0..<tokens, as the layer's query projection sees them): Q, K and V, rope, attention and
    /// the output projection, with the float matrices of `replacements` (by the layer's tensor
    /// names, each rows × columns in the file's row order) in place of the stored ones. AWQ
    /// scores a candidate for the q/k/v mapping by this block's output. The observer is not
    /// called.
    ///
    /// - Throws: ``EvalError`` (`.badShape`) naming the tensor when a replacement is not its
    ///   matrix's size, or any error decoding the stored weights.
    public func attentionOutput(layer index: Int, normedInput: [Float], tokens t: Int,
                                replacements: [String: [Float]] = [:]) throws -> [Float] {
        precondition(index >= 0 && index < layers.count, "layer \(index) of \(layers.count)")
        let e = config.embeddingLength
        precondition(t > 0 && normedInput.count == t * e, "\(normedInput.count) values are not \(t) rows of \(e)")
        let layer = layers[index]
        for part in [layer.query, layer.key, layer.value, layer.attentionOutput] {
            if let r = replacements[part.name], r.count != part.rowCount * part.rowLength {
                throw EvalError(.badShape, file: source.path, item: part.name,
                                "\(r.count) values for a matrix of \(part.rowCount) × \(part.rowLength)")
            }
        }
        let ws = prepare(tokens: t)
        normedInput.withUnsafeBufferPointer { ws.h.update(from: $0.baseAddress!, count: $0.count) }
        var out = [Float](repeating: 0, count: t * e)
        let threads = options.threads
        let product: Product = { input, rows, lda, parts, out, ldOut, accumulate in
            guard parts.contains(where: { replacements[$0.name] != nil }) else {
                try self.weights.project(input, rows: rows, lda: lda, weights: parts, into: out, ldOut: ldOut,
                                         accumulate: accumulate)
                return
            }
            var column = 0
            for part in parts {
                let values = try replacements[part.name] ?? self.weights.values(of: part)
                values.withUnsafeBufferPointer { w in
                    BLAS.gemmTransposedB(m: rows, n: part.rowCount, k: part.rowLength, a: input, lda: lda ?? part.rowLength,
                                         b: w.baseAddress!, ldb: part.rowLength, beta: accumulate ? 1 : 0,
                                         c: out + column, ldc: ldOut, threads: threads)
                }
                column += part.rowCount
            }
        }
        try out.withUnsafeMutableBufferPointer { o in
            try attention(layer: index, tokens: t, ws, into: o.baseAddress!, accumulate: false, product: product)
        }
        return out
    }

    /// The final norm and output head, only for the positions asked for.
    private func outputHead(_ ws: Workspace, outputPositions: Range<Int>) throws -> [Float] {
        let n = outputPositions.count
        guard n > 0 else { return [] }
        let first = ws.x + outputPositions.lowerBound * config.embeddingLength
        norm(first, rows: n, weight: finalNorm, into: ws.h)
        let vocab = head.rowCount
        var out = [Float](repeating: 0, count: n * vocab)
        try out.withUnsafeMutableBufferPointer { o in
            try linear(ws.h, rows: n, [head], into: o.baseAddress!, ldOut: vocab)
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
