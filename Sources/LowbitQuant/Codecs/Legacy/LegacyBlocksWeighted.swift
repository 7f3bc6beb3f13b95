/// The legacy block types (Q4_0, Q5_0, Q4_1, Q5_1) quantized with an importance vector, as
/// llama.cpp's `ggml_quantize_chunk` does when it is given one (its "impl" row quantizers).
///
/// Without importance the legacy codecs follow gguf-py's round-to-nearest reference; with it,
/// every block's scale (and minimum) comes from the weighted searches the K-quants use, on
/// weights `w[j] = importance[j] * sqrt(sigma2 + x[j]^2)`, where `sigma2` is the mean square of
/// the whole row:
/// - Q4_0 / Q5_0: the symmetric search (``KQuantMath/symmetricScale(_:nmax:_:_:weights:)``, the
///   reference's `make_qx_quants`) on the grid [-centre, centre - 1];
/// - Q4_1 / Q5_1: the scale-and-minimum search (``KQuantMath/affineScale(_:nmax:_:weights:_:_:rmin:rdelta:nstep:useMad:)``,
///   the reference's `make_qkx3_quants`) on [0, 2^bits - 1], 37 candidates from offset -0.9 in
///   steps of 0.05, squared error.
/// The codes are packed exactly as the unweighted path packs them.
enum WeightedLegacyBlock {
    /// The per-element weights of the 32-element block at `x`: `qw[j] * sqrt(sigma2 + x[j]^2)`.
    @inline(__always)
    static func blockWeights(_ x: UnsafePointer<Float>, _ qw: UnsafePointer<Float>, sigma2: Float,
                             into weights: UnsafeMutablePointer<Float>) {
        for j in 0..<LegacyBlock.size { weights[j] = qw[j] * (sigma2 + x[j] * x[j]).squareRoot() }
    }

    /// The mean square of the `count` elements at `x`, summed in element order in float32.
    static func meanSquare(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var sum: Float = 0
        for j in 0..<count { sum += x[j] * x[j] }
        return sum / Float(count)
    }

    /// Packs 32 codes (each below 2^bits) into the nibbles at `qs`: byte j holds code j (low) and
    /// code j + 16 (high). Returns the fifth bits as one word (bit j = bit 4 of code j), 0 for
    /// 4-bit codes.
    @inline(__always)
    static func pack(_ codes: UnsafePointer<UInt8>, into qs: UnsafeMutableRawPointer) -> UInt32 {
        var high: UInt32 = 0
        for j in 0..<16 {
            let lo = codes[j], hi = codes[j + 16]
            qs.storeBytes(of: (lo & 0xF) | (hi & 0xF) << 4, toByteOffset: j, as: UInt8.self)
            high |= UInt32((lo >> 4) & 1) << UInt32(j) | UInt32((hi >> 4) & 1) << UInt32(j + 16)
        }
        return high
    }

    /// Quantizes one row of `count` elements (whole blocks) as Q4_0 (`bits` 4) or Q5_0 (5), with
    /// `importance[j]` for column j.
    static func quantizeSymmetric(_ source: UnsafePointer<Float>, _ importance: UnsafePointer<Float>,
                                  _ destination: UnsafeMutableRawPointer, count: Int, bits: Int) {
        let nmax = Int32(1 << (bits - 1))
        let stride = bits == 4 ? 18 : 22
        let sigma2 = meanSquare(source, count: count)
        KQuantScratch.with { s in
            for b in 0..<(count / LegacyBlock.size) {
                let x = source + 32 * b
                let block = destination + stride * b
                blockWeights(x, importance + 32 * b, sigma2: sigma2, into: s.weights)
                let d = KQuantMath.symmetricScale(32, nmax: nmax, x, s.signedLevels, weights: s.weights)
                LegacyBlock.storeHalf(d, block, at: 0)
                // The levels are stored offset by nmax, so they are the unsigned codes.
                let high = pack(s.levels, into: block + (bits == 4 ? 2 : 6))
                if bits == 5 { block.storeBytes(of: high.littleEndian, toByteOffset: 2, as: UInt32.self) }
            }
        }
    }

    /// Quantizes one row of `count` elements (whole blocks) as Q4_1 (`bits` 4) or Q5_1 (5), with
    /// `importance[j]` for column j.
    static func quantizeAffine(_ source: UnsafePointer<Float>, _ importance: UnsafePointer<Float>,
                               _ destination: UnsafeMutableRawPointer, count: Int, bits: Int) {
        let nmax = Int32((1 << bits) - 1)
        let stride = bits == 4 ? 20 : 24
        let sigma2 = meanSquare(source, count: count)
        KQuantScratch.with { s in
            for b in 0..<(count / LegacyBlock.size) {
                let x = source + 32 * b
                let block = destination + stride * b
                blockWeights(x, importance + 32 * b, sigma2: sigma2, into: s.weights)
                let (d, negatedMin) = KQuantMath.affineScale(32, nmax: nmax, x, weights: s.weights, s.levels,
                                                             s.auxLevels, rmin: -0.9, rdelta: 0.05, nstep: 36,
                                                             useMad: false)
                LegacyBlock.storeHalf(d, block, at: 0)
                LegacyBlock.storeHalf(-negatedMin, block, at: 2)
                let high = pack(s.levels, into: block + (bits == 4 ? 4 : 8))
                if bits == 5 { block.storeBytes(of: high.littleEndian, toByteOffset: 4, as: UInt32.self) }
            }
        }
    }
}
