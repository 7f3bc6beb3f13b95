import LowbitFormats
@testable import LowbitQuant
import Testing

@Suite struct CompressedTensorsTests {
    /// bits, group, symmetric, arithmetic (= scale format), as in make_fixtures.py.
    static let cases: [(Int, Int, Bool, FloatFormat)] = [
        (4, 128, true, .bf16), (8, 32, true, .f32), (4, 64, false, .bf16),
        (3, 32, true, .f32), (8, 128, false, .bf16), (4, 32, false, .f32),
    ]

    static func key(_ c: (Int, Int, Bool, FloatFormat)) -> String {
        "ct.int\(c.0).g\(c.1).\(c.2 ? "sym" : "asym").\(c.3 == .f32 ? "f32" : "bf16")"
    }

    static func quantizer(_ c: (Int, Int, Bool, FloatFormat), threads: Int = 2) -> IntGroupQuantizer {
        IntGroupQuantizer(bits: c.0, groupSize: c.1, convention: .compressedTensors(symmetric: c.2),
                          scaleFormat: c.3, arithmetic: c.3, threads: threads)
    }

    @Test(arguments: 0..<cases.count)
    func matchesNumpyReimplementation(_ index: Int) throws {
        let c = Self.cases[index]
        let key = Self.key(c)
        let fixture = try CTQFixture()
        let x = try fixture.floats("in.a")
        let (rows, cols) = (70, 384)
        for threads in [1, 2] {
            let q = Self.quantizer(c, threads: threads)
            let result = q.quantize(x, rowLength: cols)
            #expect(result.packed == (try fixture.words(key + ".packed")), "\(key) packed words")
            #expect(result.scales == (try fixture.floats(key + ".scales")), "\(key) scales")
            if !c.2 {
                #expect(result.offsets == (try fixture.floats(key + ".zero_points")), "\(key) zero points")
                let parts = CompressedTensorsLayout.parts(prefix: "m", rows: rows, columns: cols, quantizer: q, result: result)
                let zp = try #require(parts.first { $0.planned.name == "m.weight_zero_point" })
                #expect(zp.bytes == (try fixture.bytes(key + ".zero_point_packed")))
                #expect(zp.planned.shape == (try fixture.shape(key + ".zero_point_packed")))
                #expect(CompressedTensorsLayout.unpackZeroPoints(try fixture.words(key + ".zero_point_packed"),
                                                                 rows: rows, groups: cols / c.1, bits: c.0) == result.offsets)
            }
            if fixture.file.tensor(named: key + ".dequant") != nil {
                let expected = try fixture.floats(key + ".dequant")
                #expect(q.dequantize(result, rowLength: cols) == expected)
            }
        }
    }

    @Test func partsHaveCompressedTensorsNamesShapesAndDtypes() throws {
        let fixture = try CTQFixture()
        let x = try fixture.floats("in.a")
        let q = IntGroupQuantizer(bits: 4, groupSize: 128, convention: .compressedTensors(symmetric: true),
                                  scaleFormat: .bf16, arithmetic: .bf16)
        let result = q.quantize(x, rowLength: 384)
        let parts = CompressedTensorsLayout.parts(prefix: "model.layers.0.mlp.up_proj", rows: 70, columns: 384,
                                                  quantizer: q, result: result)
        #expect(parts.map(\.planned.name) == ["model.layers.0.mlp.up_proj.weight_packed",
                                              "model.layers.0.mlp.up_proj.weight_scale",
                                              "model.layers.0.mlp.up_proj.weight_shape"])
        #expect(parts[0].planned.type == .safetensors(.I32) && parts[0].planned.shape == [70, 48])
        #expect(parts[1].planned.type == .safetensors(.BF16) && parts[1].planned.shape == [70, 3])
        #expect(parts[2].planned.type == .safetensors(.I64) && parts[2].bytes == [70, 0, 0, 0, 0, 0, 0, 0, 128, 1, 0, 0, 0, 0, 0, 0])
        for part in parts { #expect(part.planned.byteCount == part.bytes.count) }
        // weight_packed bytes are the words little-endian; element 0 in the low nibble.
        #expect(parts[0].bytes[0] & 0xF == UInt8(result.packed[0] & 0xF))
        let fp8 = FP8Quantizer(granularity: .block128, scaleFormat: .bf16)
        let fp8Parts = CompressedTensorsLayout.parts(prefix: "p", rows: 70, columns: 384, quantizer: fp8,
                                                     result: fp8.quantize(x, rowLength: 384))
        #expect(fp8Parts.map(\.planned.name) == ["p.weight", "p.weight_scale"])
        #expect(fp8Parts[0].planned.type == .safetensors(.F8_E4M3) && fp8Parts[1].planned.shape == [1, 3])
        for part in fp8Parts { #expect(part.planned.byteCount == part.bytes.count) }
    }

    @Test func int4UsesSevenAndAHalfAsTheSymmetricDivisor() {
        // absmax 7.5 -> scale 1: 7.5 rounds (half to even) to 8, clamped to qmax 7; -7.5 -> -8.
        let x: [Float] = [7.5, -7.5, 2.5, 3.5, -2.5, 0.49, 0, 1] + [Float](repeating: 0, count: 24)
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true),
                                  scaleFormat: .f32, threads: 1)
        let r = q.quantize(x, rowLength: 32)
        #expect(r.scales == [1])
        let back = q.dequantize(r, rowLength: 32)
        #expect(Array(back[0..<8]) == [7, -8, 2, 4, -2, 0, 0, 1])
        // Stored codes are q + 8, element i at bits 4i of the word.
        #expect(r.packed[0] == 0x9886_CA0F)
    }

    @Test func allZeroGroupsGiveEpsilonScaleAndZeros() {
        let x = [Float](repeating: 0, count: 64) + (0..<64).map { Float($0) / 10 - 3 }
        for symmetric in [true, false] {
            let q = IntGroupQuantizer(bits: 4, groupSize: 64, convention: .compressedTensors(symmetric: symmetric),
                                      scaleFormat: .bf16, arithmetic: .bf16)
            let r = q.quantize(x, rowLength: 128)
            #expect(r.scales[0] == 0x1p-7)
            #expect(r.offsets?[0] ?? 0 == 0)
            #expect(q.dequantize(r, rowLength: 128)[0..<64].allSatisfy { $0 == 0 })
        }
    }

    @Test func packingRoundTripsEveryWidth() {
        for bits in 1...8 {
            for count in [1, 7, 32, 33, 100] {
                let codes = (0..<count).map { UInt8(($0 * 37 + 11) % (1 << bits)) }
                var words = [UInt32](repeating: 0xFFFF_FFFF, count: BitPacking.wordCount(codes: count, bits: bits))
                var back = [UInt8](repeating: 0, count: count)
                codes.withUnsafeBufferPointer { c in
                    words.withUnsafeMutableBufferPointer { BitPacking.pack(c.baseAddress!, count: count, bits: bits, into: $0.baseAddress!) }
                }
                words.withUnsafeBufferPointer { w in
                    back.withUnsafeMutableBufferPointer { BitPacking.unpack(w.baseAddress!, count: count, bits: bits, into: $0.baseAddress!) }
                }
                #expect(back == codes, "\(bits) bits, \(count) codes")
                // Padding bits past the last code are zero.
                let used = count * bits % 32
                if used != 0 { #expect(words.last! >> UInt32(used) == 0) }
            }
        }
    }

    @Test func configNamesTheScheme() {
        let q = IntGroupQuantizer(bits: 4, groupSize: 128, convention: .compressedTensors(symmetric: true))
        let config = CompressedTensorsLayout.quantizationConfig(
            weights: CompressedTensorsLayout.weightsArguments(q), format: CompressedTensorsLayout.packedFormat)
        #expect(config["quant_method"]?.stringValue == "compressed-tensors")
        #expect(config["format"]?.stringValue == "pack-quantized")
        #expect(config["config_groups"]?["group_0"]?["weights"]?["num_bits"] == .integer(4))
        #expect(config["config_groups"]?["group_0"]?["weights"]?["strategy"]?.stringValue == "group")
        let fp8 = CompressedTensorsLayout.weightsArguments(FP8Quantizer(granularity: .block128))
        #expect(fp8["block_structure"] == .array([.integer(128), .integer(128)]))
    }
}
