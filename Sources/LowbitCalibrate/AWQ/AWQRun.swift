import Foundation
import LowbitEval
import LowbitFormats
import LowbitModels
import LowbitQuant

/// Where a mapping's scales are folded: the tensor that produces the balance layers' input,
/// which is divided by s so that the balance layers, multiplied by s, compute the same thing.
public enum AWQSmoothing: Sendable, Equatable {
    /// An RMSNorm weight (1-D): divided by s.
    case norm(String)
    /// A linear layer whose output feeds the balance layers: its rows divided by s.
    case linearRows(String)

    /// The tensor's source name.
    public var tensor: String {
        switch self { case .norm(let n), .linearRows(let n): n }
    }
}

/// The scales AWQ chose for one mapping of one layer.
public struct AWQMappingResult: Sendable {
    /// The decoder layer.
    public var layer: Int
    /// Where 1/s is folded.
    public var smoothing: AWQSmoothing
    /// The balance layers (source names), whose input columns are multiplied by s.
    public var balance: [String]
    /// The search's outcome: ratio, scales, losses.
    public var choice: AWQScaleChoice
}

/// What an ``AWQRun`` found.
public struct AWQResult: Sendable {
    /// One result per mapping, layer by layer.
    public var mappings: [AWQMappingResult]
    /// Calibration tokens run through the model (every token counts in x̄).
    public var tokens: Int
    /// Tokens per mapping the losses were measured on (the sample).
    public var scoredTokens: Int
    /// The clip search's clamps by source tensor name (empty without clipping).
    public var clips: [String: AWQClip] = [:]

    /// The folding of every mapping's scales s, by source tensor name: a norm weight's values
    /// (its one row's columns) and a smoothing linear's rows multiplied by 1/s, the balance
    /// layers' columns multiplied by s; factors of one tensor from two mappings (up's columns
    /// and rows) are kept apart, and factors on the same axis multiply.
    public var factors: [String: (rows: [Float]?, columns: [Float]?)] { Self.factors(of: mappings) }

    /// The folding of `mappings`' scales (see ``factors``).
    static func factors(of mappings: [AWQMappingResult]) -> [String: (rows: [Float]?, columns: [Float]?)] {
        var out: [String: (rows: [Float]?, columns: [Float]?)] = [:]
        func compose(_ a: [Float]?, _ b: [Float]) -> [Float] { a.map { zip($0, b).map { $0 * $1 } } ?? b }
        for m in mappings {
            let s = m.choice.scales
            let inverse = s.map { 1 / $0 }
            switch m.smoothing {
            case .norm(let name): out[name, default: (nil, nil)].columns = compose(out[name]?.columns, inverse)
            case .linearRows(let name): out[name, default: (nil, nil)].rows = compose(out[name]?.rows, inverse)
            }
            for b in m.balance { out[b, default: (nil, nil)].columns = compose(out[b]?.columns, s) }
        }
        return out
    }
}

/// The options of an AWQ search.
public struct AWQOptions: Sendable {
    /// Ratios on the grid (llm-compressor's `n_grid`, 20).
    public var gridSize: Int = 20
    /// At most this many calibration tokens score each candidate: every k-th token of each
    /// chunk, k chosen so that the sample fits (all of them when the text is short enough). x̄
    /// always uses every token. The sample bounds the time: each candidate runs its block over it.
    /// The attention mapping is scored on whole chunks instead: every k-th chunk, as many as
    /// hold this many tokens (at least one).
    public var scoringTokens: Int = 4096
    /// The clip search run after each layer's scales are chosen (mlx-lm's), or nil for none.
    public var clip: AWQClipSearch?

    /// The defaults.
    public init() {}
}

