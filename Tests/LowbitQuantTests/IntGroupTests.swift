import Foundation
@testable import LowbitQuant
import Testing

@Suite struct IntGroupTests {
    @Test func groupSizeDecisions() {
        #expect(IntGroupQuantizer.chooseGroupSize(requested: 128, rowLength: 4096) == .use(128))
        let smol = IntGroupQuantizer.chooseGroupSize(requested: 128, rowLength: 576)
        #expect(smol.groupSize == 64)
        if case .fallback(_, let reason) = smol { #expect(reason.contains("576")) } else { Issue.record("expected a fallback") }
        #expect(IntGroupQuantizer.chooseGroupSize(requested: 128, rowLength: 1568).groupSize == 32)
        let keep = IntGroupQuantizer.chooseGroupSize(requested: 128, rowLength: 100)
        #expect(keep.groupSize == nil)
        if case .keep(let reason) = keep { #expect(reason.contains("100")) } else { Issue.record("expected keep") }
        #expect(IntGroupQuantizer.chooseGroupSize(requested: 48, rowLength: 96) == .use(48))
    }

    @Test func stripsMatchTheWholeTensorAndAnyThreadCount() {
        let rows = 37, cols = 256
        let x = (0..<(rows * cols)).map { i in Float(sin(Double(i) * 0.37)) * Float(1 + i % 7) }
        for convention in [IntGroupQuantizer.Convention.compressedTensors(symmetric: true),
                           .compressedTensors(symmetric: false), .mlxAffine] {
            let one = IntGroupQuantizer(bits: 4, groupSize: 64, convention: convention, threads: 1)
            let two = IntGroupQuantizer(bits: 4, groupSize: 64, convention: convention, threads: 2)
            let whole = one.quantize(x, rowLength: cols)
            #expect(two.quantize(x, rowLength: cols) == whole)
            let top = one.quantize(Array(x[0..<(20 * cols)]), rowLength: cols)
            let bottom = one.quantize(Array(x[(20 * cols)...]), rowLength: cols)
            #expect(top.packed + bottom.packed == whole.packed)
            #expect(top.scales + bottom.scales == whole.scales)
        }
    }

    @Test func dequantizedErrorIsBoundedByHalfAStep() {
        let rows = 8, cols = 128
        let x = (0..<(rows * cols)).map { i in Float(cos(Double(i) * 1.3)) * 0.05 }
        for bits in [4, 8] {
            for convention in [IntGroupQuantizer.Convention.compressedTensors(symmetric: true),
                               .compressedTensors(symmetric: false), .mlxAffine] {
                let q = IntGroupQuantizer(bits: bits, groupSize: 32, convention: convention, scaleFormat: .f32)
                let r = q.quantize(x, rowLength: cols)
                let back = q.dequantize(r, rowLength: cols)
                // Symmetric: half a step at most. An integer zero point (compressed-tensors) or an
                // exact largest-magnitude endpoint (MLX) moves the grid by up to half a step, so
                // the other endpoint may clamp up to a whole step away.
                let bound: Float = convention == .compressedTensors(symmetric: true) ? 0.5001 : 1.0001
                var worst: Float = 0
                for i in 0..<x.count { worst = max(worst, abs(back[i] - x[i]) / abs(r.scales[i / 32])) }
                #expect(worst <= bound, "\(bits) bits \(convention): worst error \(worst) steps")
            }
        }
    }
}
