/// A fast 64-bit hash of a byte stream, for telling whether a file Lowbit wrote is still the
/// file it wrote (resumable conversions check finished shards with it). It is not a
/// cryptographic hash: it guards against truncation and corruption, not against an adversary.
///
/// Definition: the stream is read as little-endian 64-bit words `w`; each updates the state
/// `h = rotl(h ^ (w * P2), 31) * P1` (wrapping), starting from `h = P5`. The last 0-7 bytes form
/// a final word padded with zeros, mixed in the same way, then the byte length is mixed in
/// and the result passes through xxHash64's avalanche. P1, P2, P5 are xxHash64's primes. The
/// value does not depend on how the stream is split into ``update(_:)`` calls.
public struct ContentHash: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var state: UInt64 = ContentHash.p5
    private var pending: UInt64 = 0
    private var pendingCount = 0
    /// Bytes hashed so far.
    public private(set) var length = 0

    /// A hash of no bytes yet.
    public init() {}

    @inline(__always)
    static func round(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let x = h ^ (w &* p2)
        return ((x << 31) | (x >> 33)) &* p1
    }

    /// Adds `bytes` to the stream.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        length += bytes.count
        var i = 0
        let n = bytes.count
        // Complete a word begun by an earlier call.
        while pendingCount > 0 && pendingCount < 8 && i < n {
            pending |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(pendingCount))
            pendingCount += 1
            i += 1
        }
        if pendingCount == 8 {
            state = Self.round(state, pending)
            pending = 0
            pendingCount = 0
        }
        var h = state
        while i + 8 <= n {
            h = Self.round(h, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        state = h
        while i < n {
            pending |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(pendingCount))
            pendingCount += 1
            i += 1
        }
    }

    /// Adds `bytes` to the stream.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The hash of everything added so far (the state is not changed).
    public var value: UInt64 {
        var h = state
        if pendingCount > 0 { h = Self.round(h, pending) }
        h = Self.round(h, UInt64(length))
        h ^= h >> 33
        h = h &* Self.p2
        h ^= h >> 29
        h = h &* Self.p3
        h ^= h >> 32
        return h
    }

    /// The hash as 16 lower-case hexadecimal digits.
    public var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
