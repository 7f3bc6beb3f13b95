import COpenBLAS
import LowbitSystem

/// The solve order and the factored Hessian of one GPTQ call.
struct GPTQPlan {
    /// `order[k]` is the stored column solved `k`-th.
    let order: [Int]
    /// Dead columns, by stored index.
    let dead: [Bool]
    /// False when the Hessian was not positive definite (the factor is then the identity).
    let factored: Bool
}

/// Raw pointers of one GPTQ call, shared by the strip workers (each writes only its own rows).
struct GPTQStripJob {
    let weights: UnsafePointer<Float>
    /// `U`, row-major, in solve order.
    let factor: UnsafePointer<Double>
    let order: [Int]
    let dead: [Bool]
    let columns: Int
    let packed: UnsafeMutablePointer<UInt32>
    let scales: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Float>?
    let words: Int
    let groups: Int
}

extension GPTQ {
    /// Dead columns, dampening, solve order, and the factor `U` (in place of the Hessian).
    func prepare(_ hessian: UnsafeMutableBufferPointer<Double>, columns n: Int) -> GPTQPlan {
        let diagonal = (0..<n).map { hessian[$0 * n + $0] }
        let order = activationOrder == .weight
            ? (0..<n).sorted { diagonal[$0] > diagonal[$1] || (diagonal[$0] == diagonal[$1] && $0 < $1) }
            : Array(0..<n)
        let dead = diagonal.map { $0 == 0 }
        for i in 0..<n where dead[i] { hessian[i * n + i] = 1 }
        let damp = dampening * (0..<n).reduce(0.0) { $0 + hessian[$1 * n + $1] } / Double(n)
        for i in 0..<n { hessian[i * n + i] += damp }
        let factored = InverseHessianFactor.factorInPlace(hessian, n: n, order: order, threads: threads)
        if !factored { InverseHessianFactor.identity(hessian, n: n) }
        return GPTQPlan(order: order, dead: dead, factored: factored)
    }

    /// Solves rows `strip` and writes their codes, scales and offsets; returns their losses.
    func solve(_ strip: Range<Int>, _ job: GPTQStripJob) -> [Double] {
        let n = job.columns, m = strip.count, groupSize = quantizer.groupSize
        let refit = scaleTiming == .groupStart && groupSize < n
        var work = [Double](repeating: 0, count: m * n)
        var codes = [UInt8](repeating: 0, count: m * n)
        var errors = [Double](repeating: 0, count: m * blockSize)
        var parameters = [IntGroupParameters](repeating: IntGroupParameters(scale: 0, offset: 0, storedScale: 0, storedOffset: 0),
                                              count: m * job.groups)
        var group = [Float](repeating: 0, count: groupSize)
        var losses = [Double](repeating: 0, count: m)
        let u = job.factor
        work.withUnsafeMutableBufferPointer { work in
            let w = work.baseAddress!
            for r in 0..<m {
                let source = job.weights + (strip.lowerBound + r) * n
                if !refit {
                    for g in 0..<job.groups {
                        parameters[r * job.groups + g] = quantizer.groupParameters(source + g * groupSize, nil, F32Arithmetic.self)
                    }
                }
                for k in 0..<n {
                    let c = job.order[k]
                    w[r * n + k] = job.dead[c] ? 0 : Double(source[c])
                }
            }
            errors.withUnsafeMutableBufferPointer { errors in
                let e = errors.baseAddress!
                for i1 in stride(from: 0, to: n, by: blockSize) {
                    let i2 = min(i1 + blockSize, n)
                    for k in i1..<i2 {
                        let c = job.order[k]
                        let g = c / groupSize
                        if refit && c % groupSize == 0 {
                            for r in 0..<m {
                                for i in 0..<groupSize { group[i] = Float(w[r * n + k + i]) }
                                parameters[r * job.groups + g] = group.withUnsafeBufferPointer {
                                    quantizer.groupParameters($0.baseAddress!, nil, F32Arithmetic.self)
                                }
                            }
                        }
                        let d = u[k * n + k]
                        let uRow = u + k * n
                        for r in 0..<m {
                            let row = w + r * n
                            let x = row[k]
                            let (code, value) = encode(x, parameters[r * job.groups + g])
                            codes[r * n + c] = code
                            let residual = x - value
                            losses[r] += residual * residual / (d * d) / 2
                            let error = residual / d
                            e[r * blockSize + k - i1] = error
                            for j in (k + 1)..<i2 { row[j] -= error * uRow[j] }
                        }
                    }
                    if i2 < n {
                        // The block's errors reach every later column: W[:, i2...] -= E · U[i1..<i2, i2...].
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n - i2),
                                    blasint(i2 - i1), -1, e, blasint(blockSize), u + i1 * n + i2, blasint(n),
                                    1, w + i2, blasint(n))
                    }
                }
            }
        }
        codes.withUnsafeBufferPointer { codes in
            for r in 0..<m {
                let row = strip.lowerBound + r
                BitPacking.pack(codes.baseAddress! + r * n, count: n, bits: quantizer.bits, into: job.packed + row * job.words)
                for g in 0..<job.groups {
                    job.scales[row * job.groups + g] = parameters[r * job.groups + g].storedScale
                    job.offsets?[row * job.groups + g] = parameters[r * job.groups + g].storedOffset
                }
            }
        }
        return losses
    }

    /// The stored code of `x` under the parameters `p`, and the value it decodes to from the
    /// stored parameters, in `Double` (compressed-tensors: `clamp(round(x / s + zp))` with the
    /// stored scale; MLX: `clamp(rint((x - b) / s))` with the unrounded scale and bias, as
    /// ``IntGroupQuantizer`` and `mx.quantize` encode).
    @inline(__always)
    func encode(_ x: Double, _ p: IntGroupParameters) -> (UInt8, Double) {
        let s = Double(p.storedScale)
        switch quantizer.convention {
        case .compressedTensors(let symmetric):
            let half = Double(1 << (quantizer.bits - 1))
            let zero = symmetric ? 0 : Double(p.storedOffset)
            let q = Swift.min(Swift.max(x / s + zero, -half), half - 1).rounded(.toNearestOrEven)
            return (UInt8(q + half), (q - zero) * s)
        case .mlxAffine:
            // As mx.quantize: codes from the unrounded scale and bias, values from the stored ones.
            let u = Swift.min(Swift.max((x - Double(p.offset)) / Double(p.scale), 0),
                              Double((1 << quantizer.bits) - 1)).rounded(.toNearestOrEven)
            return (UInt8(u), u * s + Double(p.storedOffset))
        }
    }
}
