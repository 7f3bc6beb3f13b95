/// One run of text decoded to Unicode scalars with their classes and UTF-8 offsets, which the
/// pre-tokenizer splits by scalar index and the BPE model then reads as bytes.
struct ScalarText {
    var scalars: [UInt32] = []
    var classes: [ScalarClass] = []
    /// UTF-8 offset of each scalar in the source bytes, plus one final entry for the end.
    var byteOffsets: [Int] = []

    /// Decodes well-formed UTF-8 `bytes[range]` (as produced from a Swift String).
    init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        scalars.reserveCapacity(range.count)
        classes.reserveCapacity(range.count)
        byteOffsets.reserveCapacity(range.count + 1)
        var i = range.lowerBound
        while i < range.upperBound {
            let b0 = UInt32(bytes[i])
            var value: UInt32
            var length: Int
            if b0 < 0x80 {
                value = b0; length = 1
            } else if b0 < 0xE0 {
                value = b0 & 0x1F; length = 2
            } else if b0 < 0xF0 {
                value = b0 & 0x0F; length = 3
            } else {
                value = b0 & 0x07; length = 4
            }
            length = min(length, range.upperBound - i)
            for k in 1..<max(length, 1) { value = (value << 6) | (UInt32(bytes[i + k]) & 0x3F) }
            byteOffsets.append(i)
            scalars.append(value)
            classes.append(ScalarClass.of(value))
            i += length
        }
        byteOffsets.append(range.upperBound)
    }

    var count: Int { scalars.count }
}
