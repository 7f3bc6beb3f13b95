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
}
