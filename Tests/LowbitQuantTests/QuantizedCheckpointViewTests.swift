import Foundation
import LowbitFormats
import LowbitQuant
import Testing

/// `QuantizedCheckpointView` rebuilds F32 weights from compressed-tensors parts, and refuses
/// parts that disagree with a clear error naming the tensor.
@Suite struct QuantizedCheckpointViewTests {
    /// Writes a safetensors file with one packed INT4 weight of `rows` x `columns` (group 32),
    /// whose `weight_shape` says `shape`.
    func write(rows: Int, columns: Int, shape: [Int64]) throws -> (path: String, values: [Float]) {
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true), scaleFormat: .f32)
        let values = (0..<(rows * columns)).map { Float(($0 * 37) % 19) / 19 - 0.5 }
        let result = q.quantize(values, rowLength: columns)
        let prefix = "model.layers.0.mlp.up_proj"
        let plan = CompressedTensorsLayout.plan(prefix: prefix, rows: rows, columns: columns, quantizer: q)
        let path = FileManager.default.temporaryDirectory.path + "/lowbit-view-\(UUID().uuidString).safetensors"
        let writer = try SafetensorsWriter(path: path, tensors: plan)
        try writer.append(CompressedTensorsLayout.littleEndianBytes(result.packed))
        try writer.append(q.scaleFormat.encode(result.scales))
        try writer.append(CompressedTensorsLayout.littleEndianBytes(shape))
        try writer.finish()
        return (path, q.dequantize(result, rowLength: columns))
    }

    @Test func packedWeightsReadAsTheirDequantizedValues() throws {
        let (path, expected) = try write(rows: 4, columns: 64, shape: [4, 64])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let view = try QuantizedCheckpointView(try ModelFile.open(path))
        #expect(view.tensors.map(\.name) == ["model.layers.0.mlp.up_proj.weight"])
        let weight = try #require(view.tensors.first)
        #expect(weight.type == .safetensors(.F32) && weight.rowMajorShape == [4, 64])
        #expect(try TensorDecoder.decode(weight, from: view) == expected)
    }

    @Test func aLyingWeightShapeIsRefusedNamingTheTensor() throws {
        let (path, _) = try write(rows: 4, columns: 64, shape: [4, 96])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try ModelFile.open(path)
        let error = try #require(throws: FormatError.self) { try QuantizedCheckpointView(source) }
        #expect(error.kind == .badShape)
        #expect(error.item == "model.layers.0.mlp.up_proj.weight_packed")
        #expect(error.file == path)
    }
}
