import LowbitFormats

/// compressed-tensors `pack-quantized`: `X.weight_packed`, `X.weight_scale`, `X.weight_shape`
/// and, for asymmetric quantizers, `X.weight_zero_point` (see ``CompressedTensorsLayout``).
public struct PackedIntLayout: WeightLayout {
    /// The quantizer (with the compressed-tensors convention) that writes codes and scales.
    public let quantizer: IntGroupQuantizer

    /// The layout of `quantizer`'s weights.
    public init(_ quantizer: IntGroupQuantizer) {
        self.quantizer = quantizer
    }

    public var name: String { "INT\(quantizer.bits)_G\(quantizer.groupSize)" }
    public var isQuantized: Bool { true }

    public var configEntry: LayoutConfigEntry? {
        .compressedTensors(weights: CompressedTensorsLayout.weightsArguments(quantizer),
                           format: CompressedTensorsLayout.packedFormat)
    }

    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        CompressedTensorsLayout.plan(prefix: CompressedTensorsLayout.prefix(of: name), rows: rows, columns: columns,
                                     quantizer: quantizer)
    }

    public func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        IntGroupStrip.encode(values, rowLength: rowLength, quantizer: quantizer, trailer: &trailer)
    }

    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] {
        let q = quantizer
        var parts = [q.scaleFormat.encode(trailer.scales), CompressedTensorsLayout.shapeBytes(rows: rows, columns: columns)]
        if q.hasOffsets {
            let words = CompressedTensorsLayout.packZeroPoints(trailer.offsets, rows: rows,
                                                               groups: q.groupsPerRow(rowLength: columns), bits: q.bits)
            parts.append(CompressedTensorsLayout.littleEndianBytes(words))
        }
        return parts
    }
}
