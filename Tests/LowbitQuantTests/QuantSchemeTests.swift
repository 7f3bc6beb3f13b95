import LowbitFormats
@testable import LowbitQuant
import Testing

@Suite struct QuantSchemeTests {
    @Test func ggufInstancesMatchTheBlockSizes() throws {
        let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                 .iq4_nl, .iq4_xs, .mxfp4]
        for type in types {
            let scheme = try #require(QuantScheme.gguf(type), "\(type.name) has no scheme")
            let expected = Double(type.bytesPerBlock * 8) / Double(type.blockSize)
            #expect(scheme.bitsPerWeight == expected, "\(type.name): \(scheme.bitsPerWeight) vs \(expected)")
            #expect(scheme.groupSize == type.blockSize)
        }
        #expect(QuantScheme.gguf(.f16) == nil)
        #expect(QuantScheme.gguf(.iq2_xxs) == nil)
        #expect(QuantScheme.gguf(.q4_1)?.offset == .minimum)
        #expect(QuantScheme.gguf(.q8_0)?.rounding == .nearestAwayFromZero)
    }

    @Test func bitsPerWeightCountsScales() {
        let int4 = QuantScheme(element: .integer(bits: 4), granularity: .perGroup(128), scaleFormat: .bf16)
        #expect(int4.bitsPerWeight == 4.125)
        var asym = int4
        asym.offset = .zeroPoint
        let zpOverhead: Double = 20.0 / 128
        #expect(asym.bitsPerWeight == 4 + zpOverhead)
        let fp8Row = QuantScheme(element: .float8(.e4m3), granularity: .perRow, scaleFormat: .f32)
        let rowOverhead: Double = 32.0 / 576
        #expect(fp8Row.bitsPerWeight(rows: 10, columns: 576) == 8 + rowOverhead)
        let fp8Block = QuantScheme(element: .float8(.e4m3), granularity: .perBlock(rows: 128, columns: 128))
        let blockOverhead: Double = 6.0 * 32 / 60_000
        #expect(fp8Block.bitsPerWeight(rows: 200, columns: 300) == 8 + blockOverhead)
    }

    @Test func quantizersDescribeTheirScheme() {
        let int4 = IntGroupQuantizer(bits: 4, groupSize: 128, convention: .compressedTensors(symmetric: false))
        #expect(int4.scheme.description == "int4-g128-zp-scale-bf16")
        #expect(int4.scheme.bitsPerWeight == 4 + 20.0 / 128)
        #expect(MLXLayout.quantizer().scheme.offset == .minimum)
        #expect(FP8Quantizer(granularity: .block128).scheme.granularity == .perBlock(rows: 128, columns: 128))
    }

    @Test func parsesCommandLineSpellings() throws {
        #expect(try QuantScheme(parsing: "Q4_K") == QuantScheme.gguf(.q4_K))
        let fp8 = try QuantScheme(parsing: "fp8")
        #expect(fp8.element == .float8(.e4m3) && fp8.granularity == .perRow && fp8.scaleFormat == .f32)
        #expect(try QuantScheme(parsing: "fp8-block").granularity == .perBlock(rows: 128, columns: 128))
        #expect(try QuantScheme(parsing: "fp8-e5m2-tensor").element == .float8(.e5m2))
        let int4 = try QuantScheme(parsing: "int4")
        #expect(int4.element == .integer(bits: 4) && int4.granularity == .perGroup(128) && int4.offset == .symmetric)
        let custom = try QuantScheme(parsing: "int8-g64-asym-scale-f16-search")
        #expect(custom.granularity == .perGroup(64) && custom.offset == .zeroPoint && custom.scaleFormat == .f16)
        #expect(custom.searchesScale)
        #expect(try QuantScheme(parsing: "int4-block64x32").granularity == .perBlock(rows: 64, columns: 32))
        #expect(try QuantScheme(parsing: "int3-row").granularity == .perRow)
        #expect(throws: QuantSchemeParseError.self) { try QuantScheme(parsing: "int9") }
        #expect(throws: QuantSchemeParseError.self) { try QuantScheme(parsing: "int4-g0") }
        #expect(throws: QuantSchemeParseError.self) { try QuantScheme(parsing: "fp8-asym") }
        #expect(throws: QuantSchemeParseError.self) { try QuantScheme(parsing: "f16") }
        #expect(throws: QuantSchemeParseError.self) { try QuantScheme(parsing: "int4-scale-f99") }
        #expect(fp8.description == "fp8-e4m3-row-sym-scale-f32")
    }
}
