import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

@Suite struct GGUFFuzzTests {
    /// Values that break lengths, counts, dimensions, types and offsets.
    static let nastyWords: [UInt64] = [
        0, 1, 2, 3, 4, 5, 9, 12, 13, 31, 32, 33, 255, 256, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        1 << 32, 1 << 40, 1 << 62, 1 << 63, UInt64(Int64.max), UInt64.max, UInt64.max - 7,
    ]

    /// Applies 1-4 random mutations, mostly in the header and metadata where the parser lives.
    static func mutate(_ original: [UInt8], headerEnd: Int, rng: inout SplitMix64) -> [UInt8] {
        var bytes = original
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { break }
            let inHeader = Int.random(in: 0..<10, using: &rng) < 9
            let limit = inHeader ? min(max(headerEnd, 1), bytes.count) : bytes.count
            let at = Int.random(in: 0..<limit, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 2, 3:
                let word = nastyWords.randomElement(using: &rng)!
                let width = Bool.random(using: &rng) ? 8 : 4
                for i in 0..<width where at + i < bytes.count {
                    bytes[at + i] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(i)))
                }
            case 4: bytes.removeSubrange(at...)
            case 5:
                let n = Int.random(in: 1...16, using: &rng)
                bytes.insert(contentsOf: (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            default:
                let n = min(Int.random(in: 1...64, using: &rng), bytes.count - at)
                bytes.removeSubrange(at..<(at + n))
            }
        }
        return bytes
    }

    /// 10,000 mutated files: each is either read whole (every tensor's bytes touched) or refused
    /// with a FormatError naming the file. Any trap fails the run.
    @Test func tenThousandMutatedFilesNeverCrash() throws {
        let paths = GGUFFixtures.validNames.map(GGUFFixtures.validPath) + [GGUFInteropTests.committed]
        let bases = try paths.map { path in
            return (bytes: try Array(Data(contentsOf: URL(fileURLWithPath: path))),
                    headerEnd: try GGUFFile(path: path).dataOffset)
        }
        try #require(!bases.isEmpty)
        let dir = try GGUFScratchDirectory("fuzz")
        let path = dir.file("mutant.gguf")
        var rng = SplitMix64(seed: 20_261_122)  // fixed, so every run mutates the same way
        var accepted = 0
        var kinds: [FormatError.Kind: Int] = [:]
        for _ in 0..<10_000 {
            let base = bases[Int.random(in: 0..<bases.count, using: &rng)]
            let mutant = Self.mutate(base.bytes, headerEnd: base.headerEnd, rng: &rng)
            try GGUFScratchDirectory.overwrite(path, with: mutant)
            do {
                let file = try GGUFFile(path: path)
                var sum = 0
                for t in file.tensors {
                    sum &+= try file.withBytes(of: t) { $0.isEmpty ? 0 : Int($0.first!) &+ Int($0.last!) }
                    #expect(t.offset % file.alignment == 0 && t.offset + t.byteCount <= mutant.count)
                }
                _ = file.metadata.count + sum
                accepted += 1
            } catch let e as FormatError {
                #expect(e.file == path)
                kinds[e.kind, default: 0] += 1
            }
        }
        print("GGUF fuzz: \(accepted) accepted, refused by kind: \(kinds.sorted { $0.value > $1.value })")
        // Both outcomes occur often, so the mutations reach deep into the parser.
        #expect(accepted > 500)
        #expect(kinds.values.reduce(0, +) > 3000)
        #expect(kinds.count >= 8, "error kinds seen: \(kinds)")
    }
}
