import LowbitQuant

/// The weight quantization an AWQ search scores its candidates with: the round trip
/// (quantize, then dequantize) of the conversion's own encoding of each tensor.
public protocol AWQFakeQuantizer: Sendable {
    /// The group whose maximum normalises |W| in w̄ (``AWQScaleSearch/weightMeans(_:rowLength:groupSize:)``)
    /// for the tensor `tensor` (source name) with rows of `rowLength`.
    func groupSize(tensor: String, rowLength: Int) -> Int
    /// `values` (whole rows of `rowLength`) as the conversion would store and read them back.
    func roundTrip(tensor: String, values: [Float], rowLength: Int) throws -> [Float]
}

/// The fake quantization of a conversion's planned layouts, by source tensor name: the layout a
/// tensor is encoded with, encoded and dequantized (so the grid is exactly the output's:
/// compressed-tensors or MLX INT groups, GGUF blocks, or a float cast). Tensors without a layout
/// (copies) round-trip unchanged.
///
/// Groups for w̄: an INT layout's group size; 32 for GGUF quantized blocks (the sub-block of the
/// K-quants, the block of the legacy types); the whole row otherwise.
public struct AWQLayoutQuantizer: AWQFakeQuantizer {
    /// The layout of each source tensor that is encoded.
    public let layouts: [String: any WeightLayout]

    /// A quantizer over `layouts` (source name → layout).
    public init(layouts: [String: any WeightLayout]) { self.layouts = layouts }

    /// See ``AWQFakeQuantizer/groupSize(tensor:rowLength:)``.
    public func groupSize(tensor: String, rowLength: Int) -> Int {
        switch layouts[tensor] {
        case let l as PackedIntLayout: l.quantizer.groupSize
        case let l as MLXAffineLayout: l.quantizer.groupSize
        case let l as GGUFBlockLayout where l.isQuantized: min(32, rowLength)
        default: rowLength
        }
    }

    /// See ``AWQFakeQuantizer/roundTrip(tensor:values:rowLength:)``.
    public func roundTrip(tensor: String, values: [Float], rowLength: Int) throws -> [Float] {
        guard let layout = layouts[tensor] else { return values }
        var absmax: Float?
        if layout.needsTensorAbsmax { absmax = values.reduce(0) { max($0, abs($1)) } }
        var trailer = LayoutTrailer()
        let strip = try layout.encode(values, rowLength: rowLength, tensorAbsmax: absmax, importance: nil,
                                      name: tensor, trailer: &trailer)
        var out = [Float](repeating: 0, count: values.count)
        try out.withUnsafeMutableBufferPointer { try strip.dequantize($0) }
        return out
    }
}
