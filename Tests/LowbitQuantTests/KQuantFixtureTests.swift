import Foundation
import LowbitFormats
import Testing
@testable import LowbitQuant
import LowbitTestSupport

/// Loads the committed fixtures of `fixtures/kquants/` (made by make_kquant_fixtures.py from
/// llama.cpp's `ggml_quantize_chunk` and gguf-py's `dequantize`).
enum KQuantFixtures {
    static let directory = Fixtures.url("kquants")

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func floats(_ name: String) throws -> [Float] {
        let raw = try bytes(name)
        return raw.withUnsafeBytes { buffer in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    struct Manifest: Decodable {
        let rows: Int
        let cols: Int
        let cases: [String]
        let randomBlocks: Int
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
    }

    static let types: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs]
}

/// Quantizes `rows` (each `cols` wide) one row at a time with `codec`.
func quantizeRows(_ codec: any RowCodec, _ input: [Float], cols: Int, importance: [Float]? = nil) -> [UInt8] {
    let rows = input.count / cols
    let rowBytes = cols / codec.type.blockSize * codec.type.bytesPerBlock
    var out = [UInt8](repeating: 0xAA, count: rows * rowBytes)
    input.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBytes { dst in
            for r in 0..<rows {
                if let importance {
                    importance.withUnsafeBufferPointer { w in
                        codec.quantize(src.baseAddress! + r * cols, into: dst.baseAddress! + r * rowBytes,
                                       count: cols, importance: w.baseAddress!)
                    }
                } else {
                    codec.quantize(src.baseAddress! + r * cols, into: dst.baseAddress! + r * rowBytes,
                                   count: cols, importance: nil)
                }
            }
        }
    }
    return out
}

func dequantizeAll(_ codec: any RowCodec, _ bytes: [UInt8], count: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { dst in
            codec.dequantize(src.baseAddress!, into: dst.baseAddress!, count: count)
        }
    }
    return out
}

/// Rows (by case name) whose quantized bytes differ.
func mismatchedRows(_ got: [UInt8], _ want: [UInt8], rowBytes: Int, cases: [String]) -> [String] {
    (0..<(want.count / rowBytes)).compactMap { r in
        got[(r * rowBytes)..<((r + 1) * rowBytes)] == want[(r * rowBytes)..<((r + 1) * rowBytes)] ? nil : cases[r]
    }
}

@Suite("K-quant fixtures (llama.cpp ggml_quantize_chunk, gguf-py dequantize)")
struct KQuantFixtureTests {
    @Test("quantize without importance is byte-identical to ggml", arguments: KQuantFixtures.types)
    func quantizeMatchesGGML(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let input = try KQuantFixtures.floats("input.f32")
        let want = try KQuantFixtures.bytes("\(type.name).quant")
        let codec = try #require(kQuantCodec(for: type))
        let got = quantizeRows(codec, input, cols: m.cols)
        #expect(got.count == want.count)
        let bad = mismatchedRows(got, want, rowBytes: want.count / m.rows, cases: m.cases)
        #expect(bad.isEmpty, "\(type.name): \(bad.count)/\(m.rows) rows differ: \(bad)")
    }

    @Test("quantize with an importance vector is byte-identical to ggml", arguments: KQuantFixtures.types)
    func quantizeWithImportanceMatchesGGML(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let input = try KQuantFixtures.floats("input.f32")
        let importance = try KQuantFixtures.floats("importance.f32")
        let want = try KQuantFixtures.bytes("\(type.name).imatrix.quant")
        let codec = try #require(kQuantCodec(for: type))
        let got = quantizeRows(codec, input, cols: m.cols, importance: importance)
        let bad = mismatchedRows(got, want, rowBytes: want.count / m.rows, cases: m.cases)
        #expect(bad.isEmpty, "\(type.name): \(bad.count)/\(m.rows) rows differ: \(bad)")
    }

