import Foundation
import LowbitFormats
import LowbitQuant
import Testing

/// Every multi-part layout reads back what it wrote: ``WeightLayouts`` recognises the parts,
/// recovers the layout's parameters from their shapes, and dequantizes to exactly what the
/// quantizer's own dequantization gives; parts that disagree are refused naming the part.
@Suite struct LayoutReadBackTests {
    static let rows = 6, columns = 256
    static let values = (0..<(rows * columns)).map { Float(($0 * 53) % 97) / 97 - 0.45 }
    static let prefix = "model.layers.0.mlp.up_proj"

    /// Writes `parts` to a fresh safetensors file and opens it.
    static func checkpoint(_ parts: [QuantizedTensorPart], leaving omitted: Set<String> = []) throws -> any TensorSource {
        let kept = parts.filter { !omitted.contains($0.planned.name) }
        let path = FileManager.default.temporaryDirectory.path + "/lowbit-readback-\(UUID().uuidString).safetensors"
        let writer = try SafetensorsWriter(path: path, tensors: kept.map(\.planned))
        for part in kept { try writer.append(part.bytes) }
        try writer.finish()
        let source = try ModelFile.open(path)
        try? FileManager.default.removeItem(atPath: path)  // the mapping stays readable
        return source
    }

    /// The one weight `source` stores, as ``WeightLayouts`` recognises it from its first part.
    static func weight(in source: any TensorSource, mlxBits: Int? = nil) throws -> StoredWeight {
        let checkpoint = StoredCheckpoint(source, mlxBits: mlxBits)
        let weights = try source.tensors.compactMap { try WeightLayouts.recognise($0, in: checkpoint) }.filter(\.isMultiPart)
        #expect(weights.count == 1)
        return try #require(weights.first)
    }

    @Test func packedAsymmetricInt4() throws {
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: false), scaleFormat: .bf16)
        let result = q.quantize(Self.values, rowLength: Self.columns)
        let source = try Self.checkpoint(CompressedTensorsLayout.parts(prefix: Self.prefix, rows: Self.rows, columns: Self.columns,
                                                                       quantizer: q, result: result))
        let weight = try Self.weight(in: source)
        let layout = try #require(weight.layout as? PackedIntLayout)
        #expect(layout.quantizer.bits == 4 && layout.quantizer.groupSize == 32 && layout.quantizer.hasOffsets)
        #expect(weight.name == Self.prefix + ".weight" && weight.parts.count == 4)
        #expect(try weight.dequantize(from: source) == q.dequantize(result, rowLength: Self.columns))
        #expect(weight.verify(in: source).isEmpty)
    }

    /// 128 x 128 blocks on a weight whose sides are not multiples of 128: the 2 x 3 grid could
    /// also be read as 100 x 100 blocks, which would put rows 100...127 under the wrong scale.
    @Test func fp8PerBlockWithEdgeBlocks() throws {
        let (rows, columns) = (200, 300)
        let values = (0..<(rows * columns)).map { Float(($0 * 7919) % 1009) / 1009 * Float($0 / columns + 1) }
        let q = FP8Quantizer(variant: .e4m3, granularity: .block128)
        let result = q.quantize(values, rowLength: columns)
        let source = try Self.checkpoint(CompressedTensorsLayout.parts(prefix: Self.prefix, rows: rows, columns: columns,
                                                                       quantizer: q, result: result))
        let weight = try Self.weight(in: source)
        let layout = try #require(weight.layout as? FP8Layout)
        #expect(layout.quantizer.granularity == .block128)
        #expect(try weight.dequantize(from: source) == q.dequantize(result, rowLength: columns))
    }

    @Test func mlxInt8NeedsTheConfigsBits() throws {
        let q = MLXLayout.quantizer(bits: 8, groupSize: 64, scaleFormat: .f16)
        let result = q.quantize(Self.values, rowLength: Self.columns)
        let source = try Self.checkpoint(MLXLayout.parts(prefix: Self.prefix, rows: Self.rows, columns: Self.columns,
                                                         quantizer: q, result: result))
        let weight = try Self.weight(in: source, mlxBits: 8)
        let layout = try #require(weight.layout as? MLXAffineLayout)
        #expect(layout.quantizer.bits == 8 && layout.quantizer.groupSize == 64 && weight.columns == Self.columns)
        #expect(try weight.dequantize(from: source) == q.dequantize(result, rowLength: Self.columns))
        let view = try QuantizedCheckpointView(source, mlxBits: 8)
        #expect(view.tensors.map(\.name) == [Self.prefix + ".weight"])
    }

    @Test func missingAndDisagreeingPartsAreNamed() throws {
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: false), scaleFormat: .bf16)
        let parts = CompressedTensorsLayout.parts(prefix: Self.prefix, rows: Self.rows, columns: Self.columns, quantizer: q,
                                                  result: q.quantize(Self.values, rowLength: Self.columns))
        let noShape = try Self.checkpoint(parts, leaving: [Self.prefix + ".weight_shape"])
        let missing = try #require(throws: FormatError.self) { try Self.weight(in: noShape) }
        #expect(missing.item == Self.prefix + ".weight_packed" && missing.reason.contains("weight_shape"))

        // Zero points packed for the wrong number of groups.
        var lying = parts
        lying[3] = QuantizedTensorPart(planned: PlannedTensor(name: Self.prefix + ".weight_zero_point", type: .safetensors(.I32),
                                                              shape: [1, 4]), bytes: [UInt8](repeating: 0, count: 16))
        let error = try #require(throws: FormatError.self) { try Self.weight(in: try Self.checkpoint(lying)) }
        #expect(error.item == Self.prefix + ".weight_zero_point" && error.kind == .badShape)
    }
}
