import Foundation
@testable import LowbitQuant
import Testing
import LowbitTestSupport

@Suite struct ScaleSearchTests {
    /// Student-t (df 4) samples from a fixed linear congruential generator: heavy tails.
    static func heavyTailed(count: Int, seed: UInt64 = 7) -> [Float] {
        var generator = LCG64(seed: seed)
        func uniform() -> Double { generator.nextOpenUnitDouble() }
        func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
        return (0..<count).map { _ in
            let z = normal()
            var chi = 0.0
            for _ in 0..<4 { let n = normal(); chi += n * n }
            return Float(z / (chi / 4).squareRoot() * 0.02)
        }
    }

    static func mse(_ a: [Float], _ b: [Float], weights: [Float]? = nil, rowLength: Int = 1) -> Double {
        var sum = 0.0
        for i in 0..<a.count {
            let d = Double(a[i] - b[i])
            sum += Double(weights?[i % rowLength] ?? 1) * d * d
        }
        return sum / Double(a.count)
    }

    @Test func searchLowersTheErrorOfEveryConvention() {
        let cols = 512
        let x = Self.heavyTailed(count: 64 * cols)
        for convention in [IntGroupQuantizer.Convention.compressedTensors(symmetric: true),
                           .compressedTensors(symmetric: false), .mlxAffine] {
            for bits in [4, 8] {
                let plain = IntGroupQuantizer(bits: bits, groupSize: 128, convention: convention)
                let searched = IntGroupQuantizer(bits: bits, groupSize: 128, convention: convention, search: ScaleSearch())
                let e0 = Self.mse(x, plain.dequantize(plain.quantize(x, rowLength: cols), rowLength: cols))
                let e1 = Self.mse(x, searched.dequantize(searched.quantize(x, rowLength: cols), rowLength: cols))
                // 4 bits: a clear gain; 8 bits: heavy tails barely clip, so only require a gain.
                #expect(bits == 4 ? e1 < e0 * 0.97 : e1 <= e0, "\(convention) \(bits) bits: \(e1) vs \(e0)")
            }
        }
    }

    @Test func searchNeverLosesToTheClosedFormOnAnyGroup() {
        let cols = 128
        let x = Self.heavyTailed(count: 40 * cols, seed: 99)
        let plain = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))
        let searched = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true),
                                         search: ScaleSearch())
        let a = plain.dequantize(plain.quantize(x, rowLength: cols), rowLength: cols)
        let b = searched.dequantize(searched.quantize(x, rowLength: cols), rowLength: cols)
        for g in 0..<(x.count / 32) {
            let range = (g * 32)..<((g + 1) * 32)
            let ea = Self.mse(Array(x[range]), Array(a[range]))
            let eb = Self.mse(Array(x[range]), Array(b[range]))
            #expect(eb <= ea * 1.000001, "group \(g)")
        }
    }

    @Test func importanceShiftsTheErrorToUnimportantColumns() {
        let cols = 256
        let x = Self.heavyTailed(count: 32 * cols, seed: 3)
        // Columns 0..<16 of each group matter 100x more.
        let importance = (0..<cols).map { $0 % 32 < 16 ? Float(100) : Float(1) }
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true),
                                  search: ScaleSearch())
        let unweighted = q.dequantize(q.quantize(x, rowLength: cols), rowLength: cols)
        let weighted = q.dequantize(q.quantize(x, rowLength: cols, importance: importance), rowLength: cols)
        let eU = Self.mse(x, unweighted, weights: importance, rowLength: cols)
        let eW = Self.mse(x, weighted, weights: importance, rowLength: cols)
        #expect(eW < eU, "weighted error \(eW) vs \(eU)")
    }
}
