import Foundation

/// Element-wise pieces of the forward pass.
enum Activation {
    /// `gate[i] = silu(gate[i]) · up[i]` (SwiGLU) for `count` elements, in place in `gate`.
    static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int, threads: Int) {
        let g = SendablePointer(gate)
        let u = SendablePointer(UnsafeMutablePointer(mutating: up))
        Parallel.forRanges(count, threads: threads, minimumPerPart: 4096) { range in
            for i in range {
                let x = g.pointer[i]
                g.pointer[i] = x / (1 + Softmax.exp(-x)) * u.pointer[i]
            }
        }
    }

    /// `x[i] += y[i]` for `count` elements.
    static func add(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        let xs = SendablePointer(x)
        let ys = SendablePointer(UnsafeMutablePointer(mutating: y))
        Parallel.forRanges(count, threads: threads, minimumPerPart: 16384) { range in
            for i in range { xs.pointer[i] += ys.pointer[i] }
        }
    }
}