/// AWQ over a model and a calibration text, layer by layer, following llm-compressor's
/// `AWQModifier` (duo scaling; see ``AWQScaleSearch``).
///
/// The chunks (llama.cpp's chunking, ``ChunkPlan``) run through the float model one decoder
/// layer at a time (``LlamaModel/runLayer(_:on:)``); ``LlamaModel/linearInputObserver``
/// captures the inputs of each mapping's balance layers. Because AWQ's folding is exact (the
/// smoothing tensor divided by s, the balance layers multiplied by s), the smoothed model's
/// layer inputs *are* the float model's, so no layer is re-run after its scales are chosen.
///
/// Mappings per layer (source tensor names):
/// - attention norm → q, k, v, scored by the attention block's output (after o), on whole
///   chunks (``AWQParentBlock/attention(model:layer:chunkTokens:)``): as many evenly spaced
///   chunks as hold the scoring sample;
/// - v → o, only when the model has as many KV heads as heads (not with GQA);
/// - feed-forward norm → gate, up, scored by the feed-forward block's output;
/// - up → down, scored by down's output.
///
/// Every mapping's scales are computed from the original weights; up gets both its column
/// scales (gate/up mapping) and its row scales (up → down), which commute.
///
/// With ``AWQOptions/clip``, every linear of the layer but q and k (whose errors rope and the
/// softmax reshape; mlx-lm leaves them alone too) then gets ``AWQClipSearch``'s clamps, searched
/// on its scaled weights and its inputs divided by its column scales.
public struct AWQRun {
    /// The float model.
    public let model: LlamaModel
    /// The calibration chunks.
    public let plan: ChunkPlan
    /// The conversion's fake quantization.
    public let quantizer: any AWQFakeQuantizer
    /// Grid and sample size.
    public let options: AWQOptions

    /// A run of `model` over `plan`'s chunks, scoring with `quantizer`.
    public init(model: LlamaModel, plan: ChunkPlan, quantizer: any AWQFakeQuantizer, options: AWQOptions = AWQOptions()) {
        self.model = model
        self.plan = plan
        self.quantizer = quantizer
        self.options = options
    }

    /// Whether v → o is a mapping of this model (o's input channels are v's outputs only when
    /// every head has its own KV head).
    public var mapsValueToOutput: Bool { model.config.kvHeadCount == model.config.headCount }

    /// Searches every layer's mappings over the chunks of `tokens`; `progress` gets the number
    /// of layers done.
    public func run(tokens: [Int32], progress: (Int) -> Void = { _ in }) throws -> AWQResult {
        let config = model.config
        let naming = model.naming
        let search = AWQScaleSearch(gridSize: options.gridSize)
        var states = try (0..<plan.chunkCount).map { try model.embed(plan.tokens(ofChunk: $0, from: tokens)) }
        let total = plan.chunkCount * plan.contextLength
        let stride = min(plan.contextLength, max(1, (total + options.scoringTokens - 1) / max(1, options.scoringTokens)))
        let previous = model.linearInputObserver
        defer { model.linearInputObserver = previous }
        let chunkEvery = max(1, plan.chunkCount / max(1, options.scoringTokens / plan.contextLength))
        var results: [AWQMappingResult] = []
        var clips: [String: AWQClip] = [:]
        var scored = 0
        for layer in 0..<config.layerCount {
            func name(_ role: TensorNaming.Role) -> String { naming.layer(layer, role) }
            let (q, k, v, o) = (name(.query), name(.key), name(.value), name(.attentionOutput))
            let (gate, up, down) = (name(.gate), name(.up), name(.down))
            let capture = AWQCapture(watched: [q, o, gate, down], stride: stride, wholeChunks: [q], chunkEvery: chunkEvery)
            model.linearInputObserver = { name, input in capture.observe(name, input) }
            for i in states.indices { try model.runLayer(layer, on: &states[i]) }
            model.linearInputObserver = nil

            var weights: [String: [Float]] = [:]
            for n in [q, k, v, o, gate, up, down] { weights[n] = try decode(n) }
            let attention = capture.chunks(q)
            var mappings: [(AWQSmoothing, [String], String, AWQParentBlock)] = [
                (.norm(name(.attentionNorm)), [q, k, v], q,
                 .attention(model: model, layer: layer, chunkTokens: plan.contextLength)),
            ]
            if mapsValueToOutput { mappings.append((.linearRows(v), [o], o, .projections)) }
            mappings.append((.norm(name(.feedForwardNorm)), [gate, up], gate, .swiGLU(down: weights[down]!)))
            mappings.append((.linearRows(up), [down], down, .projections))
            var layerResults: [AWQMappingResult] = []
            for (smoothing, balance, input, block) in mappings {
                let captured = capture.captured(input)
                var rows = captured.rows
                if case .attention = block { rows = attention }
                let problem = try AWQMappingProblem(names: balance, weights: balance.map { weights[$0]! },
                                                    inputs: rows, width: captured.width,
                                                    activationMeans: captured.means, block: block,
                                                    threads: model.options.threads)
                scored = max(scored, problem.tokens)
                let choice = try problem.solve(search, quantizer: quantizer)
                layerResults.append(AWQMappingResult(layer: layer, smoothing: smoothing, balance: balance, choice: choice))
            }
            results += layerResults
            if let clip = options.clip {
                let factors = AWQResult.factors(of: layerResults)
                for (tensor, input) in [(v, q), (o, o), (gate, gate), (up, gate), (down, down)] {
                    let captured = capture.captured(input)
                    let width = captured.width
                    var w = weights[tensor]!
                    var x = AWQClipSearch.sample(captured.rows, width: width, at: clip.sampleTokens)
                    let f = factors[tensor]
                    for i in w.indices {
                        w[i] *= (f?.rows?[i / width] ?? 1) * (f?.columns?[i % width] ?? 1)
                    }
                    if let columns = f?.columns { for i in x.indices { x[i] /= columns[i % width] } }
                    clips[tensor] = try clip.search(tensor: tensor, weights: w, inputs: x, width: width,
                                                    quantizer: quantizer, threads: model.options.threads)
                }
            }
            progress(layer + 1)
        }
        var result = AWQResult(mappings: results, tokens: total, scoredTokens: scored)
        result.clips = clips
        return result
    }

