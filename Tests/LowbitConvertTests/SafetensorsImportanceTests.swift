import Foundation
import LowbitFormats
import LowbitQuant
import Testing
@testable import LowbitConvert

/// `convert --imatrix` for the INT (compressed-tensors, MLX) and FP8 safetensors layouts: the
/// vectors are keyed by GGUF names, so Hugging Face weights are looked up under theirs.
@Suite struct SafetensorsImportanceTests {
    static let int4 = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))

    static func importance(_ entries: [String: [Float]], file: String) throws -> ConversionImportance {
        try ConversionImportance(ImportanceMatrix(entries: entries.mapValues { ConversionImportanceTests.entry($0) }), file: file)
    }

    @Test func hfWeightsTakeTheVectorOfTheirGGUFName() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let dir = try tiny.write()
        let qImportance = ConversionImportanceTests.ramp(64, seed: 2), downImportance = ConversionImportanceTests.ramp(128, seed: 3)
        let importance = try Self.importance(["blk.0.attn_q.weight": qImportance, "blk.1.ffn_down.weight": downImportance],
                                             file: tiny.root + "/i.gguf")
        for target in [ConversionTarget.int(Self.int4, layout: .compressedTensors),
                       .int(IntGroupQuantizer(bits: 4, groupSize: 32, convention: .mlxAffine), layout: .mlx)] {
            var options = ConversionOptions(target: target)
            options.importance = importance
            let plan = try ConversionPlan(input: ModelInput(path: dir), output: OutputKind(path: tiny.root + "/o"), options: options)
            #expect(plan.jobs.first { $0.outputName == "model.layers.0.self_attn.q_proj.weight" }?.importance == qImportance)
            #expect(plan.jobs.first { $0.outputName == "model.layers.1.mlp.down_proj.weight" }?.importance == downImportance)
            #expect(plan.jobs.filter { $0.importance != nil }.count == 2)
        }
    }

    @Test func theOutputHoldsTheWeightedQuantizersCodesAndScales() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let dir = try tiny.write()
        let downImportance = ConversionImportanceTests.ramp(128, seed: 3)
        let importance = try Self.importance(["blk.1.ffn_down.weight": downImportance], file: "i.gguf")
        let plainPath = tiny.root + "/plain", weightedPath = tiny.root + "/weighted"
        try TinyCheckpoint.convert(dir, to: plainPath, target: .int(Self.int4, layout: .compressedTensors))
        try TinyCheckpoint.convert(dir, to: weightedPath, target: .int(Self.int4, layout: .compressedTensors)) {
            $0.importance = importance
        }
        let plain = try ModelFile.open(plainPath), weighted = try ModelFile.open(weightedPath)
        func bytes(_ source: any TensorSource, _ name: String) throws -> [UInt8] {
            let t = try #require(source.tensors.first { $0.name == name })
            return try source.withBytes(of: t) { Array($0) }
        }
        let prefix = "model.layers.1.mlp.down_proj"
        let want = Self.int4.quantize(tiny.values(of: prefix + ".weight", count: tiny.hidden * tiny.ffn),
                                      rowLength: tiny.ffn, importance: downImportance)
        #expect(try bytes(weighted, prefix + ".weight_packed") == CompressedTensorsLayout.littleEndianBytes(want.packed))
        #expect(try bytes(weighted, prefix + ".weight_scale") == FloatFormat.bf16.encode(want.scales))
        #expect(try bytes(plain, prefix + ".weight_scale") != bytes(weighted, prefix + ".weight_scale"))
        // A weight without an entry is quantized as without the matrix.
        let up = "model.layers.1.mlp.up_proj.weight_packed"
        #expect(try bytes(weighted, up) == bytes(plain, up))
    }

    @Test func aWrongLengthNamesTheTensorAndTheFile() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let dir = try tiny.write()
        let importance = try Self.importance(["blk.0.ffn_gate.weight": ConversionImportanceTests.ramp(96)], file: "/tmp/x.imatrix")
        for target in [ConversionTarget.int(Self.int4, layout: .compressedTensors), .fp8(FP8Quantizer())] {
            let error = try #require(throws: ConvertError.self) {
                try TinyCheckpoint.convert(dir, to: tiny.root + "/o", target: target) { $0.importance = importance }
            }
            #expect(error.kind == .badImportance)
            #expect(error.item == "blk.0.ffn_gate.weight" && error.file == "/tmp/x.imatrix")
            #expect(!FileManager.default.fileExists(atPath: tiny.root + "/o"))
        }
    }

    @Test func fp8SearchesItsScalesWithAnImportanceMatrixOrWhenAsked() throws {
        for type in [SafetensorsType.fp8, .fp8Llama405B] {
            for (searchScales, hasImportance) in [(false, false), (true, false), (false, true)] {
                var request = TargetRequest(type: .safetensors(type))
                request.searchScales = searchScales
                request.hasImportance = hasImportance
                let target = try ConversionTarget(request, sourceFloat: .bf16, output: .directory("out"))
                let layout = try #require(target.layout as? FP8Layout)
                #expect((layout.quantizer.clipSearch != nil) == (searchScales || hasImportance), "\(type.name)")
            }
        }
        // INT targets do not change their quantizer for an importance matrix (it arrives per tensor).
        var request = TargetRequest(type: .safetensors(.int4))
        request.hasImportance = true
        let int4 = try #require(try ConversionTarget(request, sourceFloat: .bf16, output: .directory("out")).layout as? PackedIntLayout)
        #expect(int4.quantizer.search == nil)
    }

    @Test func ggufInputsAreLookedUpByTheirOwnNames() throws {
        let tiny = try TinyCheckpoint()
        defer { tiny.cleanUp() }
        let dir = try tiny.write()
        let gguf = tiny.root + "/f32.gguf"
        try TinyCheckpoint.convert(dir, to: gguf, target: .gguf(.uniform(.f32)))
        let kImportance = ConversionImportanceTests.ramp(64, seed: 5)
        var options = ConversionOptions(target: .int(Self.int4, layout: .compressedTensors))
        options.importance = try Self.importance(["blk.1.attn_k.weight": kImportance], file: "i.gguf")
        let plan = try ConversionPlan(input: ModelInput(path: gguf), output: OutputKind(path: tiny.root + "/o"), options: options)
        #expect(plan.jobs.first { $0.outputName == "model.layers.1.self_attn.k_proj.weight" }?.importance == kImportance)
        #expect(plan.jobs.filter { $0.importance != nil }.count == 1)
    }
}
