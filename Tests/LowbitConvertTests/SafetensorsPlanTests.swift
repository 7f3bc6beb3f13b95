import LowbitFormats
import LowbitQuant
import Testing
@testable import LowbitConvert

/// Which tensors a safetensors conversion quantizes, and how (decided before any byte is written).
@Suite struct SafetensorsPlanTests {
    static func plan(_ model: TinyCheckpoint, _ target: ConversionTarget, output: String = "out") throws -> ConversionPlan {
        try model.write()
        return try ConversionPlan(input: try ModelInput(path: model.modelDirectory),
                                  output: OutputKind(path: model.root + "/" + output), options: ConversionOptions(target: target))
    }

    static func job(_ plan: ConversionPlan, _ name: String) -> TensorJob? {
        plan.jobs.first { $0.outputName == name }
    }

    static let int4 = IntGroupQuantizer(bits: 4, groupSize: 128, convention: .compressedTensors(symmetric: true))

    @Test func onlyDecoderLinearsAreQuantized() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        for target in [ConversionTarget.fp8(FP8Quantizer()), .int(Self.int4, layout: .compressedTensors)] {
            let plan = try Self.plan(model, target)
            #expect(plan.jobs.count == model.tensorShapes.count)
            for job in plan.jobs {
                let linear = job.outputName.hasSuffix("_proj.weight")
                #expect(job.encoding.isQuantized == linear, "\(job.outputName) as \(job.encoding.name)")
                if !linear {
                    // Embeddings, lm_head and norms keep their BF16 bytes unchanged.
                    if case .copy = job.encoding {} else { Issue.record("\(job.outputName) is \(job.encoding.name), not a copy") }
                    #expect(job.outputs.map(\.name) == [job.outputName])
                }
            }
            let q = try #require(Self.job(plan, "model.layers.0.self_attn.q_proj.weight"))
            let parts = q.outputs.map(\.name)
            if target.layout is FP8Layout {
                #expect(parts == ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.weight_scale"])
                #expect(q.outputs[0].type == .safetensors(.F8_E4M3))
            } else {
                #expect(Set(parts) == ["model.layers.0.self_attn.q_proj.weight_packed", "model.layers.0.self_attn.q_proj.weight_scale",
                                       "model.layers.0.self_attn.q_proj.weight_shape"])
            }
            // Safetensors output keeps Hugging Face names and row order: no rotary permutation.
            #expect(q.rotary == nil)
        }
    }

    @Test func fp8Llama405BRecipeQuantizesInnerFFNOnly() throws {
        var model = try TinyCheckpoint()
        model.layers = 4
        defer { model.cleanUp() }
        let plan = try Self.plan(model, .fp8Llama405B(FP8Quantizer(variant: .e4m3, granularity: .row)))
        for i in 0..<4 {
            for proj in ["mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"] {
                let job = try #require(Self.job(plan, "model.layers.\(i).\(proj).weight"))
                #expect(job.encoding.isQuantized == (i == 1 || i == 2), "\(job.outputName)")
            }
            for proj in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"] {
                #expect(Self.job(plan, "model.layers.\(i).\(proj).weight")?.encoding.isQuantized == false)
            }
        }
        #expect(Self.job(plan, "lm_head.weight")?.encoding.isQuantized == false)
    }

    @Test func groupSizeFallbackIsReported() throws {
        var model = try TinyCheckpoint()
        model.hidden = 96  // 96: neither 128 nor 64 divides it, 32 does
        model.heads = 6
        model.ffn = 256
        defer { model.cleanUp() }
        let plan = try Self.plan(model, .int(Self.int4, layout: .compressedTensors))
        let q = try #require(Self.job(plan, "model.layers.0.self_attn.q_proj.weight"))
        guard let fitted = (q.encoding.layout as? PackedIntLayout)?.quantizer else { Issue.record("q_proj not quantized"); return }
        #expect(fitted.groupSize == 32)
        guard case .override(let why) = q.reason else { Issue.record("fallback not reported: \(q.reason)"); return }
        #expect(why.contains("32") && why.contains("96"))
        // down_proj rows are 256 long: the requested group fits and nothing is reported.
        let down = try #require(Self.job(plan, "model.layers.0.mlp.down_proj.weight"))
        guard let d = (down.encoding.layout as? PackedIntLayout)?.quantizer else { Issue.record("down_proj not quantized"); return }
        #expect(d.groupSize == 128)
        #expect(down.reason == .defaultType)
        // Scale tensor shape: [rows, columns / group].
        #expect(q.outputs.first { $0.name.hasSuffix("weight_scale") }?.shape == [96, 3])
    }

    @Test func rowsNoGroupDividesAreKept() throws {
        var model = try TinyCheckpoint()
        model.hidden = 40  // no group of 32/64/128 divides 40
        model.heads = 4
        model.kvHeads = 2
        model.ffn = 128
        defer { model.cleanUp() }
        let plan = try Self.plan(model, .int(Self.int4, layout: .compressedTensors))
        let q = try #require(Self.job(plan, "model.layers.0.self_attn.q_proj.weight"))
        #expect(!q.encoding.isQuantized)
        guard case .override(let why) = q.reason else { Issue.record("keeping not reported: \(q.reason)"); return }
        #expect(why.contains("kept"))
        // down_proj rows are 128 long: quantized.
        #expect(Self.job(plan, "model.layers.0.mlp.down_proj.weight")?.encoding.isQuantized == true)
    }

    @Test func keepPatternLeavesTensorsInSourcePrecision() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        try model.write()
        var options = ConversionOptions(target: .fp8(FP8Quantizer()))
        options.keep = [try TensorPattern(#"layers\.1\..*down_proj"#)]
        let plan = try ConversionPlan(input: try ModelInput(path: model.modelDirectory), output: OutputKind(path: model.root + "/o"),
                                      options: options)
        #expect(Self.job(plan, "model.layers.1.mlp.down_proj.weight")?.encoding.isQuantized == false)
        #expect(Self.job(plan, "model.layers.0.mlp.down_proj.weight")?.encoding.isQuantized == true)
    }

    @Test func ggufTypesNeedAGGUFOutput() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        #expect(throws: ConvertError.self) { try Self.plan(model, .gguf(.q4_K_M), output: "out") }
        #expect(throws: ConvertError.self) { try Self.plan(model, .fp8(FP8Quantizer()), output: "out.gguf") }
    }

    @Test func outputKindFollowsTheExtension() {
        #expect(OutputKind(path: "a/b.gguf") == .ggufFile("a/b.gguf"))
        #expect(OutputKind(path: "b.safetensors") == .safetensorsFile("b.safetensors"))
        #expect(OutputKind(path: "model-int4") == .directory("model-int4"))
    }
}
