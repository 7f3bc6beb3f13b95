import Foundation
import LowbitFormats
import LowbitModels
import LowbitQuant

/// Where a conversion writes.
public enum OutputKind: Sendable, Equatable {
    case ggufFile(String)
    case safetensorsFile(String)
    /// A Hugging Face directory: shards, index, `config.json`, tokenizer files.
    case directory(String)

    /// Decides from the path: `.gguf` and `.safetensors` are files, anything else a directory.
    public init(path: String) {
        if path.hasSuffix(".gguf") { self = .ggufFile(path) }
        else if path.hasSuffix(".safetensors") { self = .safetensorsFile(path) }
        else { self = .directory(path) }
    }

    /// The output path.
    public var path: String {
        switch self {
        case .ggufFile(let p), .safetensorsFile(let p), .directory(let p): p
        }
    }

    /// Whether the output is a GGUF file.
    public var isGGUF: Bool {
        if case .ggufFile = self { return true }
        return false
    }
}

/// Everything a conversion will do, decided before a byte is written: one job per output weight,
/// the output metadata, and what the user should be told.
public struct ConversionPlan: Sendable {
    /// The model read.
    public var input: ModelInput
    /// Where the output goes.
    public var output: OutputKind
    /// The user's choices.
    public var options: ConversionOptions
    /// One job per output weight, in the order they are written.
    public var jobs: [TensorJob]
    /// GGUF key-values of the output (GGUF output only).
    public var ggufMetadata: [(key: String, value: MetadataValue)]
    /// Things the user should know (dropped tensors, requantization, missing tokenizer...).
    public var warnings: [String]

    /// Bytes the jobs read.
    public var inputBytes: Int { jobs.reduce(0) { $0 + $1.inputBytes } }
    /// Bytes the jobs write (tensor data only).
    public var outputBytes: Int { jobs.reduce(0) { $0 + $1.outputBytes } }

    /// Plans converting `input` to `output`.
    public init(input: ModelInput, output: OutputKind, options: ConversionOptions) throws {
        self.input = input
        self.output = output
        self.options = options
        self.jobs = []
        self.ggufMetadata = []
        self.warnings = []
        if output.isGGUF != options.target.isGGUF {
            if case .float = options.target {} else {
                throw ConvertError.badOption(output.isGGUF
                    ? "type \(options.target.name) is written as safetensors; use an output ending in .safetensors or a directory"
                    : "type \(options.target.name) is a GGUF type; use an output ending in .gguf", file: output.path)
            }
        }
        if let importance = options.importance, case .float = options.target {
            throw ConvertError.badOption("--imatrix weights the quantizers; type \(options.target.name) does not quantize",
                                         file: importance.file)
        }
        if input.source.tensors.contains(where: { $0.type.floatFormat == nil && TensorDecoder.canDecode($0.type) }) {
            warnings.append("the input is already quantized: its tensors are dequantized to F32 first, so the output carries both quantization errors")
        }
        try options.weightTransforms?.check(against: input.source)
        var planner = Planner(plan: self)
        try planner.build()
        self = planner.plan
    }
}

/// The order of tensors in GGUF files llama.cpp writes: tensors outside the blocks first, then
/// block by block in numeric order (`blk.2` before `blk.10`), by name within each.
enum GGUFTensorOrder {
    static func layer(_ name: String) -> Int {
        guard name.hasPrefix("blk.") else { return -1 }
        return Int(name.dropFirst(4).prefix { $0.isNumber }) ?? -1
    }

    static func precedes(_ a: String, _ b: String) -> Bool {
        let (la, lb) = (layer(a), layer(b))
        return la != lb ? la < lb : a < b
    }
}

/// Builds a ``ConversionPlan``'s jobs and metadata.
private struct Planner {
    var plan: ConversionPlan
    var input: ModelInput { plan.input }
    var options: ConversionOptions { plan.options }
    var hyper: LlamaHyperparameters? { input.hyperparameters }

    init(plan: ConversionPlan) { self.plan = plan }

    mutating func build() throws {
        let tensors = input.source.tensors
        // Output names first: the GGUF mixes count tensors by name.
        var named: [(TensorInfo, String)] = []
        for t in tensors {
            if let name = outputName(for: t) {
                named.append((t, name))
            } else {
                plan.warnings.append("'\(t.name)' is not written: the output format has no place for it")
            }
        }
        if plan.output.isGGUF {
            try buildGGUF(named)
        } else {
            try buildSafetensors(named)
        }
    }

    /// The name a tensor gets in the output, or nil to drop it.
    func outputName(for t: TensorInfo) -> String? {
        guard hyper != nil else { return t.name }
        switch (input.naming, plan.output.isGGUF) {
        case (.huggingFace, true):
            if t.name.hasSuffix("rotary_emb.inv_freq") { return nil }
            return input.tensorNames.ggufName(forHF: t.name)
        case (.gguf, false):
            return input.tensorNames.hfName(forGGUF: t.name)
        default:
            return t.name
        }
    }

