import LowbitFormats

/// MLX affine: `X.weight` (packed U32 codes), `X.scales`, `X.biases` (see ``MLXLayout``).
public struct MLXAffineLayout: WeightLayout {
    /// The quantizer (with MLX's convention) that writes codes, scales and biases.
    public let quantizer: IntGroupQuantizer

    /// The layout of `quantizer`'s weights.
    public init(_ quantizer: IntGroupQuantizer) {
        self.quantizer = quantizer
    }

    public var name: String { "MLX_INT\(quantizer.bits)_G\(quantizer.groupSize)" }
    public var isQuantized: Bool { true }
    public var configEntry: LayoutConfigEntry? { .mlx(MLXLayout.quantizationConfig(quantizer)) }

    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        MLXLayout.plan(prefix: CompressedTensorsLayout.prefix(of: name), rows: rows, columns: columns, quantizer: quantizer)
    }

    public func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        IntGroupStrip.encode(values, rowLength: rowLength, quantizer: quantizer, trailer: &trailer)
    }

    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] {
        [quantizer.scaleFormat.encode(trailer.scales), quantizer.scaleFormat.encode(trailer.offsets)]
    }
}
