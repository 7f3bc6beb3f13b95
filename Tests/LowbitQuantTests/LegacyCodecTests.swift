import Foundation
import Testing
import LowbitFormats
@testable import LowbitQuant
import LowbitTestSupport

/// The repository's `fixtures/quant/` directory.
let legacyFixtures = Fixtures.url("quant")

/// The fixture written by `fixtures/quant/make_legacy_fixtures.py` (gguf-py is the oracle).
struct LegacyFixture {
    let rows: Int
    let cols: Int
    let input: [Float]
    /// Case name of every row.
    let caseOfRow: [String]

    init() throws {
        let manifestData = try Data(contentsOf: legacyFixtures.appendingPathComponent("legacy_manifest.json"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
        rows = try #require(manifest["rows"] as? Int)
        cols = try #require(manifest["cols"] as? Int)
        input = try Self.floats("legacy_input.f32")
        try #require(input.count == rows * cols)
        var names = [String](repeating: "?", count: rows)
        for c in try #require(manifest["cases"] as? [[String: Any]]) {
            let range = try #require(c["rows"] as? [Int])
            for r in range[0]..<range[1] { names[r] = c["name"] as? String ?? "?" }
        }
        caseOfRow = names
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: legacyFixtures.appendingPathComponent(name)))
    }

    static func floats(_ name: String) throws -> [Float] {
        try bytes(name).withUnsafeBytes { FloatFormat.f32.decode($0) }
    }
}