    @Test("dequantize equals gguf-py on quantized rows and on random blocks", arguments: KQuantFixtures.types)
    func dequantizeMatchesGGUF(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let codec = try #require(kQuantCodec(for: type))
        for (bin, f32) in [("\(type.name).quant", "\(type.name).dequant.f32"),
                           ("\(type.name).random.bin", "\(type.name).random.f32")] {
            let bytes = try KQuantFixtures.bytes(bin)
            let want = try KQuantFixtures.floats(f32)
            let got = dequantizeAll(codec, bytes, count: want.count)
            let differing = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(type.name) \(bin): \(differing)/\(want.count) values differ")
        }
        #expect(try KQuantFixtures.bytes("\(type.name).quant").count == m.rows * m.cols / type.blockSize * type.bytesPerBlock)
    }
}

@Suite("K-quant codecs: partial rows, threads, round trips")
struct KQuantCodecTests {
    /// Blocks are independent, so any whole number of blocks from the start of the fixture must give
    /// the fixture's leading bytes — this covers odd block counts and the spare lanes of the
    /// 16-wide searches (odd Q4_K/Q5_K pairs, IQ4_NL batches shorter than 16 blocks).
    @Test("any whole number of blocks matches the ggml prefix", arguments: KQuantFixtures.types)
    func prefixes(type: GGMLType) throws {
        let input = try KQuantFixtures.floats("input.f32")
        let want = try KQuantFixtures.bytes("\(type.name).quant")
        let codec = try #require(kQuantCodec(for: type))
        for blocks in [1, 3, 5, 17, 23] {
            let count = blocks * type.blockSize
            let offsetBlocks = 7  // start mid-row, too
            let start = offsetBlocks * type.blockSize
            let got = quantizeRows(codec, Array(input[start..<(start + count)]), cols: count)
            let expected = Array(want[(offsetBlocks * type.bytesPerBlock)..<((offsetBlocks + blocks) * type.bytesPerBlock)])
            #expect(got == expected, "\(type.name) with \(blocks) blocks")
        }
    }

    @Test("concurrent use over rows gives the serial result", arguments: KQuantFixtures.types)
    func threads(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let input = try KQuantFixtures.floats("input.f32")
        let want = try KQuantFixtures.bytes("\(type.name).quant")
        let codec = try #require(kQuantCodec(for: type))
        let rowBytes = want.count / m.rows
        var got = [UInt8](repeating: 0, count: want.count)
        struct Pointers: @unchecked Sendable {
            let src: UnsafePointer<Float>
            let dst: UnsafeMutableRawPointer
        }
        input.withUnsafeBufferPointer { src in
            got.withUnsafeMutableBytes { dst in
                let p = Pointers(src: src.baseAddress!, dst: dst.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: m.rows) { r in
                    codec.quantize(p.src + r * m.cols, into: p.dst + r * rowBytes, count: m.cols, importance: nil)
                }
            }
        }
        #expect(got == want)
    }

    @Test("quantize then dequantize stays within the grid's error", arguments: KQuantFixtures.types)
    func roundTrip(type: GGMLType) throws {
        let input = try KQuantFixtures.floats("input.f32")
        let codec = try #require(kQuantCodec(for: type))
        let row = Array(input[0..<512])  // normal(0, 0.02)
        let back = dequantizeAll(codec, quantizeRows(codec, row, cols: 512), count: 512)
        let mse = zip(row, back).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 512
        let power = row.map { $0 * $0 }.reduce(0, +) / 512
        let snr = 10 * log10(power / mse)
        let minimum: Float = switch type {
        case .q2_K: 8
        case .q3_K: 13
        case .q4_K, .iq4_nl, .iq4_xs: 18
        case .q5_K: 24
        default: 30
        }
        #expect(snr > minimum, "\(type.name): SNR \(snr) dB")
        let zeros = dequantizeAll(codec, quantizeRows(codec, [Float](repeating: 0, count: 256), cols: 256), count: 256)
        #expect(zeros.allSatisfy { $0 == 0 })
    }

    @Test("the registry knows exactly the K-quant and IQ4 types")
    func registry() {
        for type in GGMLType.allCases {
            let codec = kQuantCodec(for: type)
            #expect((codec != nil) == KQuantFixtures.types.contains(type), "\(type.name)")
            #expect(codec.map { $0.type == type } ?? true)
        }
    }
}
