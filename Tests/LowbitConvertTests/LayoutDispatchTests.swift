import Foundation
import LowbitFormats
import LowbitQuant
import Testing
@testable import LowbitConvert

/// The `--type` table builds every quantized target through its layout, and `lowbit verify`
/// reads quantized weights back through the layouts' registry.
@Suite struct LayoutDispatchTests {
    @Test func everyTypeIsListedOnceAndFoundByName() {
        let names = TargetType.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        for type in TargetType.allCases { #expect(TargetType(name: type.name.uppercased()) == type) }
        #expect(TargetType(name: "nope") == nil)
        #expect(SafetensorsType.all.map(\.name) == ["fp8", "fp8-405b", "int8", "int4"])
    }

    @Test func quantizedTypesBuildTheirLayouts() throws {
        func target(_ type: SafetensorsType, _ tweak: (inout TargetRequest) -> Void = { _ in }) throws -> ConversionTarget {
            var request = TargetRequest(type: .safetensors(type))
            tweak(&request)
            return try ConversionTarget(request, sourceFloat: .bf16, output: .directory("out"))
        }
        let fp8 = try target(.fp8) { $0.fp8Granularity = .block }
        #expect((fp8.layout as? FP8Layout)?.quantizer.granularity == .block128)
        #expect(fp8.name == "fp8-block(rows: 128, columns: 128)")
        guard case .quantized(_, .llama405B, "fp8-405b") = try target(.fp8Llama405B) else {
            Issue.record("fp8-405b is not the 405B recipe"); return
        }
        let int4 = try #require(try target(.int4).layout as? PackedIntLayout)
        #expect(int4.quantizer.bits == 4 && int4.quantizer.groupSize == 128 && int4.quantizer.scaleFormat == .bf16)
        let mlx = try target(.int8) { $0.layout = .mlx }
        #expect((mlx.layout as? MLXAffineLayout)?.quantizer.groupSize == 64)
        #expect(mlx.name == "int8-g64-mlx")
    }

    @Test func verifyNamesAPackedWeightWithoutItsShape() throws {
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true), scaleFormat: .bf16)
        let values = (0..<(4 * 64)).map { Float($0 % 13) / 13 - 0.5 }
        let prefix = "model.layers.0.mlp.up_proj"
        let parts = CompressedTensorsLayout.parts(prefix: prefix, rows: 4, columns: 64, quantizer: q,
                                                  result: q.quantize(values, rowLength: 64))
            .filter { !$0.planned.name.hasSuffix("weight_shape") }
        let path = FileManager.default.temporaryDirectory.path + "/lowbit-verify-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try SafetensorsWriter(path: path, tensors: parts.map(\.planned))
        for part in parts { try writer.append(part.bytes) }
        try writer.finish()
        let (checked, problems) = try Verifier(path: path).run()
        #expect(checked == 2)
        #expect(problems.count == 1)
        #expect(problems.first?.tensor == prefix + ".weight_packed")
        #expect(problems.first?.reason.contains(prefix + ".weight_shape") == true)
    }
}