@Suite struct LegacyCodecTests {
    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1]

    @Test(arguments: types)
    func quantizeIsBitExactWithGGUFPy(type: GGMLType) throws {
        let fixture = try LegacyFixture()
        let expected = try LegacyFixture.bytes("legacy_\(type.name).bin")
        let codec = try #require(GGUFCodecs.codec(for: type))
        let rowBytes = fixture.cols / type.blockSize * type.bytesPerBlock
        try #require(expected.count == rowBytes * fixture.rows)
        var got = [UInt8](repeating: 0xAA, count: expected.count)
        fixture.input.withUnsafeBufferPointer { src in
            got.withUnsafeMutableBytes { dst in
                for r in 0..<fixture.rows {
                    codec.quantize(src.baseAddress! + r * fixture.cols, into: dst.baseAddress! + r * rowBytes,
                                   count: fixture.cols, importance: nil)
                }
            }
        }
        var badRows = [String]()
        for r in 0..<fixture.rows where got[(r * rowBytes)..<((r + 1) * rowBytes)] != expected[(r * rowBytes)..<((r + 1) * rowBytes)] {
            badRows.append("row \(r) (\(fixture.caseOfRow[r]))")
        }
        #expect(badRows.isEmpty, "\(type.name): \(badRows.prefix(10))")
    }

    @Test(arguments: types)
    func dequantizeIsValueExactWithGGUFPy(type: GGMLType) throws {
        let fixture = try LegacyFixture()
        let blocks = try LegacyFixture.bytes("legacy_\(type.name).bin")
        let expected = try LegacyFixture.floats("legacy_\(type.name).dequant.f32")
        let codec = try #require(GGUFCodecs.codec(for: type))
        var got = [Float](repeating: 0, count: fixture.rows * fixture.cols)
        blocks.withUnsafeBytes { src in
            got.withUnsafeMutableBufferPointer { dst in
                codec.dequantize(src.baseAddress!, into: dst.baseAddress!, count: dst.count)
            }
        }
        var bad = 0
        for (g, e) in zip(got, expected) where g.bitPattern != e.bitPattern && !(g.isNaN && e.isNaN) { bad += 1 }
        #expect(bad == 0, "\(type.name): \(bad) values differ")
    }

    @Test(arguments: types)
    func roundTripErrorIsBounded(type: GGMLType) throws {
        // Well-scaled random rows: every reconstructed value lies within half a quantization
        // step (plus the float16 rounding of the scale) of the input.
        var rng = SystemRandomNumberGenerator()
        let n = 32 * 64
        let x = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let codec = try #require(GGUFCodecs.codec(for: type))
        var bytes = [UInt8](repeating: 0, count: n / 32 * type.bytesPerBlock)
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { codec.quantize(s.baseAddress!, into: $0.baseAddress!, count: n, importance: nil) } }
        bytes.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { codec.dequantize(s.baseAddress!, into: $0.baseAddress!, count: n) } }
        for b in 0..<(n / 32) {
            let block = x[(32 * b)..<(32 * b + 32)]
            let amax = block.map(\.magnitude).max()!
            // The step between levels, how many steps a value may be off (half a step, except that
            // Q4_0/Q5_0 clip the top code, which can cost one step at the far end), and the largest
            // code, whose product with the float16 rounding of the scale (2^-11) adds to the error.
            let (step, steps, maxCode): (Float, Float, Float) = switch type {
            case .q8_0: (amax / 127, 0.5, 127)
            case .q4_0: (amax / 8, 1, 8)
            case .q5_0: (amax / 16, 1, 16)
            case .q4_1: ((block.max()! - block.min()!) / 15, 0.5, 15)
            default: ((block.max()! - block.min()!) / 31, 0.5, 31)
            }
            let halfRounding = (maxCode * step + block.min()!.magnitude) * 0x1p-11
            for j in (32 * b)..<(32 * b + 32) {
                #expect(abs(x[j] - y[j]) <= step * steps + halfRounding + 1e-6, "\(type.name) block \(b)")
            }
        }
    }

    @Test func decodesRealModelBlocksExactly() throws {
        // Q4_1 blocks as llama.cpp stored them in SmolLM2; gguf-py's dequantization of them is the
        // "smollm2-q4_1" input case of the fixture.
        let fixture = try LegacyFixture()
        let stored = try LegacyFixture.bytes("legacy_smollm2_Q4_1.bin")
        let rows = try #require(fixture.caseOfRow.firstIndex(of: "smollm2-q4_1"))
        let count = stored.count / GGMLType.q4_1.bytesPerBlock * 32
        var got = [Float](repeating: 0, count: count)
        try stored.withUnsafeBytes { src in
            try got.withUnsafeMutableBufferPointer { dst in
                try TensorDecoder.decode(src, as: .ggml(.q4_1), into: dst)
            }
        }
        let expected = fixture.input[(rows * fixture.cols)..<(rows * fixture.cols + count)]
        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// The worked examples of formats/quantized-blocks.md, byte for byte.
    @Test func documentedExamplesHold() throws {
        let x: [Float] = [0.12, -0.50, 0.33, 0.07, -0.21, 0.44, -0.05, 0.18,
                          0.00, 0.26, -0.37, 0.09, 0.15, -0.12, 0.61, -0.29,
                          0.03, -0.08, 0.22, -0.44, 0.31, 0.05, -0.16, 0.40,
                          -0.03, 0.11, -0.25, 0.19, 0.36, -0.09, 0.02, 0.27]
        let documented: [(GGMLType, String)] = [
            (.q8_0, "eb1c19984 50fd45cf62500 36b3131fe77fc406ef2ea4410adf53fa17cc284bed0438"),
            (.q4_0, "e1ac869f54e74b72a9368875bd67369a804c"),
            (.q4_1, "bc2c00b87860ab18b47d56c9678a3298c9657fa3"),
            (.q5_0, "e1a852a54a25fd2da7ce86f4416b10d97abe7c23f098"),
            (.q5_1, "952800b8ad5a949af1c0472078fa9d93de1574308 2bbff66"),
        ]
        for (type, hex) in documented {
            let bytes = try TensorEncoder.quantize(x, rowLength: 32, as: type)
            let got = bytes.map { String(format: "%02x", $0) }.joined()
            #expect(got == hex.replacingOccurrences(of: " ", with: ""), "\(type.name)")
        }
        #expect(FP8.e4m3(0.3) == 0x2A && FP8.e5m2(0.3) == 0x35 && FP8.e8m0(0.3) == 0x7D)
        #expect(FP8.e4m3(500) == 0x7F && FP8.e5m2(500) == 0x60 && FP8.e8m0(3.14159) == 0x81)
        #expect(BFloat16Bits.fromFloat(0.3) == 0x3E9A && Float16(Float(0.3)).bitPattern == 0x34CD)
    }

    /// The vectorised block searches agree with plain sequential scans, ties and zeros included.
    @Test func blockSearchesMatchSequentialScans() {
        var generator = LCG64(seed: 42)
        func next() -> UInt64 { generator.next() >> 33 }
        let palette: [Float] = [0, -0.0, 1, -1, 2, -2, 0.5, -0.5, 3e-39, -3e-39]
        for _ in 0..<20_000 {
            let x = (0..<32).map { _ in next() % 4 == 0 ? Float(Int(next() % 2001) - 1000) / 250 : palette[Int(next() % 10)] }
            var firstMax = 0, mn = x[0], mx = x[0]
            for j in 1..<32 {
                if x[j].magnitude > x[firstMax].magnitude { firstMax = j }
                if x[j] < mn { mn = x[j] }
                if x[j] > mx { mx = x[j] }
            }
            x.withUnsafeBufferPointer { p in
                let got = LegacyBlock.signedAbsMax(p.baseAddress!)
                #expect(got.bitPattern == x[firstMax].bitPattern, "\(x)")
                let range = LegacyBlock.minMax(p.baseAddress!)
                #expect(range.min.bitPattern == mn.bitPattern && range.max.bitPattern == mx.bitPattern, "\(x)")
            }
        }
    }
}

