import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// Mutates valid safetensors files (fixed seed) and checks that every mutant either reads or
/// throws a FormatError: never a crash, a trap or a hang.
@Suite("Safetensors fuzz")
struct SafetensorsFuzzTests {
    static let seeds = ["valid/all_dtypes.safetensors", "valid/unaligned.safetensors", "valid/odd_header.safetensors",
                        "valid/zero_sized.safetensors", "sharded/model-00001-of-00002.safetensors"]

    /// Bytes that are likely to make a JSON header interesting.
    static let alphabet = Array("{}[]\",:\\0123456789-eE.  tfnulFIUBdtypeshapedata_offsets".utf8) + [0x00, 0x80, 0xFF]

    static func mutate(_ original: [UInt8], _ g: inout LCG64) -> [UInt8] {
        var bytes = original
        for _ in 0..<(1 + g.below(3)) {
            guard !bytes.isEmpty else { break }
            let declared = bytes.count >= 8 ? bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } : 0
            let headerEnd = declared <= UInt64(bytes.count) ? min(bytes.count, 8 + Int(declared)) : bytes.count
            switch g.below(8) {
            case 0:  // flip one bit anywhere
                let i = g.below(bytes.count)
                bytes[i] ^= UInt8(1 << g.below(8))
            case 1:  // truncate
                bytes = Array(bytes[..<g.below(bytes.count)])
            case 2:  // overwrite a byte of the header length
                bytes[g.below(min(8, bytes.count))] = UInt8(truncatingIfNeeded: g.nextHigh31())
            case 3:  // set the header length to something plausible or absurd
                let choices: [UInt64] = [0, 1, 7, UInt64(bytes.count), UInt64(max(0, bytes.count - 8)),
                                         UInt64(headerEnd), UInt64(max(0, headerEnd - 9)), 100_000_000, UInt64.max, 1 << 63]
                let v = choices[g.below(choices.count)]
                if bytes.count >= 8 { withUnsafeBytes(of: v.littleEndian) { for k in 0..<8 { bytes[k] = $0[k] } } }
            case 4, 5:  // overwrite a header byte with a JSON-significant one
                if headerEnd > 8 {
                    let i = 8 + g.below(headerEnd - 8)
                    if i < bytes.count { bytes[i] = alphabet[g.below(alphabet.count)] }
                }
            case 6:  // change a digit in the header (offsets, shapes)
                let digits = (8..<max(8, min(headerEnd, bytes.count))).filter { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
                if !digits.isEmpty {
                    bytes[digits[g.below(digits.count)]] = UInt8(0x30 + g.below(10))
                }
            default:  // insert or delete a header byte (the length no longer matches)
                if headerEnd > 8 {
                    let i = 8 + g.below(headerEnd - 8)
                    if g.below(2) == 0 { bytes.insert(alphabet[g.below(alphabet.count)], at: i) } else if i < bytes.count { bytes.remove(at: i) }
                }
            }
        }
        return bytes
    }

    /// Reads every tensor of a parsed file so that bad offsets would be touched.
    static func touchAll(_ header: SafetensorsHeader, _ bytes: UnsafeRawBufferPointer) -> Int {
        var sum = 0
        for t in header.tensors {
            precondition(t.offset >= header.dataOffset && t.offset + t.byteCount <= bytes.count)
            precondition(t.elementCount >= 0)
            if t.byteCount > 0 { sum &+= Int(bytes[t.offset]) &+ Int(bytes[t.offset + t.byteCount - 1]) }
        }
        return sum
    }

    @Test func tenThousandMutantsInMemory() throws {
        var g = LCG64(seed: 0x5EED_0F_1095)
        let originals = try Self.seeds.map { try SafetensorsFixtures.bytes($0) }
        var accepted = 0, rejected = 0
        var kinds: [FormatError.Kind: Int] = [:]
        for k in 0..<12_000 {
            let mutant = Self.mutate(originals[k % originals.count], &g)
            mutant.withUnsafeBytes { raw in
                do {
                    let header = try SafetensorsHeader(prefix: raw, fileSize: raw.count, path: "mutant-\(k)")
                    _ = Self.touchAll(header, raw)
                    accepted += 1
                } catch let error as FormatError {
                    #expect(error.file == "mutant-\(k)")
                    kinds[error.kind, default: 0] += 1
                    rejected += 1
                } catch {
                    Issue.record("mutant \(k): unexpected error \(error)")
                }
            }
        }
        #expect(accepted + rejected == 12_000)
        #expect(rejected > 5_000)  // most mutants must be caught
        #expect(kinds.count >= 6)
    }

    @Test func mutantsOnDiskThroughTheMappedReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-st-fuzz-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = LCG64(seed: 20261122)
        let originals = try Self.seeds.map { try SafetensorsFixtures.bytes($0) }
        let path = dir + "/m.safetensors"
        for k in 0..<600 {
            let mutant = Self.mutate(originals[k % originals.count], &g)
            try Data(mutant).write(to: URL(fileURLWithPath: path))
            do {
                let file = try SafetensorsFile(path: path)
                for t in file.tensors { _ = try file.withBytes(of: t) { $0.count } }
            } catch let error as FormatError {
                #expect(error.file == path)
            }
        }
    }
}
