import LowbitFormats
@testable import LowbitQuant
import Testing

@Suite struct FP8QuantizerTests {
    /// Every fixture case: variant, granularity, scale format = arithmetic, input.
    static let cases: [(FP8Variant, String, FloatFormat, String)] = [
        (.e4m3, "row", .f32, "a"), (.e5m2, "row", .f32, "a"), (.e4m3, "tensor", .f32, "a"),
        (.e4m3, "block", .f32, "b"), (.e4m3, "row", .bf16, "a"), (.e4m3, "block", .bf16, "b"),
        (.e5m2, "tensor", .bf16, "b"),
    ]

    static func granularity(_ name: String) -> FP8Quantizer.Granularity {
        switch name {
        case "tensor": .tensor
        case "row": .row
        default: .block128
        }
    }

    @Test(arguments: 0..<cases.count)
    func matchesNumpyOracle(_ index: Int) throws {
        let (variant, gran, format, input) = Self.cases[index]
        let fixture = try CTQFixture()
        let x = try fixture.floats("in.\(input)")
        let shape = try fixture.shape("in.\(input)")
        let key = "fp8.\(variant.rawValue).\(gran).\(format == .f32 ? "f32" : "bf16").\(input)"
        for threads in [1, 2] {
            let q = FP8Quantizer(variant: variant, granularity: Self.granularity(gran), scaleFormat: format,
                                 arithmetic: format, threads: threads)
            let result = q.quantize(x, rowLength: shape[1])
            #expect(result.codes == (try fixture.bytes(key + ".codes")), "\(key) codes, \(threads) threads")
            #expect(result.scales == (try fixture.floats(key + ".scales")), "\(key) scales")
            #expect(q.scaleShape(rows: shape[0], columns: shape[1]).reduce(1, *) == result.scales.count)
        }
    }

    @Test func clampsInsteadOfOverflowing() {
        // Scale 1 (absmax 448 / 57344) but values far beyond: codes saturate at ±max, never NaN/inf.
        for variant in FP8Variant.allCases {
            let maxv = variant.maxFinite
            let row: [Float] = [maxv, -maxv, maxv * 1.05, -maxv * 1.07, 1e30, -1e30, maxv * 0.999]
            let q = FP8Quantizer(variant: variant, granularity: .tensor, threads: 1)
            var codes = [UInt8](repeating: 0, count: row.count)
            var scales: [Float] = [0]
            row.withUnsafeBufferPointer { src in
                codes.withUnsafeMutableBufferPointer { c in
                    scales.withUnsafeMutableBufferPointer { s in
                        q.quantize(src, rowLength: row.count, tensorAbsmax: maxv, codes: c, scales: s)
                    }
                }
            }
            #expect(scales == [1])
            let decoded = codes.map { variant == .e4m3 ? FP8.float(e4m3: $0) : FP8.float(e5m2: $0) }
            #expect(decoded.allSatisfy { $0.isFinite }, "\(variant) produced a non-finite code")
            #expect(decoded[2] == maxv && decoded[3] == -maxv && decoded[4] == maxv && decoded[5] == -maxv)
            // Without the clamp the raw cast overflows (E4M3 -> NaN above 464, E5M2 -> inf above 61440).
            let raw = variant == .e4m3 ? FP8.float(e4m3: FP8.e4m3(1e30)) : FP8.float(e5m2: FP8.e5m2(1e30))
            #expect(!raw.isFinite)
        }
    }

    @Test func zeroRowsAndBlocksDequantizeToZero() {
        let rows = 130, cols = 140
        var x = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows where r % 3 != 0 && r < 100 {
            for c in 0..<cols { x[r * cols + c] = Float((r * 31 + c * 7) % 23) - 11 }
        }
        for gran in [FP8Quantizer.Granularity.row, .block128, .tensor] {
            for format in [FloatFormat.f32, .bf16] {
                let q = FP8Quantizer(granularity: gran, scaleFormat: format, threads: 2)
                let result = q.quantize(x, rowLength: cols)
                #expect(result.scales.allSatisfy { $0 > 0 && $0.isFinite })
                let back = q.dequantize(result, rowLength: cols)
                #expect(back.allSatisfy { $0.isFinite })
                for r in 0..<rows where r % 3 == 0 || r >= 100 {
                    #expect(back[(r * cols)..<((r + 1) * cols)].allSatisfy { $0 == 0 })
                }
            }
        }
        // The zero scale becomes the scale format's epsilon, as compressed-tensors does.
        #expect(FP8Quantizer(scaleFormat: .bf16).scale(absmax: 0) == 0x1p-7)
        #expect(FP8Quantizer(scaleFormat: .f32).scale(absmax: 0) == Float.ulpOfOne)
    }

    @Test func blockScaleShapeUsesCeil() {
        let q = FP8Quantizer(granularity: .block128)
        #expect(q.scaleShape(rows: 200, columns: 300) == [2, 3])
        #expect(q.scaleShape(rows: 256, columns: 128) == [2, 1])
        #expect(FP8Quantizer(granularity: .row).scaleShape(rows: 5, columns: 9) == [5, 1])
        #expect(FP8Quantizer(granularity: .tensor).scaleShape(rows: 5, columns: 9) == [1])
    }

    @Test func stripsGiveTheSameResultAsTheWholeTensor() throws {
        let fixture = try CTQFixture()
        let x = try fixture.floats("in.b")   // 200 x 300
        let cols = 300
        for gran in [FP8Quantizer.Granularity.row, .block128, .tensor] {
            let q = FP8Quantizer(granularity: gran, threads: 2)
            let whole = q.quantize(x, rowLength: cols)
            let absmax = x.withUnsafeBufferPointer { FP8Quantizer.absmax(of: $0) }
            var codes: [UInt8] = []
            var scales: [Float] = []
            // Strips of 128 rows (block-row aligned) and the 72-row rest.
            for (start, count) in [(0, 128), (128, 72)] {
                let strip = Array(x[(start * cols)..<((start + count) * cols)])
                var c = [UInt8](repeating: 0, count: strip.count)
                var s = [Float](repeating: 0, count: q.scaleShape(rows: count, columns: cols).reduce(1, *))
                strip.withUnsafeBufferPointer { src in
                    c.withUnsafeMutableBufferPointer { cb in
                        s.withUnsafeMutableBufferPointer { sb in
                            q.quantize(src, rowLength: cols, tensorAbsmax: absmax, codes: cb, scales: sb)
                        }
                    }
                }
                codes += c
                scales += gran == .tensor ? (scales.isEmpty ? s : []) : s
            }
            #expect(codes == whole.codes)
            #expect(scales == whole.scales)
        }
    }

    @Test func dequantizeMultipliesByTheScale() {
        let x: [Float] = [1, -2, 0.5, 448, 0, -0.001, 3, 7]
        let q = FP8Quantizer(granularity: .row, threads: 1)
        let r = q.quantize(x, rowLength: 4)
        let back = q.dequantize(r, rowLength: 4)
        for i in 0..<x.count {
            let s = r.scales[i / 4]
            #expect(back[i] == FP8.float(e4m3: r.codes[i]) * s)
            #expect(abs(back[i] - x[i]) <= abs(x[i]) / 16 + s * 0x1p-9)
        }
    }
}
