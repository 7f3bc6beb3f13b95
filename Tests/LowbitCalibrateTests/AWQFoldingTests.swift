import Foundation
import LowbitCalibrate
import LowbitConvert
import LowbitEval
import LowbitFormats
import LowbitQuant
import Testing

/// AWQ's folding is exact: the scales searched on the tiny model (scored with INT4 g32, as a
/// real run would) and folded into a float safetensors output leave the model's logits
/// unchanged, from the Hugging Face model and from the GGUF one (whose Q/K rows the conversion
/// permutes back to Hugging Face's order after scaling). The GGUF model's Llama 3.1
/// `rope_freqs.weight` has no place in a safetensors output, so its folded output is compared
/// with its plain conversion rather than with the GGUF model itself.
@Suite struct AWQFoldingTests {
    static func path(_ source: String) -> String { ImatrixCollectorTests.fixtures + "/" + source }

    static func model(_ source: String) throws -> LlamaModel {
        source.hasSuffix(".gguf") ? try ImatrixCollectorTests.ggufModel() : try ImatrixCollectorTests.huggingFaceModel()
    }

    /// The AWQ result of a tiny model on the fixture tokens (two chunks of 20), scored with the
    /// compressed-tensors INT4 g32 layouts a conversion of it would use.
    static func search(_ source: String) throws -> AWQResult {
        let input = try ModelInput(path: path(source))
        let out = OutputKind(path: "/nonexistent/awq-int4")
        var request = TargetRequest(type: TargetType(name: "int4")!)
        request.groupSize = 32
        let plan = try ConversionPlan(input: input, output: out,
                                      options: ConversionOptions(target: try ConversionTarget(request, input: input, output: out)))
        var layouts: [String: any WeightLayout] = [:]
        for job in plan.jobs { if let l = job.encoding.layout { layouts[job.sourceName] = l } }
        #expect(layouts.values.contains { $0 is PackedIntLayout })
        let model = try model(source)
        let tokens = try ImatrixCollectorTests.tokens()
        let chunks = try ChunkPlan(tokenCount: tokens.count, contextLength: 20, bos: nil, file: "tiny-tokens.json")
        return try AWQRun(model: model, plan: chunks, quantizer: AWQLayoutQuantizer(layouts: layouts)).run(tokens: tokens)
    }

    /// Converts the tiny model to F32 at `path` with `result`'s scales folded in (none: a plain
    /// conversion).
    static func convertFolded(_ source: String, _ result: AWQResult?, to path: String) throws {
        let input = try ModelInput(path: Self.path(source))
        let out = OutputKind(path: path)
        var options = ConversionOptions(target: try ConversionTarget(TargetRequest(type: TargetType(name: "f32")!), input: input, output: out))
        var transforms = WeightTransforms(method: "awq")
        for (name, f) in result?.factors ?? [:] { transforms.byTensor[name] = WeightTransform(rowFactors: f.rows, columnFactors: f.columns) }
        options.weightTransforms = transforms
        _ = try Converter(plan: try ConversionPlan(input: input, output: out, options: options)).run()
    }

    @Test(arguments: ["tiny-hf", "tiny.gguf"])
    func foldingLeavesTheFloatModelsLogitsUnchanged(_ source: String) throws {
        let result = try Self.search(source)
        let model = try Self.model(source)
        // Mappings of every layer: q/k/v, gate/up and up/down (no v -> o: the model has 4 heads, 2 KV heads).
        #expect(result.mappings.count == 3 * model.layerCount)
        #expect(result.mappings.allSatisfy { if case .linearRows(let n) = $0.smoothing { n.contains("up") } else { true } })
        // The scales are far from 1, so an unfolded or half-folded model would differ.
        let spread = result.mappings.map { m in m.choice.scales.map { abs(log(Double($0))) }.max() ?? 0 }.max() ?? 0
        #expect(spread > 0.2, "largest |log s| is \(spread)")

        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("awq-fold-\(getpid())-\(source).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try Self.convertFolded(source, result, to: tmp)
        let folded = try LlamaModel(source: try SafetensorsCheckpoint(path: tmp), config: model.config, naming: .huggingFace,
                                    options: .init(threads: 2, precision: .float32))
        var reference = model
        if source.hasSuffix(".gguf") {
            let plain = tmp + ".plain.safetensors"
            defer { try? FileManager.default.removeItem(atPath: plain) }
            try Self.convertFolded(source, nil, to: plain)
            reference = try LlamaModel(source: try SafetensorsCheckpoint(path: plain), config: model.config, naming: .huggingFace,
                                       options: .init(threads: 2, precision: .float32))
        }
        // The folded norms really changed.
        let norm = model.naming.layer(0, .attentionNorm)
        let original = try TensorDecoder.decode(model.source.tensors.first { $0.name == norm }!, from: model.source)
        let changed = try TensorDecoder.decode(folded.source.tensors.first { $0.name == "model.layers.0.input_layernorm.weight" }!,
                                               from: folded.source)
        #expect(zip(original, changed).contains { abs($0 - $1) > 1e-3 * abs($0) })

        let tokens = try ImatrixCollectorTests.tokens()
        let a = try reference.logits(tokens: tokens, outputPositions: 0..<tokens.count)
        let b = try folded.logits(tokens: tokens, outputPositions: 0..<tokens.count)
        let scale = a.reduce(0) { max($0, abs($1)) }
        let worst = zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
        // F32 arithmetic: each value is rescaled by s and 1/s (a few ulps), then runs 2 layers.
        #expect(worst <= 1e-4 * scale, "largest logit difference \(worst), largest logit \(scale)")
    }
}
