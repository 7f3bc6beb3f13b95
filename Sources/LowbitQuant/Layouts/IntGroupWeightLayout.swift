/// A layout that stores a weight as ``IntGroupQuantizer`` codes, scales and offsets
/// (``PackedIntLayout``, ``MLXAffineLayout``): besides rounding a strip itself
/// (``WeightLayout/encode(_:rowLength:tensorAbsmax:importance:name:trailer:)``), it packs codes
/// that a calibrated method (GPTQ) chose, with the same packing.
public protocol IntGroupWeightLayout: WeightLayout {
    /// The grid the layout stores (bits, group size, convention, scale format).
    var quantizer: IntGroupQuantizer { get }
}

extension IntGroupWeightLayout {
    /// Packs a strip of whole rows that were quantized elsewhere on ``quantizer``'s grid
    /// (`result` holds the strip's rows only) into the bytes of the first planned tensor,
    /// adding its scales and offsets to `trailer`, exactly as a rounded strip is packed.
    public func encode(precomputed result: IntGroupQuantizer.Result, rowLength: Int,
                       trailer: inout LayoutTrailer) -> EncodedStrip {
        IntGroupStrip.pack(result, rowLength: rowLength, quantizer: quantizer, trailer: &trailer)
    }
}

extension PackedIntLayout: IntGroupWeightLayout {}
extension MLXAffineLayout: IntGroupWeightLayout {}
