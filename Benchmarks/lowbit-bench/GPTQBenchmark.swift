import Foundation
import LowbitQuant

/// GPTQ on one Llama-3-8B `down_proj` (4096 rows × 14336 columns, Hessian 14336² in `Double`,
/// 1.6 GB): the whole solve, from the dampened Hessian to packed INT4 g128 codes, with its peak
/// RSS. It takes minutes, so it runs only when named: `--only gptq`.
enum GPTQBenchmark {
    static let rows = 4096, columns = 14336

    static func run(threads: Int) throws -> BenchResult {
        log("GPTQ: generating a \(rows)x\(columns) weight and its \(columns)² Hessian")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func uniform() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        let weights = (0..<(rows * columns)).map { _ in uniform() * 0.04 }
        // A correlated positive definite Hessian, as 2·XᵀX would be: H[i][j] = s_i s_j ρ^|i-j|
        // (the Kac–Murdock–Szegő matrix, scaled). GPTQ's time does not depend on the values.
        let size = (0..<columns).map { _ in Double(exp(2 * uniform())) }
        let powers = (0..<columns).map { pow(0.9, Double($0)) }
        var hessian = [Double](repeating: 0, count: columns * columns)
        for i in 0..<columns {
            for j in 0..<columns { hessian[i * columns + j] = size[i] * size[j] * powers[abs(i - j)] }
        }
        let quantizer = IntGroupQuantizer(bits: 4, groupSize: 128, convention: .compressedTensors(symmetric: true),
                                          threads: threads)
        let gptq = GPTQ(quantizer: quantizer, threads: threads)
        log("GPTQ: INT4 g128 symmetric, activation order weight, \(threads) thread(s)")
        var output: GPTQ.Output?
        let (timing, peak) = try withPeakRSS {
            try Measure.best(repetitions: 1) {
                output = try hessian.withUnsafeMutableBufferPointer { h in
                    try weights.withUnsafeBufferPointer { w in try gptq.quantize(w, columns: columns, hessian: h) }
                }
            }
        }
        let fallback = output?.roundedToNearest == true ? ", fell back to round to nearest" : ""
        let result = BenchResult(name: "gptq down_proj", threads: threads, work: Double(rows * columns) / 1e6,
                                 timing: timing, unit: "Melem/s", peakRSS: peak,
                                 note: String(format: "Llama-3-8B down_proj %dx%d, H %d² f64, INT4 g128 sym act-order: %.1f s%@",
                                              rows, columns, columns, timing.wall, fallback))
        log("GPTQ: \(String(format: "%.1f", timing.wall)) s wall, \(String(format: "%.1f", timing.cpu)) s CPU")
        return result
    }
}
