import Testing
import LowbitFormats

@Suite struct ContentHashTests {
    /// The definition in ContentHash's documentation, written out byte by byte as a second,
    /// independent implementation.
    static func reference(_ bytes: [UInt8]) -> UInt64 {
        let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        let p3: UInt64 = 0x1656_67B1_9E37_79F9, p5: UInt64 = 0x27D4_EB2F_1656_67C5
        func round(_ h: UInt64, _ w: UInt64) -> UInt64 {
            let x = h ^ (w &* p2)
            return (x << 31 | x >> 33) &* p1
        }
        var h = p5
        var i = 0
        while i < bytes.count {
            var w: UInt64 = 0
            for k in 0..<8 where i + k < bytes.count { w |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            h = round(h, w)
            i += 8
        }
        h = round(h, UInt64(bytes.count))
        h ^= h >> 33; h = h &* p2; h ^= h >> 29; h = h &* p3; h ^= h >> 32
        return h
    }

    @Test func matchesTheDefinitionForEveryLengthAndSplit() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var whole = ContentHash()
            whole.update(bytes)
            #expect(whole.value == Self.reference(bytes), "length \(length)")
            #expect(whole.length == length)
            for _ in 0..<20 {
                var pieces = ContentHash()
                var start = 0
                while start < length {
                    let end = min(length, start + Int.random(in: 0...13, using: &generator))
                    pieces.update(Array(bytes[start..<end]))
                    start = end
                }
                #expect(pieces.value == whole.value, "split stream of length \(length)")
            }
        }
    }

    @Test func tellsApartWhatMatters() {
        func hash(_ b: [UInt8]) -> UInt64 { var h = ContentHash(); h.update(b); return h.value }
        let base = [UInt8](repeating: 7, count: 64)
        var flipped = base
        flipped[40] ^= 1
        #expect(hash(base) != hash(flipped))
        #expect(hash([1, 2, 3]) != hash([1, 2, 3, 0]), "zero padding must not collide with a shorter stream")
        #expect(hash([]) != hash([0]))
        var h = ContentHash()
        h.update([1, 2, 3])
        #expect(h.hex.count == 16 && h.hex == String(repeating: "0", count: 16 - String(h.value, radix: 16).count) + String(h.value, radix: 16))
    }
}
