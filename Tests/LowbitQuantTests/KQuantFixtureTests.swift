import Foundation
import LowbitFormats
import Testing
@testable import LowbitQuant

/// Loads the committed fixtures of `fixtures/kquants/` (made by make_kquant_fixtures.py from
/// llama.cpp's `ggml_quantize_chunk` and gguf-py's `dequantize`).
enum KQuantFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/kquants")

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
        if let dump = ProcessInfo.processInfo.environment["KQ_DUMP"] {
            try Data(got).write(to: URL(fileURLWithPath: "\(dump)/\(type.name).got"))
        }
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
        _ = m
    }
}