    /// The float values of the source tensor `name`.
    private func decode(_ name: String) throws -> [Float] {
        guard let tensor = model.source.tensors.first(where: { $0.name == name }) else {
            throw EvalError(.missingTensor, file: model.source.path, item: name, "the model has no such tensor")
        }
        return try TensorDecoder.decode(tensor, from: model.source)
    }
}

/// The inputs of the watched linear layers over one layer's run: every token's |x| summed per
/// channel (for x̄), every `stride`-th row of each chunk (from row `stride / 2`) kept, and for
/// the layers of `wholeChunks`, every row of every `chunkEvery`-th chunk (from the first).
final class AWQCapture {
    private let watched: Set<String>
    private let stride: Int
    private let wholeChunks: Set<String>
    private let chunkEvery: Int
    private var sums: [String: [Double]] = [:]
    private var counts: [String: Int] = [:]
    private var calls: [String: Int] = [:]
    private var kept: [String: [Float]] = [:]
    private var whole: [String: [Float]] = [:]
    private var widths: [String: Int] = [:]

    init(watched: Set<String>, stride: Int, wholeChunks: Set<String> = [], chunkEvery: Int = 1) {
        self.watched = watched
        self.stride = stride
        self.wholeChunks = wholeChunks
        self.chunkEvery = max(1, chunkEvery)
    }

    /// The whole chunks kept of the layer `name`, one after the other.
    func chunks(_ name: String) -> [Float] { whole[name] ?? [] }

    func observe(_ name: String, _ input: LinearLayerInput) {
        guard watched.contains(name) else { return }
        let k = input.columns
        widths[name] = k
        var sum = sums.removeValue(forKey: name) ?? [Double](repeating: 0, count: k)
        var rows = kept.removeValue(forKey: name) ?? []
        let keepWhole = wholeChunks.contains(name) && calls[name, default: 0] % chunkEvery == 0
        calls[name, default: 0] += 1
        var chunk = keepWhole ? (whole.removeValue(forKey: name) ?? []) : []
        for r in 0..<input.rows {
            input.withRow(r) { row in
                for c in 0..<k { sum[c] += Double(abs(row[c])) }
                if r % stride == stride / 2 { rows.append(contentsOf: row) }
                if keepWhole { chunk.append(contentsOf: row) }
            }
        }
        if keepWhole { whole[name] = chunk }
        sums[name] = sum
        kept[name] = rows
        counts[name, default: 0] += input.rows
    }

    /// The kept rows, their width and x̄ of the layer `name`.
    func captured(_ name: String) -> (rows: [Float], width: Int, means: [Double]) {
        let n = Double(max(1, counts[name] ?? 0))
        let width = widths[name] ?? 0
        return (kept[name] ?? [], width, (sums[name] ?? [Double](repeating: 0, count: width)).map { $0 / n })
    }
}
