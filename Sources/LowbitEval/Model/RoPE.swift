import Foundation
import LowbitSystem

/// Rotary position embedding: the cosines and sines for positions `0..<positions`, and their
/// application to the heads of Q or K in the pair layout of the model's file.
struct RotaryTable: Sendable {
    let positions: Int
    let pairs: Int
    let layout: LlamaConfig.RopeLayout
    private let cosines: [Float]
    private let sines: [Float]

    init(config: LlamaConfig, positions: Int) {
        self.positions = positions
        pairs = config.ropeDim / 2
        layout = config.ropeLayout
        var c = [Float](repeating: 0, count: positions * pairs)
        var s = c
        for i in 0..<pairs {
            var frequency = pow(config.ropeTheta, -Double(2 * i) / Double(config.ropeDim))
            if let d = config.ropeFrequencyDivisors { frequency /= Double(d[i]) }
            for p in 0..<positions {
                let angle = Double(p) * frequency
                c[p * pairs + i] = Float(cos(angle))
                s[p * pairs + i] = Float(sin(angle))
            }
        }
        cosines = c
        sines = s
    }

    /// Rotates, in place, `heads` heads of `headDim` in each of `rows` rows (row `r` at
    /// position `r`), rows `stride` floats apart.
    func apply(to x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int, stride: Int, threads: Int) {
        precondition(rows <= positions, "more rows than the rotary table holds")
        let x = UnsafeTransfer(x)
        cosines.withUnsafeBufferPointer { cosBuffer in
            sines.withUnsafeBufferPointer { sinBuffer in
                let cosBase = UnsafeTransfer(UnsafeMutablePointer(mutating: cosBuffer.baseAddress!))
                let sinBase = UnsafeTransfer(UnsafeMutablePointer(mutating: sinBuffer.baseAddress!))
                Parallel.forRanges(rows, threads: threads, minimumPerPart: 16) { range in
                    for r in range {
                        let cs = cosBase.wrappedValue + r * pairs
                        let sn = sinBase.wrappedValue + r * pairs
                        for h in 0..<heads {
                            rotate(x.wrappedValue + r * stride + h * headDim, headDim: headDim, cos: cs, sin: sn)
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func rotate(_ v: UnsafeMutablePointer<Float>, headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        switch layout {
        case .interleaved:
            for i in 0..<pairs {
                let a = v[2 * i], b = v[2 * i + 1]
                v[2 * i] = a * cos[i] - b * sin[i]
                v[2 * i + 1] = a * sin[i] + b * cos[i]
            }
        case .halfSplit:
            for i in 0..<pairs {
                let a = v[i], b = v[i + pairs]
                v[i] = a * cos[i] - b * sin[i]
                v[i + pairs] = a * sin[i] + b * cos[i]
            }
        }
    }
}