    func rotary(for outputName: String, sourceName: String) -> (heads: Int, toGGUF: Bool)? {
        guard let hyper else { return nil }
        switch (input.naming, plan.output.isGGUF) {
        case (.huggingFace, true):
            return input.tensorNames.rotaryHeads(ggufName: outputName, heads: hyper.headCount, kvHeads: hyper.kvHeadCount)
                .map { ($0, true) }
        case (.gguf, false):
            return input.tensorNames.rotaryHeads(ggufName: sourceName, heads: hyper.headCount, kvHeads: hyper.kvHeadCount)
                .map { ($0, false) }
        default:
            return nil
        }
    }

    // MARK: GGUF

    mutating func buildGGUF(_ unordered: [(TensorInfo, String)]) throws {
        // llama.cpp's loader (and so its quantizer's layer counters) orders tensors this way.
        let named = unordered.sorted { GGUFTensorOrder.precedes($0.1, $1.1) }
        guard case .gguf(let target) = options.target else {
            throw ConvertError.badOption("type \(options.target.name) cannot be written to GGUF", file: plan.output.path)
        }
        let facts = hyper?.typePolicyFacts
        var policy = GGUFTypePolicy(target: target, tensorNames: named.map(\.1), layerCount: facts?.layerCount ?? 0,
                                    queryHeadsPerKVHead: facts?.queryHeadsPerKVHead ?? 1)
        policy.keepPatterns = options.keep
        for rule in options.tensorTypeRules { try policy.addTensorTypeRule(rule) }
        policy.outputTensorType = options.outputTensorType
        policy.tokenEmbeddingType = options.tokenEmbeddingType
        policy.hasImportanceMatrix = options.importance?.isEffective ?? false
        policy.assignedTypes = options.assignedTypes

        for (t, name) in named {
            let shape = Array(t.rowMajorShape.reversed())  // GGUF ne order
            let sourceType = ggufType(of: t)
            var (type, reason) = policy.choose(name: name, shape: shape, sourceType: sourceType)
            if case .notQuantizable = reason, t.rowMajorShape.count <= 1, input.naming == .huggingFace {
                type = .f32  // llama.cpp keeps norms and biases in F32
            }
            let rot = rotary(for: name, sourceName: t.name)
            let encoding: OutputEncoding
            let transform = options.weightTransforms?.transform(for: t.name)
            if case .ggml(type) = t.type, rot == nil, transform == nil {
                encoding = .copy
            } else if !TensorDecoder.canDecode(t.type) {
                throw ConvertError.unsupportedTensor(tensor: t.name, file: t.file, reason: "type \(t.type.name) cannot be decoded, so it cannot become \(type.name)")
            } else {
                encoding = .encode(GGUFBlockLayout(type))
            }
            var job = TensorJob(
                input: .tensor(t), outputName: name, rows: t.rowCount, rowLength: t.rowLength, encoding: encoding,
                rotary: rot, reason: reason,
                outputs: [PlannedTensor(name: name, type: .ggml(type), shape: shape)])
            job.transform = transform
            // llama.cpp looks a tensor up only when it quantizes it: a weight whose type changes.
            if let importance = options.importance, type != sourceType,
               GGUFTypePolicy.isQuantizable(name: name, dimensions: shape.count) {
                job.importance = try importance.weights(for: name, shape: shape)
            }
            plan.jobs.append(job)
        }
        if input.naming == .huggingFace, let hyper, let scaling = hyper.llama3RopeScaling,
           !named.contains(where: { $0.1 == "rope_freqs.weight" }) {
            let factors = scaling.frequencyFactors(headDimension: hyper.headDimension, ropeTheta: hyper.ropeTheta)
            plan.jobs.insert(TensorJob(
                input: .values(factors), outputName: "rope_freqs.weight", rows: 1, rowLength: factors.count,
                encoding: .encode(GGUFBlockLayout(.f32)), rotary: nil, reason: .notQuantizable,
                outputs: [PlannedTensor(name: "rope_freqs.weight", type: .ggml(.f32), shape: [factors.count])]), at: 0)
            plan.jobs.sort { GGUFTensorOrder.precedes($0.outputName, $1.outputName) }
        }
        plan.ggufMetadata = try GGUFMetadataBuilder(input: input, target: target).metadata()
        if let importance = options.importance, importance.isEffective {
            // Replaces the keys of an input that was itself quantized with an importance matrix.
            plan.ggufMetadata.removeAll { $0.key.hasPrefix("quantize.imatrix.") }
            plan.ggufMetadata += importance.ggufMetadata
        }
    }

    /// The GGUF type closest to a tensor's stored type (for tensors that keep it).
    func ggufType(of t: TensorInfo) -> GGMLType {
        switch t.type {
        case .ggml(let g): return g
        case .safetensors(.BF16): return .bf16
        case .safetensors(.F16): return .f16
        default: return .f32
        }
    }

