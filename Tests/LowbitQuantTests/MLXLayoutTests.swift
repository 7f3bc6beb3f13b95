import LowbitFormats
@testable import LowbitQuant
import Testing

@Suite struct MLXLayoutTests {
    /// bits, group, scale format, as in make_fixtures.py (checked there against mx.quantize).
    static let cases: [(Int, Int, FloatFormat)] = [(4, 64, .bf16), (8, 32, .f32), (3, 32, .bf16), (4, 128, .f32)]

    @Test(arguments: 0..<cases.count)
    func matchesMLXReimplementation(_ index: Int) throws {
        let (bits, group, format) = Self.cases[index]
        let key = "mlx.int\(bits).g\(group).\(format == .f32 ? "f32" : "bf16")"
        let fixture = try CTQFixture()
        let x = try fixture.floats("in.a")
        let q = MLXLayout.quantizer(bits: bits, groupSize: group, scaleFormat: format)
        let result = q.quantize(x, rowLength: 384)
        #expect(result.packed == (try fixture.words(key + ".packed")), "\(key) packed")
        #expect(result.scales == (try fixture.floats(key + ".scales")), "\(key) scales")
        #expect(result.offsets == (try fixture.floats(key + ".biases")), "\(key) biases")
        if fixture.file.tensor(named: key + ".dequant") != nil {
            let expected = try fixture.floats(key + ".dequant")
            #expect(q.dequantize(result, rowLength: 384) == expected)
        }
        let parts = MLXLayout.parts(prefix: "l", rows: 70, columns: 384, quantizer: q, result: result)
        #expect(parts.map(\.planned.name) == ["l.weight", "l.scales", "l.biases"])
        #expect(parts[0].planned.type == .safetensors(.U32) && parts[0].planned.shape == [70, 384 * bits / 32])
        for part in parts { #expect(part.planned.byteCount == part.bytes.count) }
    }

    @Test func largestMagnitudeEndpointIsExact() {
        let x: [Float] = (0..<64).map { Float($0) * 0.01 - 0.2 }   // -0.2 ... 0.43
        let q = MLXLayout.quantizer(bits: 4, groupSize: 64, scaleFormat: .f32)
        let r = q.quantize(x, rowLength: 64)
        let back = q.dequantize(r, rowLength: 64)
        #expect(back[63] == x[63])          // the max has the larger magnitude
        #expect(r.scales[0] < 0)            // so the scale is negative and the bias is the max
        #expect(r.offsets == [x[63]])
        #expect(MLXLayout.quantizationConfig(q) == .object([("group_size", .integer(64)), ("bits", .integer(4))]))
    }
}
