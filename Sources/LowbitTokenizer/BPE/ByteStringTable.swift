/// An immutable hash table from byte strings to token ids, looked up without allocating.
///
/// Keys live in one contiguous buffer; lookups hash the probe bytes with FNV-1a and compare
/// bytes, so the BPE and SentencePiece loops can ask "is this byte range a token?" cheaply.
struct ByteStringTable: Sendable {
    private var storage: [UInt8] = []
    private var starts: [Int32] = [0]
    private var values: [Int32] = []
    private var slots: [Int32]
    private let mask: Int

    /// Builds the table. When a key appears twice, `keepFirst` decides which value stays
    /// (llama.cpp's map keeps the last token id with a given text).
    init(_ entries: [(key: [UInt8], value: Int32)], keepFirst: Bool = false) {
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
        for entry in entries {
            let slot = entry.key.withUnsafeBufferPointer { findSlot($0) }
            if slots[slot] >= 0 {
                if !keepFirst { values[Int(slots[slot])] = entry.value }
                continue
            }
            slots[slot] = Int32(values.count)
            storage.append(contentsOf: entry.key)
            starts.append(Int32(storage.count))
            values.append(entry.value)
        }
    }

    var count: Int { values.count }

    @inline(__always)
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The slot holding `key`, or the empty slot where it would go.
    private func findSlot(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var slot = Self.hash(key) & mask
        while true {
            let entry = slots[slot]
            if entry < 0 { return slot }
            let start = Int(starts[Int(entry)]), end = Int(starts[Int(entry) + 1])
            if end - start == key.count {
                let equal = storage.withUnsafeBufferPointer { stored in
                    key.count == 0 || memcmpEqual(stored.baseAddress! + start, key.baseAddress!, key.count)
                }
                if equal { return slot }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The id stored for `key`, if any.
    func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        let entry = slots[findSlot(key)]
        return entry >= 0 ? values[Int(entry)] : nil
    }

    func lookup(_ key: [UInt8]) -> Int32? { key.withUnsafeBufferPointer { lookup($0) } }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    for i in 0..<n where a[i] != b[i] { return false }
    return true
}
