import Foundation
import LowbitEval

/// GFLOP/s of the evaluator's packed matrix products (``PackedMatrix``) on the shapes of a chunk
/// of 512 tokens through SmolLM2-135M and Llama-3-8B layers, per precision and thread count,
/// beside OpenBLAS sgemm (the `float32` plain-rows layout) on the same shapes.
enum MatrixBenchmark {
    struct Shape {
        var name: String
        var m: Int, n: Int, k: Int
    }

    static let shapes = [
        Shape(name: "SmolLM2 QKV", m: 512, n: 960, k: 576),
        Shape(name: "SmolLM2 gate+up", m: 512, n: 3072, k: 576),
        Shape(name: "SmolLM2 down", m: 512, n: 576, k: 1536),
        Shape(name: "SmolLM2 head", m: 256, n: 49152, k: 576),
        Shape(name: "Llama-3-8B gate+up", m: 512, n: 28672, k: 4096),
        Shape(name: "Llama-3-8B down", m: 512, n: 4096, k: 14336),
    ]

    static func run(threads: [Int]) -> [BenchResult] {
        var results: [BenchResult] = []
        let variants: [(name: String, precision: MatrixPrecision, layout: MatrixLayout)] = [
            ("f32", .float32, .panels), ("bf16", .bfloat16, .panels), ("OpenBLAS sgemm", .float32, .rows),
        ]
        for (label, precision, layout) in variants {
            for shape in shapes {
                let weights = PackedMatrix(precision: precision, rows: shape.n, columns: shape.k, layout: layout)
                var row = [Float](repeating: 0, count: shape.k)
                for i in 0..<shape.n {
                    for j in 0..<shape.k { row[j] = Float((i &* 31 &+ j &* 17) % 97) / 97 - 0.5 }
                    row.withUnsafeBufferPointer { weights.pack($0.baseAddress!, rows: 1, at: i) }
                }
                let input = (0..<(shape.m * shape.k)).map { Float($0 % 89) / 89 - 0.5 }
                var output = [Float](repeating: 0, count: shape.m * shape.n)
                let buffer = ActivationBuffer()
                let flops = 2.0 * Double(shape.m) * Double(shape.n) * Double(shape.k)
                for t in threads {
                    let timing = input.withUnsafeBufferPointer { x in
                        output.withUnsafeMutableBufferPointer { y in
                            Measure.best(repetitions: 3) {
                                let a = buffer.pack(x.baseAddress!, rows: shape.m, columns: shape.k, lda: shape.k,
                                                    for: weights, threads: t)
                                weights.multiply(a, into: y.baseAddress!, ldOut: shape.n, threads: t)
                            }
                        }
                    }
                    let result = BenchResult(name: "matmul \(label) \(shape.name)", threads: t, work: flops / 1e9,
                                             timing: timing, unit: "GFLOP/s", peakRSS: nil,
                                             note: "\(shape.m)x\(shape.k) · (\(shape.n)x\(shape.k))ᵀ, packing A included")
                    log("\(result.name), \(t) thread(s): \(Report.format(result.value)) GFLOP/s")
                    results.append(result)
                }
            }
        }
        return results
    }
}