/// A million values per type against gguf-py, through hashes (`legacy_random_hashes.json`).
@Suite struct LegacyRandomHashTests {
    /// The generator of `random_rows()` in make_legacy_fixtures.py; every step is exact in Float.
    static func randomRows(rows: Int, cols: Int, seed: UInt64) -> [Float] {
        (0..<(rows * cols)).map { i in
            let z = SplitMix64.value(at: UInt64(i), seed: seed)
            let u = Float(z >> 40) / Float(1 << 24)
            let row = i / cols
            var x = (u - 0.5) * Float(sign: .plus, exponent: row % 31 - 20, significand: 1)
            if i % 7 == 0 { x *= 37 }
            if row % 5 == 0 { x = BFloat16Bits.toFloat(BFloat16Bits.fromFloat(x)) }
            return x
        }
    }

    static func fnv1a64<T>(_ values: [T]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        values.withUnsafeBytes { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 } }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    @Test func millionValuesPerTypeMatchGGUFPy() throws {
        let data = try Data(contentsOf: legacyFixtures.appendingPathComponent("legacy_random_hashes.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let rows = try #require(doc["rows"] as? Int), cols = try #require(doc["cols"] as? Int)
        let seed = try #require(doc["seed"] as? Int)
        let types = try #require(doc["types"] as? [String: [String: String]])
        let x = Self.randomRows(rows: rows, cols: cols, seed: UInt64(seed))
        #expect(Self.fnv1a64(x) == doc["input"] as? String, "the generator differs from the Python one")
        for name in ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"] {
            let type = try #require(GGMLType(name: name))
            let expected = try #require(types[name])
            let bytes = try TensorEncoder.quantize(x, rowLength: cols, as: type)
            #expect(Self.fnv1a64(bytes) == expected["quantized"], "\(name) quantized bytes")
            var y = [Float](repeating: 0, count: x.count)
            try bytes.withUnsafeBytes { b in
                try y.withUnsafeMutableBufferPointer { try TensorDecoder.decode(b, as: .ggml(type), into: $0) }
            }
            #expect(Self.fnv1a64(y) == expected["dequantized"], "\(name) dequantized values")
        }
    }
}
