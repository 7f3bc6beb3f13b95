import Testing
@testable import LowbitEval

/// The packed matrix products against a direct computation in `Double`, in both precisions, on
/// both the AVX-512 and the portable kernels, over shapes with every kind of remainder.
@Suite struct PackedMatrixTests {
    /// `x` rounded to bfloat16 (nearest, ties to even), computed independently of the kernels.
    static func bfloat16(_ x: Float) -> Float {
        let bits = x.bitPattern
        let lower = bits & 0xFFFF
        var upper = bits >> 16
        if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { upper += 1 }
        return Float(bitPattern: upper << 16)
    }

    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (5, 33, 7), (13, 65, 3), (12, 32, 64), (25, 100, 130), (30, 70, 577),
    ]

    static func check(precision: MatrixPrecision, layout: MatrixLayout, portable: Bool, accumulate: Bool,
                      shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let lda = k + 3, ldOut = n + 2
        var seed: UInt32 = 12345
        func next() -> Float {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Float(seed >> 8) / Float(1 << 24) - 0.5
        }
        let a = (0..<(m * lda)).map { _ in next() }
        let w = (0..<(n * k)).map { _ in next() }
        let start = (0..<(m * ldOut)).map { _ in next() }
        func round(_ x: Float) -> Float { precision == .bfloat16 ? Self.bfloat16(x) : x }
        // Without AVX-512, float32 goes to OpenBLAS in plain rows; check the portable panels too.
        let matrix = PackedMatrix(precision: precision, rows: n, columns: k, layout: layout,
                                  kernels: portable ? .portable : .fastest)
        // Packed in two parts, the second at a row offset that is not a panel boundary.
        let split = n / 3
        w.withUnsafeBufferPointer { wp in
            matrix.pack(wp.baseAddress!, rows: split, at: 0)
            matrix.pack(wp.baseAddress! + split * k, rows: n - split, at: split)
        }
        var out = start
        let buffer = ActivationBuffer()
        a.withUnsafeBufferPointer { ap in
            let packed = buffer.pack(ap.baseAddress!, rows: m, columns: k, lda: lda, for: matrix, threads: 3)
            out.withUnsafeMutableBufferPointer { op in
                matrix.multiply(packed, into: op.baseAddress!, ldOut: ldOut, accumulate: accumulate, threads: 3)
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldOut {
                var expected = Double(start[i * ldOut + j])
                if j < n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        let term = Double(round(a[i * lda + p])) * Double(round(w[j * k + p]))
                        sum += term
                        magnitude += abs(term)
                    }
                    expected = (accumulate ? expected : 0) + sum
                    worst = max(worst, abs(Double(out[i * ldOut + j]) - expected) / (magnitude + 1))
                } else {
                    // Columns past n are not touched.
                    #expect(out[i * ldOut + j] == start[i * ldOut + j])
                }
            }
        }
        #expect(worst < 1e-6, "\(precision) \(layout) portable=\(portable) accumulate=\(accumulate) \(shape): \(worst)")
    }

    @Test(arguments: MatrixPrecision.allCases)
    func matchesDirectProduct(precision: MatrixPrecision) {
        let layouts: [MatrixLayout] = precision == .float32 ? [.panels, .rows] : [.panels]
        for shape in Self.shapes {
            for layout in layouts {
                for portable in [false, true] {
                    for accumulate in [false, true] {
                        Self.check(precision: precision, layout: layout, portable: portable, accumulate: accumulate,
                                   shape: shape)
                    }
                }
            }
        }
    }

    @Test func float32FallsBackOnOpenBLASWithoutAVX512() {
        #expect(MatrixLayout.preferred(for: .float32, cpuHasAVX512: false) == .rows)
        #expect(MatrixLayout.preferred(for: .bfloat16, cpuHasAVX512: false) == .panels)
        #expect(MatrixLayout.preferred(for: .float32, cpuHasAVX512: true) == .panels)
    }

    @Test func bfloat16HalvesTheWeights() {
        let f32 = PackedMatrix(precision: .float32, rows: 64, columns: 576)
        let bf16 = PackedMatrix(precision: .bfloat16, rows: 64, columns: 576)
        #expect(f32.byteCount == 64 * 576 * 4)
        #expect(bf16.byteCount * 2 == f32.byteCount)
    }
}
