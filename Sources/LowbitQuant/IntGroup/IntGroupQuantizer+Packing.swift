/// Dense little-endian bit packing of unsigned codes into 32-bit words, as both
/// compressed-tensors (`pack_to_int32`) and MLX (`mx.quantize`) store them: code `i` of a row
/// occupies bits `i*bits ..< (i+1)*bits` of the row's bit stream, bit 0 being the least
/// significant bit of word 0; a code may straddle two words (3, 5, 6, 7 bits). A row's stream is
/// padded with zero bits to whole words.
package enum BitPacking {
    /// Words needed for `count` codes of `bits` bits: `ceil(count * bits / 32)`.
    @inlinable
    package static func wordCount(codes count: Int, bits: Int) -> Int {
        (count * bits + 31) / 32
    }

    /// Packs `count` codes (each `< 1 << bits`) into `words`, which must hold
    /// ``wordCount(codes:bits:)`` words; every word is overwritten.
    @inlinable
    package static func pack(_ codes: UnsafePointer<UInt8>, count: Int, bits: Int,
                            into words: UnsafeMutablePointer<UInt32>) {
        precondition((1...8).contains(bits), "bits must be 1...8")
        switch bits {
        case 4:
            let full = count / 8
            for w in 0..<full {
                let c = codes + 8 * w
                var word: UInt32 = 0
                for k in 0..<8 { word |= UInt32(c[k]) << UInt32(4 * k) }
                words[w] = word
            }
            packTail(codes + 8 * full, count: count - 8 * full, bits: 4, into: words + full)
        case 8:
            let full = count / 4
            for w in 0..<full {
                let c = codes + 4 * w
                words[w] = UInt32(c[0]) | UInt32(c[1]) << 8 | UInt32(c[2]) << 16 | UInt32(c[3]) << 24
            }
            packTail(codes + 4 * full, count: count - 4 * full, bits: 8, into: words + full)
        default:
            packTail(codes, count: count, bits: bits, into: words)
        }
    }

    /// The general bit-stream packer (any width, any count).
    @usableFromInline
    static func packTail(_ codes: UnsafePointer<UInt8>, count: Int, bits: Int,
                         into words: UnsafeMutablePointer<UInt32>) {
        let total = wordCount(codes: count, bits: bits)
        guard total > 0 else { return }
        var accumulator: UInt64 = 0
        var filled = 0
        var out = 0
        for i in 0..<count {
            accumulator |= UInt64(codes[i]) << UInt64(filled)
            filled += bits
            if filled >= 32 {
                words[out] = UInt32(truncatingIfNeeded: accumulator)
                out += 1
                accumulator >>= 32
                filled -= 32
            }
        }
        if out < total { words[out] = UInt32(truncatingIfNeeded: accumulator) }
    }

    /// Unpacks `count` codes of `bits` bits from `words` (the inverse of ``pack``).
    @inlinable
    package static func unpack(_ words: UnsafePointer<UInt32>, count: Int, bits: Int,
                              into codes: UnsafeMutablePointer<UInt8>) {
        precondition((1...8).contains(bits), "bits must be 1...8")
        if bits == 4 {
            let full = count / 8
            for w in 0..<full {
                let word = words[w]
                for k in 0..<8 { codes[8 * w + k] = UInt8(truncatingIfNeeded: (word >> UInt32(4 * k)) & 0xF) }
            }
            unpackGeneral(words + full, count: count - 8 * full, bits: 4, into: codes + 8 * full)
        } else {
            unpackGeneral(words, count: count, bits: bits, into: codes)
        }
    }

    @usableFromInline
    static func unpackGeneral(_ words: UnsafePointer<UInt32>, count: Int, bits: Int,
                              into codes: UnsafeMutablePointer<UInt8>) {
        let mask = UInt64(1) << UInt64(bits) - 1
        var accumulator: UInt64 = 0
        var available = 0
        var next = 0
        for i in 0..<count {
            if available < bits {
                accumulator |= UInt64(words[next]) << UInt64(available)
                next += 1
                available += 32
            }
            codes[i] = UInt8(truncatingIfNeeded: accumulator & mask)
            accumulator >>= UInt64(bits)
            available -= bits
        }
    }

    /// Packs a `rows x columns` matrix of codes along its columns (dim 0 of the transposed
    /// view): word `(w, c)` of the `[wordCount(rows), columns]` result holds the codes of rows
    /// `w*32/bits ...` in column `c`. compressed-tensors packs asymmetric zero points this way
    /// (`pack_to_int32(..., packed_dim=0)`).
    package static func packColumns(_ codes: [UInt8], rows: Int, columns: Int, bits: Int) -> [UInt32] {
        precondition(codes.count == rows * columns, "code count does not match \(rows)x\(columns)")
        let perColumn = wordCount(codes: rows, bits: bits)
        var result = [UInt32](repeating: 0, count: perColumn * columns)
        var column = [UInt8](repeating: 0, count: rows)
        var packed = [UInt32](repeating: 0, count: perColumn)
        for c in 0..<columns {
            for r in 0..<rows { column[r] = codes[r * columns + c] }
            column.withUnsafeBufferPointer { src in
                packed.withUnsafeMutableBufferPointer { dst in
                    pack(src.baseAddress!, count: rows, bits: bits, into: dst.baseAddress!)
                }
            }
            for w in 0..<perColumn { result[w * columns + c] = packed[w] }
        }
        return result
    }

    /// The inverse of ``packColumns(_:rows:columns:bits:)``.
    package static func unpackColumns(_ words: [UInt32], rows: Int, columns: Int, bits: Int) -> [UInt8] {
        let perColumn = wordCount(codes: rows, bits: bits)
        precondition(words.count == perColumn * columns, "word count does not match \(rows)x\(columns)")
        var result = [UInt8](repeating: 0, count: rows * columns)
        var packed = [UInt32](repeating: 0, count: perColumn)
        var column = [UInt8](repeating: 0, count: rows)
        for c in 0..<columns {
            for w in 0..<perColumn { packed[w] = words[w * columns + c] }
            packed.withUnsafeBufferPointer { src in
                column.withUnsafeMutableBufferPointer { dst in
                    unpack(src.baseAddress!, count: rows, bits: bits, into: dst.baseAddress!)
                }
            }
            for r in 0..<rows { result[r * columns + c] = column[r] }
        }
        return result
    }
}
