/// A bounds-checked little-endian cursor over the bytes of a GGUF file.
///
/// Every read checks that the bytes exist and throws ``FormatError`` (`.truncated`) naming the
/// file and the item being read otherwise; lengths and counts are checked against the bytes
/// left before anything is allocated.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    /// The offset of the next byte to read.
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// Bytes between the cursor and the end of the file.
    var remaining: Int { bytes.count - position }

    /// Throws unless `count` more bytes exist.
    func require(_ count: Int, _ what: @autoclosure () -> String, item: String?) throws {
        guard count >= 0, count <= remaining else {
            throw FormatError(.truncated, file: file, item: item,
                "\(what()) needs \(count) bytes at offset \(position), but only \(remaining) remain")
        }
    }

    /// Moves the cursor past `count` bytes that ``require(_:_:item:)`` has checked exist.
    mutating func skip(_ count: Int) {
        precondition(count >= 0 && count <= remaining, "skip past the end")
        position += count
    }

    /// Reads a little-endian integer.
    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String,
                                             item: String?) throws -> T {
        try require(MemoryLayout<T>.size, what(), item: item)
        let v = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    /// Reads a 64-bit length or count and checks that `elementSize` bytes per unit still fit
    /// in the file, so the caller can allocate for it.
    mutating func readCount(elementSize: Int, _ what: String, item: String?) throws -> Int {
        let raw = try read(UInt64.self, what, item: item)
        guard raw <= UInt64(remaining / max(elementSize, 1)) else {
            throw FormatError(.truncated, file: file, item: item,
                "\(what) is \(raw), which needs at least \(Self.describeProduct(raw, elementSize)) bytes, "
                + "but only \(remaining) remain after offset \(position)")
        }
        return Int(raw)
    }

    /// Reads a GGUF string: a 64-bit byte length, then UTF-8 bytes.
    /// - Parameter strict: reject invalid UTF-8 (keys and tensor names) instead of repairing it.
    mutating func readString(_ what: String, item: String?, strict: Bool) throws -> String {
        let length = try readCount(elementSize: 1, "length of \(what)", item: item)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
        let text = String(decoding: slice, as: UTF8.self)
        if strict && !text.utf8.elementsEqual(slice) {
            throw FormatError(.badMetadata, file: file, item: item,
                "\(what) at offset \(position) is not valid UTF-8")
        }
        position += length
        return text
    }

    private static func describeProduct(_ count: UInt64, _ size: Int) -> String {
        let (p, o) = count.multipliedReportingOverflow(by: UInt64(max(size, 1)))
        return o ? "more than 2^64" : "\(p)"
    }
}