    // MARK: safetensors

    mutating func buildSafetensors(_ named: [(TensorInfo, String)]) throws {
        let layerCount = hyper?.layerCount ?? (named.compactMap { JobPlanning.layerIndex($0.1) }.max().map { $0 + 1 } ?? 0)
        for (t, name) in named {
            let rot = rotary(for: name, sourceName: t.name)
            let isLinear = isDecoderLinear(name) && t.rowMajorShape.count == 2
            let kept = options.keep.first(where: { $0.matches(name) })
            var encoding: OutputEncoding
            var importance: [Float]? = nil
            var reason = TypeChoiceReason.defaultType
            var outputs: [PlannedTensor]
            let floatDType = floatDTypeFor(t)
            let rows = t.rowCount, cols = t.rowLength
            let plainOutputs = [PlannedTensor(name: name, type: .safetensors(floatDType ?? .F32), shape: t.rowMajorShape)]

            switch options.target {
            case .quantized(let layout, let selection, _)
                where isLinear && kept == nil && selection.picks(name, layers: layerCount):
                switch layout.fitted(toRowLength: cols) {
                case .fits(let fitted, let note):
                    if let note { reason = .override(note) }
                    encoding = .encode(fitted)
                    outputs = fitted.plan(name: name, rows: rows, columns: cols, shape: t.rowMajorShape)
                    importance = try importanceVector(for: t)
                case .doesNotFit(let why):
                    reason = .override("kept: \(why)")
                    encoding = floatDType.map { .encode(FloatLayout($0)) } ?? .copy
                    outputs = plainOutputs
                }
            default:
                if let kept { reason = .override("--keep \(kept.pattern)") }
                else if isLinear { reason = .notQuantizable }
                else { reason = .notQuantizable }
                if case .float(let d) = options.target, t.type.floatFormat != nil || TensorDecoder.canDecode(t.type) {
                    encoding = .encode(FloatLayout(d))
                    outputs = [PlannedTensor(name: name, type: .safetensors(d), shape: t.rowMajorShape)]
                } else if let d = floatDType {
                    encoding = (t.type == .safetensors(d) && rot == nil) ? .copy : .encode(FloatLayout(d))
                    outputs = [PlannedTensor(name: name, type: .safetensors(d), shape: t.rowMajorShape)]
                } else if case .safetensors(let d) = t.type, rot == nil {
                    encoding = .copy
                    outputs = [PlannedTensor(name: name, type: .safetensors(d), shape: t.rowMajorShape)]
                } else {
                    throw ConvertError.unsupportedTensor(tensor: t.name, file: t.file, reason: "type \(t.type.name) cannot be written to safetensors")
                }
            }
            let transform = options.weightTransforms?.transform(for: t.name)
            if transform != nil, case .copy = encoding {
                // A rescaled tensor cannot keep its bytes: it is re-encoded in its own dtype.
                guard case .safetensors(let d) = t.type, TensorDecoder.canDecode(t.type) else {
                    throw ConvertError.unsupportedTensor(tensor: t.name, file: t.file,
                                                         reason: "type \(t.type.name) cannot be rescaled (\(options.weightTransforms!.method)) and re-encoded")
                }
                encoding = .encode(FloatLayout(d))
            }
            var job = TensorJob(input: .tensor(t), outputName: name, rows: rows, rowLength: cols,
                                encoding: encoding, rotary: rot, reason: reason, outputs: outputs)
            job.importance = importance
            job.transform = transform
            plan.jobs.append(job)
        }
    }

    /// The importance vector of a decoder linear weight quantized to safetensors: the matrix's
    /// entries are keyed by GGUF names, so a Hugging Face tensor is looked up under its GGUF
    /// name (the rotary row permutation of q/k does not matter: importance is per column).
    func importanceVector(for t: TensorInfo) throws -> [Float]? {
        guard let importance = options.importance else { return nil }
        let ggufName = input.naming == .gguf ? t.name : input.tensorNames.ggufName(forHF: t.name)
        guard let ggufName else { return nil }
        return try importance.weights(for: ggufName, shape: Array(t.rowMajorShape.reversed()))
    }

    /// The float dtype an unquantized tensor gets in safetensors output, or nil if it is not a
    /// float tensor Lowbit can decode.
    func floatDTypeFor(_ t: TensorInfo) -> SafetensorsDType? {
        if let d = options.floatDType { return TensorDecoder.canDecode(t.type) ? d : nil }
        switch t.type {
        case .safetensors(let d) where [.F32, .F16, .BF16, .F64].contains(d): return d
        case .ggml(.f32) where t.rowMajorShape.count <= 1: return .F32
        default: return TensorDecoder.canDecode(t.type) ? .BF16 : nil
        }
    }

    /// `model.layers.N.(self_attn|mlp).X_proj.weight`: the linear weights vLLM quantizes.
    func isDecoderLinear(_ name: String) -> Bool { JobPlanning.isLinear(name, in: input.tensorNames) }

}
