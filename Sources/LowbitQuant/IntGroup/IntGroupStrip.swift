/// The strip encoder both INT layouts share (``PackedIntLayout``, ``MLXAffineLayout``): packed
/// little-endian words, with the strip's scales and offsets kept for the trailing tensors.
enum IntGroupStrip {
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
        trailer.scales += scales
        trailer.offsets += offsets
        return EncodedStrip(bytes: CompressedTensorsLayout.littleEndianBytes(packed)) { [packed, scales, offsets] d in
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
