import Foundation
import LowbitSystem

/// Element-wise pieces of the forward pass.
enum Activation {
    /// SwiGLU over rows holding `[gate | up]` side by side (`2 × width` floats per row):
    /// `gate[j] = silu(gate[j]) · up[j]`, in place in the gate half.
    static func swiGLU(_ gateUp: UnsafeMutablePointer<Float>, rows: Int, width: Int, threads: Int) {
        let base = UnsafeTransfer(gateUp)
        Parallel.forRanges(rows, threads: threads, minimumPerPart: 4) { range in
            for r in range {
                let g = base.wrappedValue + r * 2 * width
                let u = g + width
                for j in 0..<width {
                    let x = g[j]
                    g[j] = x / (1 + Softmax.exp(-x)) * u[j]
                }
            }
        }
    }

    /// `x[i] += y[i]` for `count` elements.
    static func add(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        let xs = UnsafeTransfer(x)
        let ys = UnsafeTransfer(UnsafeMutablePointer(mutating: y))
        Parallel.forRanges(count, threads: threads, minimumPerPart: 16384) { range in
            for i in range { xs.wrappedValue[i] += ys.wrappedValue[i] }
        }
    }
}
