import Foundation
import Testing
@testable import LowbitEval

@Suite struct KernelTests {
    @Test func gemmSplitsColumnsCorrectly() {
        let m = 5, n = 203, k = 7
        let a = (0..<(m * k)).map { Float($0 % 11) - 5 }
        let b = (0..<(n * k)).map { Float($0 % 13) * 0.25 - 1 }
        var c = [Float](repeating: 1, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemmTransposedB(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                                         beta: 1, c: cp.baseAddress!, ldc: n, threads: 3)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 1
                for p in 0..<k { s += a[i * k + p] * b[j * k + p] }
                #expect(abs(c[i * n + j] - s) < 1e-4)
            }
        }
    }

    /// Rotating interleaved pairs of GGUF's permuted rows equals rotating half-split pairs of
    /// the Hugging Face rows.
    @Test func ropeLayoutsAgreeUnderThePermutation() throws {
        var config = LlamaConfig(vocabSize: 1, embeddingLength: 16, feedForwardLength: 1, layerCount: 1,
                                 headCount: 2, kvHeadCount: 2, headDim: 8, ropeDim: 8, ropeTheta: 100,
                                 rmsEpsilon: 1e-5, ropeLayout: .halfSplit)
        let rows = 5
        let hf = (0..<(rows * 16)).map { Float(sin(Double($0) * 1.7)) }
        // Permute each head's 8 values: gguf[2i + j] = hf[j * 4 + i].
        var gguf = hf
        for r in 0..<rows {
            for h in 0..<2 {
                for i in 0..<4 {
                    for j in 0..<2 { gguf[r * 16 + h * 8 + 2 * i + j] = hf[r * 16 + h * 8 + j * 4 + i] }
                }
            }
        }
        var a = hf
        a.withUnsafeMutableBufferPointer {
            RotaryTable(config: config, positions: rows).apply(to: $0.baseAddress!, rows: rows, heads: 2, headDim: 8, stride: 16, threads: 2)
        }
        config.ropeLayout = .interleaved
        var b = gguf
        b.withUnsafeMutableBufferPointer {
            RotaryTable(config: config, positions: rows).apply(to: $0.baseAddress!, rows: rows, heads: 2, headDim: 8, stride: 16, threads: 2)
        }
        let back = try TensorComparison.unpermute(b, heads: 2 * rows, rowLength: 1)
        for (x, y) in zip(a, back) { #expect(abs(x - y) < 1e-6) }
    }

    @Test func fastExpIsAccurate() {
        var worst: Double = 0
        var x: Float = -87
        while x <= 88 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(Softmax.exp(x)) - exact) / exact)
            x += 0.0137
        }
        #expect(worst < 4e-7, "largest relative error \(worst)")
        #expect(Softmax.exp(-1000) < 1e-37)
        #expect(Softmax.exp(0) == 1)
    }

    @Test func softmaxSumsToOne() {
        var x: [Float] = (0..<1000).map { Float($0 % 37) * 0.3 - 4 }
        x.withUnsafeMutableBufferPointer { Softmax.inPlace($0.baseAddress!, count: 1000) }
        #expect(abs(x.reduce(0, +) - 1) < 1e-5)
    }
}
