/// The strip encoder both INT layouts share (``PackedIntLayout``, ``MLXAffineLayout``): packed
/// little-endian words, with the strip's scales and offsets kept for the trailing tensors.
/// Rounding (``encode(_:rowLength:quantizer:trailer:)``) and packing codes chosen elsewhere
/// (``pack(_:rowLength:quantizer:trailer:)``, GPTQ) share the packing.
enum IntGroupStrip {
    /// Rounds a strip to nearest on `q`'s grid and packs it.
    static func encode(_ values: [Float], rowLength width: Int, quantizer q: IntGroupQuantizer,
                       importance: [Float]? = nil, trailer: inout LayoutTrailer) -> EncodedStrip {
        let stripRows = values.count / width
        var packed = [UInt32](repeating: 0, count: stripRows * q.wordsPerRow(rowLength: width))
        let groups = stripRows * q.groupsPerRow(rowLength: width)
        var scales = [Float](repeating: 0, count: groups)
        var offsets = [Float](repeating: 0, count: q.hasOffsets ? groups : 0)
        let weights = importance ?? []
        values.withUnsafeBufferPointer { src in
            weights.withUnsafeBufferPointer { w in
                packed.withUnsafeMutableBufferPointer { p in
                    scales.withUnsafeMutableBufferPointer { s in
                        offsets.withUnsafeMutableBufferPointer { o in
                            q.quantize(src, rowLength: width, importance: importance == nil ? nil : w,
                                       packed: p, scales: s, offsets: q.hasOffsets ? o : nil)
                        }
                    }
                }
            }
        }
        return pack(IntGroupQuantizer.Result(packed: packed, scales: scales, offsets: q.hasOffsets ? offsets : nil),
                    rowLength: width, quantizer: q, trailer: &trailer)
    }

    /// The bytes of a strip's codes, its scales and offsets added to `trailer`.
    static func pack(_ result: IntGroupQuantizer.Result, rowLength width: Int, quantizer q: IntGroupQuantizer,
                     trailer: inout LayoutTrailer) -> EncodedStrip {
        let stripRows = result.scales.count / max(1, q.groupsPerRow(rowLength: width))
        precondition(result.packed.count == stripRows * q.wordsPerRow(rowLength: width)
                     && result.scales.count == stripRows * q.groupsPerRow(rowLength: width)
                     && (result.offsets?.count ?? 0) == (q.hasOffsets ? result.scales.count : 0),
                     "codes, scales and offsets of a strip disagree with the grid")
        let packed = result.packed, scales = result.scales, offsets = result.offsets ?? []
        trailer.scales += scales
        trailer.offsets += offsets
        return EncodedStrip(bytes: CompressedTensorsLayout.littleEndianBytes(packed)) { d in
            packed.withUnsafeBufferPointer { p in
                scales.withUnsafeBufferPointer { s in
                    offsets.withUnsafeBufferPointer { o in
                        q.dequantize(packed: p, scales: s, offsets: q.hasOffsets ? o : nil, rowLength: width, into: d)
                    }
                }
            }
        }
    }
}
